"""Forms declared in the workspace's ``forms/*.yaml``: their field model, validation, submission.

``FormDefinition`` / ``FieldDefinition`` are the model a surface renders (the Slack modal builds
one input per field from ``type``, ``label``, ``help``, ``options``, ``required``, ``default``
and ``multiline``). ``validate_values`` checks every field at once (date order rules included:
``not_before`` / ``not_after`` name another date field or ``today``) and returns the errors in
words a person understands. The tools ``list_forms``, ``describe_form``, ``submit_form``
(self-service: the requester confirms their own submission) and ``get_submission`` sit on
top; submissions are stored by ``memory.submissions``. A form file that cannot be read is
left out with a problem naming its file and line (``read_forms``); the other forms load.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from memory.errors import ConfigError, NotFound, ToolArgumentError
from memory.submissions import SubmissionStore
from tools.field_values import coerce_field
from tools.registry import ToolContext, ToolOutput, ToolSpec
from tools.yaml_files import read_yaml

log = logging.getLogger(__name__)

FieldType = Literal[
    "text", "long_text", "number", "money", "date", "email",
    "choice", "multi_choice", "boolean", "user",
]  # fmt: skip

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class FieldDefinition(BaseModel):
    """One field of a form, as declared in YAML and as a surface renders it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # the key in the submitted values (snake_case)
    label: str  # what a person reads next to the input
    type: FieldType = "text"
    required: bool = False
    default: Any = None
    help: str = ""  # a hint under the input; also quoted when a format check fails
    options: list[str] = Field(default_factory=list)  # choice / multi_choice values
    min: float | None = None  # number / money: smallest allowed value
    max: float | None = None  # number / money: largest allowed value
    decimals: int | None = None  # number: digits after the point (money: 2)
    currency: str | None = None  # money: the one accepted currency, e.g. EUR
    regex: str | None = None  # text: the whole value must match
    multiline: bool = False  # render as a text area (long_text always is)
    not_before: str | None = None  # date: another date field (or "today") it may not precede
    not_after: str | None = None  # date: another date field (or "today") it may not follow

    @model_validator(mode="after")
    def _consistent(self) -> FieldDefinition:
        if not _NAME.match(self.name):
            raise ValueError(f"field name {self.name!r} must be snake_case")
        if self.type in ("choice", "multi_choice") and not self.options:
            raise ValueError(f"field {self.name!r} is a {self.type} without options")
        if self.regex is not None:
            re.compile(self.regex)
        return self

    @property
    def is_multiline(self) -> bool:
        return self.multiline or self.type == "long_text"


class FormDefinition(BaseModel):
    """A form: what it is for and its fields, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str
    description: str = ""
    fields: list[FieldDefinition]
    # How submission ids look: ``{seq}`` numbered per form and year, ``{year}``, ``{form}``.
    id_format: str = "{form}-{seq:05d}"
    first_number: int = 1  # ids start here (above the ids already in the demo ledgers)

    @model_validator(mode="after")
    def _unique_fields(self) -> FormDefinition:
        names = [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"form {self.name!r} declares fields twice: {dupes}")
        for f in self.fields:
            for rule, other in (("not_before", f.not_before), ("not_after", f.not_after)):
                if other and other != TODAY and other not in names:
                    raise ValueError(f"field {f.name!r}: {rule} names unknown field {other!r}")
        return self

    def field(self, name: str) -> FieldDefinition:
        for f in self.fields:
            if f.name == name:
                return f
        raise NotFound(f"form {self.name!r} has no field {name!r}")


def read_forms(workspace: Path) -> tuple[dict[str, FormDefinition], list[str]]:
    """Every readable form of ``workspace/forms/*.yaml`` by name, and one problem per file that
    is not (naming its file and line): a broken file disables that form only."""
    forms: dict[str, FormDefinition] = {}
    problems: list[str] = []
    for path in sorted((Path(workspace) / "forms").glob("*.y*ml")):
        try:
            form = _load_form(path)
            if form.name in forms:
                raise ConfigError(f"forms/{path.name}: form {form.name!r} is declared twice")
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        forms[form.name] = form
    return forms, problems


def load_forms(workspace: Path) -> dict[str, FormDefinition]:
    """The readable forms (``read_forms``); each disabled one is logged with its problem."""
    forms, problems = read_forms(workspace)
    for problem in problems:
        log.warning("form disabled: %s", problem)
    return forms


def _load_form(path: Path) -> FormDefinition:
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.name}: a form file must hold a mapping (name:, title:, fields:)")
    try:
        return FormDefinition.model_validate({"name": path.stem, **doc.data})
    except ValidationError as exc:
        raise doc.invalid(exc) from exc


def validate_values(
    form: FormDefinition, values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check every field at once: ``(clean values, {field: message})``; no errors means valid."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in values:
        if name not in {f.name for f in form.fields}:
            errors[name] = f"{name!r} is not a field of the {form.title} form"
    for f in form.fields:
        raw = values.get(f.name)
        if _blank(raw):
            if f.default is not None:
                raw = f.default
            elif f.required:
                errors[f.name] = f"{f.label} is required"
                continue
            else:
                continue
        try:
            clean[f.name] = coerce_field(f, raw)
        except ValueError as exc:
            errors[f.name] = f"{f.label} {exc}"
    _check_order(form, clean, errors)
    return clean, errors


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


TODAY = "today"  # a date rule's bound that means the day of the check


def _check_order(form: FormDefinition, clean: dict[str, Any], errors: dict[str, str]) -> None:
    for f in form.fields:
        if f.name not in clean:
            continue
        for other, word, wrong in (
            (f.not_before, "before", lambda mine, bound: mine < bound),
            (f.not_after, "after", lambda mine, bound: mine > bound),
        ):
            bound, label = _bound(form, clean, other)
            if bound is not None and wrong(clean[f.name], bound):
                errors.setdefault(f.name, f"{f.label} cannot be {word} {label}")


def _bound(form: FormDefinition, clean: dict[str, Any], other: str | None) -> tuple[Any, str]:
    """A date rule's bound as a clean (ISO) value and its label; None when it has none."""
    if other == TODAY:
        return date.today().isoformat(), "today"
    if other and other in clean:
        return clean[other], form.field(other).label
    return None, ""


def describe(form: FormDefinition) -> str:
    """The form in plain text, for the model and the terminal."""
    lines = [f"{form.title} (form {form.name!r}): {form.description}".rstrip(": "), "Fields:"]
    for f in form.fields:
        bits = [f.type.replace("_", " ")]
        if f.required:
            bits.append("required")
        if f.options:
            bits.append("one of " + ", ".join(f.options))
        if f.currency:
            bits.append(f"in {f.currency}")
        if f.min is not None or f.max is not None:
            bits.append(f"range {_num(f.min)}..{_num(f.max)}")
        if f.default is not None:
            bits.append(f"default {f.default}")
        hint = f" - {f.help}" if f.help else ""
        lines.append(f"- {f.name} ({f.label}; {', '.join(bits)}){hint}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


# ---- tools ------------------------------------------------------------------------------


class ListFormsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DescribeFormArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    form: str = Field(description="The form's name, e.g. expense_claim.")


class SubmitFormArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    form: str = Field(description="The form's name, e.g. expense_claim.")
    values: dict[str, Any] = Field(description="Field name -> value, as describe_form lists them.")


class GetSubmissionArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    submission_id: str = Field(
        description="The submission's id, as it was given when the form was submitted."
    )


def make_form_tools(forms: Mapping[str, FormDefinition], store: SubmissionStore) -> list[ToolSpec]:
    """The four form tools over these definitions and this submission store."""

    def find(name: str) -> FormDefinition:
        key = name.strip()
        if key not in forms:
            known = ", ".join(sorted(forms))
            raise ToolArgumentError(
                f"no form named {key!r}", {"form": f"unknown form {key!r} (forms: {known})"}
            )
        return forms[key]

    def list_forms(ctx: ToolContext, args: ListFormsArgs) -> ToolOutput:
        """List the forms people can fill in, with their titles."""
        rows = [
            {"name": f.name, "title": f.title, "description": f.description} for f in forms.values()
        ]
        text = "\n".join(f"- {r['name']}: {r['title']}" for r in rows) or "No forms are defined."
        return ToolOutput(text, {"forms": rows})

    def describe_form(ctx: ToolContext, args: DescribeFormArgs) -> ToolOutput:
        """Describe a form's fields: names, types, which are required, allowed values."""
        form = find(args.form)
        return ToolOutput(describe(form), {"form": form.model_dump()})

    def submit_form(ctx: ToolContext, args: SubmitFormArgs) -> ToolOutput:
        """Submit a filled form; every field is checked and all problems are reported at once."""
        form = find(args.form)
        clean, errors = validate_values(form, args.values)
        if errors:
            raise ToolArgumentError(f"the {form.title} form has problems", errors)
        if ctx.dry_run:
            return ToolOutput(f"Would submit {form.title}: {clean}", {"values": clean})
        sub = store.create(
            form.name, clean, ctx.user, id_format=form.id_format, first_number=form.first_number,
            channel=ctx.channel, thread=ctx.thread, idempotency_key=ctx.idempotency_key,
        )  # fmt: skip
        again = "" if sub.created else " (already submitted earlier)"
        return ToolOutput(f"Submitted {form.title} as {sub.id}{again}.", _sub_data(sub))

    def get_submission(ctx: ToolContext, args: GetSubmissionArgs) -> ToolOutput:
        """Look up a submitted form by its id: values, status, who submitted it and when."""
        sub = store.get(args.submission_id)
        values = ", ".join(f"{k}={v}" for k, v in sub.values.items())
        text = f"{sub.id} ({sub.form}) by {sub.submitter}, {sub.status}, {sub.created_at}: {values}"
        return ToolOutput(text, _sub_data(sub))

    def summarize_submit(args: SubmitFormArgs) -> str:
        title = forms[args.form].title if args.form in forms else args.form
        shown = ", ".join(f"{k}: {v}" for k, v in args.values.items())
        return f"Submit the {title} form ({shown})"

    return [
        ToolSpec(
            "list_forms",
            _doc(list_forms),
            ListFormsArgs,
            list_forms,
            activity="listing the forms...",
        ),
        ToolSpec(
            "describe_form",
            _doc(describe_form),
            DescribeFormArgs,
            describe_form,
            activity="reading the form...",
        ),
        ToolSpec(
            "submit_form",
            _doc(submit_form),
            SubmitFormArgs,
            submit_form,
            side_effect="write",
            activity="submitting the form...",
            summary=summarize_submit,
            self_service=True,  # the submission is the requester's own
        ),
        ToolSpec(
            "get_submission",
            _doc(get_submission),
            GetSubmissionArgs,
            get_submission,
            activity="looking up the submission...",
        ),
    ]


def _sub_data(sub: Any) -> dict[str, Any]:
    return {
        "submission_id": sub.id, "form": sub.form, "values": sub.values, "status": sub.status,
        "submitter": sub.submitter, "created_at": sub.created_at, "created": sub.created,
    }  # fmt: skip


def _doc(func: Any) -> str:
    return (func.__doc__ or "").strip()
