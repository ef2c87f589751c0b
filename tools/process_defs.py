"""Process definitions: the YAML files in a workspace's ``processes/`` folder, loaded and checked.

A process is an ordered list of typed steps (``form``, ``lookup_docs``, ``read_sheet``,
``append_row``, ``update_row``, ``email``, ``approval``, ``notify``), each with an optional
``when:`` condition over the run's values, plus ``on_reject`` steps that run when an approval
is refused. Everything a run will need is checked at load time: step ids are unique, conditions
parse (``tools.process_conditions``), and every Jinja2 template compiles, so a broken file
fails with its name, line and the offending step instead of half-way through somebody's claim;
``tools.process_checks`` then checks the sheets, forms and templates it names. A broken file
disables that one process (``read_processes`` lists why); the others load.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from memory.errors import ConfigError, NotFound
from tools.process_conditions import Condition
from tools.yaml_files import YamlFile, read_yaml

log = logging.getLogger(__name__)

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
    """How the run's business reference looks: ``REQ`` + 5 digits -> ``REQ-00042``."""

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
    # Where the definition came from, for problems found after loading ("processes/x.yaml,
    # line 12"): step id -> "file, line".
    _where: dict[str, str] = PrivateAttr(default_factory=dict)

    def where(self, step_id: str | None = None) -> str:
        """The file (and the step's line) a problem with this process points at."""
        return self._where.get(step_id or "", self._where.get("", f"process {self.name!r}"))

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
                raise StepConfigError(step.id, f"{where}: the step id is used twice")
            seen.add(step.id)
            try:
                _ = step.condition
            except ConfigError as exc:
                raise StepConfigError(step.id, f"{where}: {exc}") from exc
            for text in step.templates():
                try:
                    TEMPLATES.parse(text)
                except jinja2.TemplateSyntaxError as exc:
                    message = f"{where}: template {text!r}: {exc.message}"
                    raise StepConfigError(step.id, message) from exc
        if any(isinstance(s, FormStep) for s in self.steps) and not self._form_names():
            raise ConfigError(f"process {self.name!r}: a form step needs a form")

    def _form_names(self) -> set[str]:
        names = {s.form for s in self.steps if isinstance(s, FormStep) and s.form}
        return names | ({self.form} if self.form else set())


def load_process_file(path: Path) -> ProcessDef:
    """Read and check one process file; ConfigError names the file, the line and the problem."""
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.name}: a process file must hold a mapping")
    try:
        process = ProcessDef.model_validate({"name": path.stem, **doc.data})
    except ValidationError as exc:
        raise doc.invalid(exc) from exc
    if process.name != path.stem:
        raise ConfigError(f"{doc.where(['name'])}: declares name {process.name!r}")
    process._where = _step_places(doc, process)
    try:
        process.check()
    except ConfigError as exc:
        step = exc.step_id if isinstance(exc, StepConfigError) else None
        raise ConfigError(f"{process.where(step)}: {exc}") from exc
    return process


def _step_places(doc: YamlFile, process: ProcessDef) -> dict[str, str]:
    places = {"": doc.name}
    for key, steps in (("steps", process.steps), ("on_reject", process.on_reject)):
        for index, step in enumerate(steps):
            places[step.id] = doc.where([key, index])
    return places


def read_processes(workspace: Path) -> tuple[dict[str, ProcessDef], list[str]]:
    """Every readable process of a workspace by name, and one problem per file that is not
    (an absent ``processes/`` folder means none)."""
    folder = Path(workspace) / "processes"
    if not folder.is_dir():
        return {}, []
    processes: dict[str, ProcessDef] = {}
    problems: list[str] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            process = load_process_file(path)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        processes[process.name] = process
    return processes, problems


def load_processes(workspace: Path) -> dict[str, ProcessDef]:
    """The readable processes (``read_processes``); each disabled one is logged."""
    processes, problems = read_processes(workspace)
    for problem in problems:
        log.warning("process disabled: %s", problem)
    return processes


class StepConfigError(ConfigError):
    """A ConfigError about one step; where it is reported, its file and line are added."""

    def __init__(self, step_id: str, message: str) -> None:
        super().__init__(message)
        self.step_id = step_id


def render(template: str, values: dict[str, Any]) -> str:
    """Render one of a step's templates over the run's values (StrictUndefined)."""
    try:
        return TEMPLATES.from_string(template).render(**values)
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"template {template!r}: {exc.message}") from exc
