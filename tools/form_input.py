"""Form values as proposed (by the model or a person) made exact by code before anyone approves.

A small model copies what the person wrote ("yesterday", "31,50", "office supplies"); this
module turns those words into the form's own values with the company's conventions
(``workspace.yaml``: date order, decimal separator, time zone), so the approval card shows the
real date and amount and the model never has to compute them. What code cannot read with
certainty stays as written, and the form's validation names the problem.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tools.natural_values import parse_amount, parse_date, parse_money


@dataclass(frozen=True)
class Conventions:
    """How the company writes dates and amounts, and where its day begins."""

    date_order: Literal["DMY", "MDY", "YMD"] = "DMY"
    decimal_separator: Literal[".", ","] = "."
    timezone: str = "UTC"

    def today(self) -> date:
        try:
            return datetime.now(ZoneInfo(self.timezone)).date()
        except ZoneInfoNotFoundError:
            return date.today()


def _option(options: list[str], raw: str) -> str:
    """The option ``raw`` names, read without case, spaces or underscores ("Office supplies"),
    or misspelt by a letter or two ("trainig"): the one option that close, else ``raw``."""
    key = _key(raw)
    keys = {_key(option): option for option in options}
    if key in keys:
        return keys[key]
    close = difflib.get_close_matches(key, list(keys), n=2, cutoff=0.8)
    return keys[close[0]] if len(close) == 1 else raw


def _key(text: str) -> str:
    return text.strip().casefold().replace(" ", "_").replace("-", "_")


def normalise_value(field: Any, raw: Any, conventions: Conventions, today: date) -> Any:
    """One field's value in its canonical shape where code can read it exactly."""
    if isinstance(raw, str) and field.type == "money":
        money = parse_money(raw, conventions.decimal_separator)
        wanted = (field.currency or "").upper()
        if money is None or (money[1] and wanted and money[1] != wanted):
            return raw  # unreadable, or another currency: the validation says which
        return float(money[0])
    if isinstance(raw, str) and field.type == "number":
        number = parse_amount(raw, conventions.decimal_separator)
        if number is None:
            return raw
        return int(number) if number == number.to_integral_value() else float(number)
    if isinstance(raw, str) and field.type == "date":
        found = parse_date(raw, today, conventions.date_order)
        return found.isoformat() if found is not None else raw
    if isinstance(raw, str) and field.type == "choice":
        return _option(field.options, raw)
    if field.type == "multi_choice" and isinstance(raw, list):
        return [_option(field.options, str(item)) for item in raw]
    return raw


def normalise_values(
    form: Any,
    values: Mapping[str, Any],
    conventions: Conventions,
    today: date | None = None,
) -> dict[str, Any]:
    """Every value of ``form`` that code can make exact, made exact; the others unchanged."""
    day = today or conventions.today()
    fields = {f.name: f for f in form.fields}
    return {
        name: normalise_value(fields[name], raw, conventions, day) if name in fields else raw
        for name, raw in values.items()
    }


def conventions_of(workspace: Any) -> Conventions:
    """The conventions ``workspace.yaml`` declares for its company."""
    from tools.workspace import load_profile

    company = load_profile(workspace).company
    return Conventions(company.date_order, company.decimal_separator, company.timezone)


def normalise_call(
    tool: str,
    args: Mapping[str, Any],
    forms: Mapping[str, Any],
    process_forms: Mapping[str, str],
    conventions: Conventions,
    today: date | None = None,
    mailboxes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A ``submit_form`` / ``start_process`` call with its form values made exact; an email's
    recipients with team mailboxes' names (``mailboxes``) replaced by their addresses."""
    out = dict(args)
    if tool == "submit_form" and isinstance(out.get("values"), dict) and out.get("form") in forms:
        out["values"] = normalise_values(forms[out["form"]], out["values"], conventions, today)
    elif tool == "start_process" and isinstance(out.get("inputs"), dict):
        form = forms.get(process_forms.get(str(out.get("name")), ""))
        if form is not None:
            out["inputs"] = normalise_values(form, out["inputs"], conventions, today)
    elif tool in ("send_email", "draft_email") and mailboxes:
        from tools.email import recipients

        for field in ("to", "cc"):
            if field in out:
                out[field] = recipients(out[field], mailboxes)
    return out


def workspace_normaliser(workspace: Any) -> Callable[[str, dict[str, Any], date | None], Any]:
    """``normalise_call`` over one workspace's forms, processes, conventions and mailboxes:
    a proposed call made exact as the bot makes it before an approval card is shown."""
    from tools.forms import load_forms
    from tools.process_defs import load_processes
    from tools.workspace import load_profile

    forms = load_forms(workspace)
    wraps = {n: str(p.form) for n, p in load_processes(workspace).items() if p.form}
    conventions = conventions_of(workspace)
    mailboxes = load_profile(workspace).mailboxes

    def normalise(tool: str, args: dict[str, Any], day: date | None) -> dict[str, Any]:
        return normalise_call(tool, args, forms, wraps, conventions, day, mailboxes)

    return normalise


def with_exact_values(
    specs: list[Any],
    forms: Mapping[str, Any],
    process_forms: Mapping[str, str],
    conventions: Conventions,
    clock: Callable[[], date],
) -> list[Any]:
    """``submit_form`` and ``start_process`` specs that make their values exact when validated."""
    from dataclasses import replace

    def prepare(tool: str) -> Callable[[Any], Any]:
        field = "values" if tool == "submit_form" else "inputs"

        def exact(args: Any) -> Any:
            call = normalise_call(
                tool, args.model_dump(), forms, process_forms, conventions, clock()
            )
            return args.model_copy(update={field: call[field]})

        return exact

    return [
        replace(spec, prepare=prepare(spec.name))
        if spec.name in ("submit_form", "start_process")
        else spec
        for spec in specs
    ]
