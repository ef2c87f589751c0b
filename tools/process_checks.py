"""Load-time checks of processes against the workspace: the sheets, forms and templates they name.

A process that appends to a sheet that is not there, names a tab or column the sheet lacks, a
form the workspace does not declare, or an email template that does not exist would otherwise
fail half-way through somebody's claim. ``check_workspace_references`` finds each such
problem when the processes load and names the process file, the step's line and what is
missing; the engine disables that process and starts the others.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from memory.errors import RpaError
from tools.email import EmailTemplates
from tools.forms import FormDefinition
from tools.process_defs import (
    AppendRowStep,
    EmailStep,
    FormStep,
    ProcessDef,
    ReadSheetStep,
    UpdateRowStep,
)
from tools.sheets import Sheets


def check_workspace_references(
    processes: Mapping[str, ProcessDef], workspace: Path, forms: Mapping[str, FormDefinition]
) -> dict[str, str]:
    """Process name -> its first problem (``processes/x.yaml, line 12: ...``), for each
    process that names a sheet, tab, column, form or template the workspace lacks."""
    sheets = Sheets(Path(workspace))
    templates = set(EmailTemplates(Path(workspace) / "templates").names())

    @cache
    def tabs(path: str) -> dict[str, list[str]] | str:
        try:
            return {name.casefold(): headers for name, headers in sheets.headers(path).items()}
        except RpaError as exc:
            return str(exc)

    found: dict[str, str] = {}
    for name, process in processes.items():
        for step_id, problem in _problems(process, forms, templates, tabs):
            found[name] = f"{process.where(step_id)}: step {step_id!r}: {problem}"
            break
    return found


def _problems(
    process: ProcessDef, forms: Mapping[str, FormDefinition], templates: set[str], tabs: Any
) -> Iterator[tuple[str, str]]:
    if process.form and process.form not in forms:
        yield process.steps[0].id, f"the process names form {process.form!r}, which {_none(forms)}"
    for step in [*process.steps, *process.on_reject]:
        if isinstance(step, FormStep) and step.form and step.form not in forms:
            yield step.id, f"form {step.form!r} {_none(forms)}"
        if isinstance(step, EmailStep) and step.template and step.template not in templates:
            known = ", ".join(sorted(templates)) or "none"
            yield step.id, f"email template {step.template!r} does not exist (templates: {known})"
        if isinstance(step, ReadSheetStep | AppendRowStep | UpdateRowStep):
            problem = _sheet_problem(step, tabs)
            if problem:
                yield step.id, problem


def _none(forms: Mapping[str, FormDefinition]) -> str:
    return f"does not exist (forms: {', '.join(sorted(forms)) or 'none'})"


def _sheet_problem(step: Any, tabs: Any) -> str | None:
    found = tabs(step.sheet)
    if isinstance(found, str):
        return found
    headers: list[str]
    if step.tab is None:
        headers = next(iter(found.values()), [])
    elif step.tab.casefold() in found:
        headers = found[step.tab.casefold()]
    else:
        return f"sheet {step.sheet!r} has no tab {step.tab!r} (tabs: {', '.join(found)})"
    wanted = [*getattr(step, "match", {}), *getattr(step, "values", {})]
    if hasattr(step, "key_column"):
        wanted.insert(0, step.key_column)
    have = {h.strip().casefold() for h in headers}
    missing = [c for c in dict.fromkeys(wanted) if c.strip().casefold() not in have]
    if missing:
        where = f"{step.sheet!r}" + (f" / {step.tab!r}" if step.tab else "")
        return (
            f"{where} has no column {', '.join(map(repr, missing))} (columns: {', '.join(headers)})"
        )
    return None
