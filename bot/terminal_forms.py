"""Filling in a form in the terminal: one field at a time, each value checked as it is typed.

Each field shows its label, its help and the format it takes with an example; what a person
types is read the company's way (``tools/form_input.py`` over ``tools/natural_values.py``:
"yesterday", "14 March", "31,50") and checked by the form's own validation
(``tools.forms.validate_values``, with the fields answered so far, so a date before an
earlier one is refused at once). ``/cancel``
stops the form, ``/quit`` stops it and leaves the chat; Ctrl-C and Ctrl-D stop it too.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape

from tools.form_input import Conventions, normalise_value
from tools.forms import FieldDefinition, FormDefinition, validate_values
from tools.natural_values import example_amount, format_date, spell_date
from tools.workspace import WorkspaceProfile

INTERRUPTED = "\x03"  # what a reader returns for Ctrl-C (a person cannot type this character)
Outcome = Literal["done", "cancelled", "leave"]
_COMMAND = re.compile(r"^/[a-z]+$")


@dataclass(frozen=True)
class ValueStyle:
    """How the company writes values (``workspace.yaml``), for hints and for reading them."""

    conventions: Conventions = dataclasses.field(default_factory=Conventions)
    mail_domain: str = "example.com"

    @classmethod
    def of(cls, profile: WorkspaceProfile) -> ValueStyle:
        company = profile.company
        domain = company.mail_domains[0] if company.mail_domains else "example.com"
        return cls(
            Conventions(company.date_order, company.decimal_separator, company.timezone), domain
        )


def format_hint(field: FieldDefinition, style: ValueStyle, today: date) -> str:
    """The format a field takes, with an example, and what Enter alone does."""
    hint = _type_hint(field, style, today)
    if field.default not in (None, ""):
        default = {True: "yes", False: "no"}.get(field.default, field.default)
        hint += f"; Enter for {default}"
    elif not field.required:
        hint += "; Enter to skip"
    return hint.lstrip("; ")


def _type_hint(field: FieldDefinition, style: ValueStyle, today: date) -> str:
    kind = field.type
    if kind == "date":
        written = f"{today.day} {today:%B}"
        numeric = format_date(today, style.conventions.date_order)
        return f"a date like {numeric}, {written} or yesterday"
    if kind == "money":
        currency = f" in {field.currency}" if field.currency else ""
        return f"an amount{currency}, like {example_amount(style.conventions.decimal_separator)}"
    if kind == "number":
        what = "a whole number" if field.decimals == 0 else "a number"
        if field.min is not None and field.max is not None:
            return f"{what} from {field.min:g} to {field.max:g}"
        return what
    if kind == "choice":
        return "one of: " + ", ".join(field.options)
    if kind == "multi_choice":
        return "one or more of: " + ", ".join(field.options) + " (separated by commas)"
    if kind == "boolean":
        return "yes or no"
    if kind == "email":
        return f"an email address like name@{style.mail_domain}"
    if kind == "user":
        return "a user id like U01ABCDEF"
    return ""


def check_value(
    form: FormDefinition,
    field: FieldDefinition,
    text: str,
    so_far: dict[str, Any],
    style: ValueStyle,
    today: date,
) -> tuple[Any, str | None]:
    """The clean value of ``text`` for ``field`` (None: skipped), or the form's error message."""
    values = {k: v for k, v in so_far.items() if k != field.name}
    if text.strip():
        values[field.name] = normalise_value(field, text, style.conventions, today)
    clean, errors = validate_values(form, values)
    return clean.get(field.name), errors.get(field.name)


class FormFiller:
    """Asks for fields on ``console`` through ``read_line`` and checks each answer."""

    def __init__(
        self,
        console: Console,
        read_line: Callable[[str], str | None],
        style: ValueStyle,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.console = console
        self.read_line = read_line
        self.style = style
        self.today = today or style.conventions.today  # the company's day, in its time zone

    def ask(
        self, form: FormDefinition, fields: list[FieldDefinition], values: dict[str, Any]
    ) -> Outcome:
        """Ask each of ``fields`` until its value passes; answers go into ``values``."""
        for field in fields:
            self._introduce(field)
            outcome = self._ask_one(form, field, values)
            if outcome != "done":
                self.console.print("[yellow]Cancelled: nothing was submitted.[/yellow]")
                return outcome
        return "done"

    def _introduce(self, field: FieldDefinition) -> None:
        optional = "" if field.required else " [dim](optional)[/dim]"
        help_text = f" [dim]— {escape(field.help)}[/dim]" if field.help else ""
        self.console.print(f"[bold]{escape(field.label)}[/bold]{optional}{help_text}")
        hint = format_hint(field, self.style, self.today())
        if hint:
            self.console.print(f"  [dim]{escape(hint)}[/dim]")

    def _ask_one(
        self, form: FormDefinition, field: FieldDefinition, values: dict[str, Any]
    ) -> Outcome:
        while True:
            answer = self.read_line("  > ")
            if answer is None or answer == INTERRUPTED or answer.strip() == "/cancel":
                return "cancelled"
            text = answer.strip()
            if text in ("/quit", "/exit"):
                return "leave"
            if _COMMAND.match(text):
                self.console.print("  [dim]Type a value, or /cancel to stop this form.[/dim]")
                continue
            value, error = check_value(form, field, text, values, self.style, self.today())
            if error:
                self.console.print(f"  [yellow]{escape(error)}[/yellow]")
                continue
            self._remember(field, text, value, values)
            return "done"

    def _remember(
        self, field: FieldDefinition, text: str, value: Any, values: dict[str, Any]
    ) -> None:
        if value is None:
            values.pop(field.name, None)
            return
        values[field.name] = value
        if field.type == "date" and text != value:  # "yesterday": say which day that is
            self.console.print(f"  [dim]= {spell_date(date.fromisoformat(value))}[/dim]")
