"""Everything the training data generator reads from a workspace, read once.

The forms and processes (what can be requested and how it is started), the company's profile
(currency, date style, mailboxes), the real sheets (file, tab, headers, a sample of their rows,
the id formats in their key columns), the email templates, and the optional words a company
adds in ``training/values.yaml`` and ``training/phrasings.yaml`` (see docs/training.md). The
generator knows nothing else about the company, so any workspace gets examples for all of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memory.errors import ConfigError
from tools.email import EmailTemplates
from tools.forms import FormDefinition, load_forms
from tools.process_defs import EmailStep, ProcessDef, load_processes
from tools.sheets import Sheets
from tools.workspace import WorkspaceProfile, load_profile

MAX_ROWS = 50  # rows read per sheet tab: enough to draw real values from


class FormWords(BaseModel):
    """A company's own words for one form (``training/values.yaml``, ``forms: {name: ...}``)."""

    model_config = ConfigDict(extra="forbid")

    # Values that belong together (a category and a matching description); one is drawn per
    # request and the other fields are sampled from their definitions.
    records: list[dict[str, Any]] = Field(default_factory=list)
    fields: dict[str, list[Any]] = Field(default_factory=dict)  # field -> values people write
    # field -> option -> the words people use for it ("vacation" for annual leave).
    say: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    # field -> how a value is mentioned in a request, "{value}" marks it ("project {value}").
    mention: dict[str, list[str]] = Field(default_factory=dict)


class TrainingWords(BaseModel):
    """``training/values.yaml``: optional, everything has a generic default."""

    model_config = ConfigDict(extra="forbid")

    people: list[str] = Field(default_factory=list)
    forms: dict[str, FormWords] = Field(default_factory=dict)
    email_subjects: list[str] = Field(default_factory=list)
    email_bodies: list[str] = Field(default_factory=list)


class Phrasings(BaseModel):
    """``training/phrasings.yaml``: how people of this company ask for each form."""

    model_config = ConfigDict(extra="forbid")

    forms: dict[str, list[str]] = Field(default_factory=dict)  # form -> templates with {field}


@dataclass(frozen=True)
class SheetTab:
    """One tab of a real sheet: its headers and a sample of its rows."""

    path: str
    tab: str
    headers: list[str]
    rows: list[dict[str, Any]]

    def values(self, column: str) -> list[Any]:
        return [r[column] for r in self.rows if r.get(column) not in (None, "")]


@dataclass
class WorkspaceFacts:
    """What the generator knows of one workspace."""

    profile: WorkspaceProfile
    forms: dict[str, FormDefinition]
    processes: dict[str, ProcessDef]
    sheets: list[SheetTab]
    email_templates: list[str]
    words: TrainingWords = field(default_factory=TrainingWords)
    phrasings: Phrasings = field(default_factory=Phrasings)

    @classmethod
    def load(cls, workspace: Path) -> WorkspaceFacts:
        workspace = Path(workspace)
        return cls(
            profile=load_profile(workspace),
            forms=load_forms(workspace),
            processes=load_processes(workspace),
            sheets=_sheet_tabs(Sheets(workspace)),
            email_templates=EmailTemplates(workspace / "templates").names(),
            words=_optional(workspace / "training" / "values.yaml", TrainingWords),
            phrasings=_optional(workspace / "training" / "phrasings.yaml", Phrasings),
        )

    def process_for(self, form: str) -> str | None:
        """The process that wraps ``form`` (started with ``start_process``), if any."""
        for name, process in self.processes.items():
            if process.form == form:
                return name
        return None

    def words_for(self, form: str) -> FormWords:
        return self.words.forms.get(form, FormWords())

    def people(self) -> list[str]:
        from bot.training.values import GENERIC_PEOPLE

        return self.words.people or list(GENERIC_PEOPLE)

    def mail_addresses(self) -> list[str]:
        """The addresses the company's processes and profile mail to (literal ones only)."""
        found = list(self.profile.mailboxes.values())
        for process in self.processes.values():
            for step in [*process.steps, *process.on_reject]:
                if isinstance(step, EmailStep) and "{" not in step.to:
                    found.append(step.to)
        return list(dict.fromkeys(a.lower() for a in found))

    def id_examples(self, form: str) -> list[str]:
        """Ids of this form's records as they look in the sheets (else from its ``id_format``)."""
        pattern = _id_pattern(self.forms[form].id_format, form)
        seen = [
            str(v)
            for tab in self.sheets
            for column in tab.headers
            for v in tab.values(column)
            if isinstance(v, str) and pattern.fullmatch(v)
        ]
        return list(dict.fromkeys(seen))


def _optional(path: Path, model: type[Any]) -> Any:
    if not path.is_file():
        return model()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return model.model_validate(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"{path} is invalid: {exc}") from exc


def _sheet_tabs(sheets: Sheets) -> list[SheetTab]:
    tabs = []
    for path in sheets.files():
        for tab, headers in sheets.headers(path).items():
            _, rows, _ = sheets.read(path, tab, limit=MAX_ROWS)
            tabs.append(SheetTab(path, tab, headers, rows))
    return tabs


def _id_pattern(id_format: str, form: str) -> re.Pattern[str]:
    """A regex matching ids made by ``id_format`` ("REQ-{seq:05d}" -> ``REQ-\\d{5}``)."""
    out, last = "", 0
    for m in re.finditer(r"\{(\w+)(?::0?(\d+)d)?\}", id_format):
        out += re.escape(id_format[last : m.start()])
        name, width = m.group(1), m.group(2)
        out += {"form": re.escape(form), "year": r"\d{4}"}.get(
            name, rf"\d{{{width}}}" if width else r"\d+"
        )
        last = m.end()
    return re.compile(out + re.escape(id_format[last:]))


def make_id(id_format: str, form: str, seq: int, year: int) -> str:
    """An id as ``id_format`` writes it (the form store's own numbering)."""
    return id_format.format(form=form, seq=seq, year=year)
