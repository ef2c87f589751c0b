"""Process definitions: the YAML files in a workspace's ``processes/`` folder, loaded and checked.

A process is an ordered list of typed steps (``form``, ``lookup_docs``, ``read_sheet``,
``append_row``, ``update_row``, ``email``, ``approval``, ``notify``), each with an optional
``when:`` condition over the run's values, plus ``on_reject`` steps that run when an approval
is refused. Everything a run will need is checked at load time: step ids are unique, conditions
parse (``tools.process_conditions``), and every Jinja2 template compiles, so a broken file
fails with its name and the offending step instead of half-way through somebody's claim.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from memory.errors import ConfigError, NotFound
from tools.process_conditions import Condition

_ID = re.compile(r"^[a-z][a-z0-9_]*$")

# Templates render the run's values; a missing value is an error, never a silent blank.
TEMPLATES = jinja2.Environment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
)


class _Step(BaseModel):
    """What every step has: an id (unique in its process), a title and an optional condition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str = ""
    when: str | None = None

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"step id {value!r} must be lower_snake_case")
        return value

    @property
    def condition(self) -> Condition | None:
        return Condition.parse(self.when) if self.when else None

    def templates(self) -> list[str]:
        """Every Jinja2 template string of this step (checked at load time)."""
        return []


class FormStep(_Step):
    """Validate the run's inputs against a form and store the submission (once)."""

    type: Literal["form"]
    form: str | None = None  # default: the process's form


class LookupDocsStep(_Step):
    """Search the process documents; the best passages are stored under ``save_as``."""

    type: Literal["lookup_docs"]
    query: str
    save_as: str = "policy"
    k: int = Field(3, ge=1, le=10)

    def templates(self) -> list[str]:
        return [self.query]


class ReadSheetStep(_Step):
    """Read rows of a workspace sheet into ``save_as`` (optionally only rows matching ``match``)."""

    type: Literal["read_sheet"]
    sheet: str
    tab: str | None = None
    match: dict[str, str] = Field(default_factory=dict)
    save_as: str = "rows"

    def templates(self) -> list[str]:
        return list(self.match.values())


class AppendRowStep(_Step):
    """Append one row; ``key_column`` holds the run's reference, so a resume can see the row."""

    type: Literal["append_row"]
    sheet: str
    tab: str | None = None
    key_column: str
    values: dict[str, str]

    def templates(self) -> list[str]:
        return list(self.values.values())


class UpdateRowStep(_Step):
    """Set cells of the row whose ``key_column`` equals ``key`` (setting twice is harmless)."""

    type: Literal["update_row"]
    sheet: str
    tab: str | None = None
    key_column: str
    key: str = "{{ reference }}"
    values: dict[str, str]

    def templates(self) -> list[str]:
        return [self.key, *self.values.values()]


class EmailStep(_Step):
    """Send an email: a workspace template (``templates/NAME.j2``, filled with the run's
    values by the email tool) or an inline ``subject`` and ``body``."""

    type: Literal["email"]
    to: str
    cc: str | None = None
    subject: str | None = None
    template: str | None = None
    body: str | None = None

    @model_validator(mode="after")
    def _content(self) -> EmailStep:
        if not self.template and not (self.subject and self.body):
            raise ValueError(f"email step {self.id!r} needs a template, or a subject and a body")
        return self

    def templates(self) -> list[str]:
        return [t for t in (self.to, self.cc, self.subject, self.body) if t]


class ApprovalStep(_Step):
    """Wait until a person with ``role`` approves; a rejection ends the run ``rejected``."""

    type: Literal["approval"]
    role: str
    message: str

    def templates(self) -> list[str]:
        return [self.message]


class NotifyStep(_Step):
    """A message for the requester: stored on the run and passed to the surface's callback."""

    type: Literal["notify"]
    message: str

    def templates(self) -> list[str]:
        return [self.message]


Step = Annotated[
    FormStep
    | LookupDocsStep
    | ReadSheetStep
    | AppendRowStep
    | UpdateRowStep
    | EmailStep
    | ApprovalStep
    | NotifyStep,
    Field(discriminator="type"),
]


class ReferenceSpec(BaseModel):
    """How the run's business reference looks: ``EXP`` + 5 digits -> ``EXP-00042``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: str = Field(pattern=r"^[A-Z][A-Z0-9]*$")
    digits: int = Field(5, ge=1, le=10)


class ProcessDef(BaseModel):
    """One process, as declared in ``processes/<name>.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str
    description: str = ""
    form: str | None = None
    reference: ReferenceSpec
    steps: list[Step] = Field(min_length=1)
    on_reject: list[Step] = Field(default_factory=list)

    def step(self, step_id: str) -> _Step:
        for step in [*self.steps, *self.on_reject]:
            if step.id == step_id:
                return step
        raise NotFound(f"process {self.name!r} has no step {step_id!r}")

    @property
    def takes_reference_from_form(self) -> bool:
        """The first step submits a form: the submission's id becomes the run's reference."""
        return isinstance(self.steps[0], FormStep)

    def check(self) -> None:
        """Unique step ids, parseable conditions, compilable templates; ConfigError otherwise."""
        seen: set[str] = set()
        for step in [*self.steps, *self.on_reject]:
            where = f"process {self.name!r}, step {step.id!r}"
            if step.id in seen:
                raise ConfigError(f"{where}: the step id is used twice")
            seen.add(step.id)
            try:
                _ = step.condition
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
            for text in step.templates():
                try:
                    TEMPLATES.parse(text)
                except jinja2.TemplateSyntaxError as exc:
                    raise ConfigError(f"{where}: template {text!r}: {exc.message}") from exc
        if any(isinstance(s, FormStep) for s in self.steps) and not self._form_names():
            raise ConfigError(f"process {self.name!r}: a form step needs a form")

    def _form_names(self) -> set[str]:
        names = {s.form for s in self.steps if isinstance(s, FormStep) and s.form}
        return names | ({self.form} if self.form else set())


def load_process_file(path: Path) -> ProcessDef:
    """Read and check one process file; ConfigError names the file and the problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"process file {path.name!r} cannot be read: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"process file {path.name!r} must hold a mapping")
    raw.setdefault("name", path.stem)
    try:
        process = ProcessDef.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"process file {path.name!r} is invalid: {_short(exc)}") from exc
    if process.name != path.stem:
        raise ConfigError(f"process file {path.name!r} declares name {process.name!r}")
    try:
        process.check()
    except ConfigError as exc:
        raise ConfigError(f"process file {path.name!r}: {exc}") from exc
    return process


def load_processes(workspace: Path) -> dict[str, ProcessDef]:
    """Every process of a workspace, by name (an absent ``processes/`` folder means none)."""
    folder = Path(workspace) / "processes"
    if not folder.is_dir():
        return {}
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    return {p.name: p for p in (load_process_file(f) for f in files)}


def _short(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(x) for x in error["loc"])
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def render(template: str, values: dict[str, Any]) -> str:
    """Render one of a step's templates over the run's values (StrictUndefined)."""
    try:
        return TEMPLATES.from_string(template).render(**values)
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"template {template!r}: {exc.message}") from exc
