"""Turning what a person typed into a field's typed value, or a message saying why not.

Each coercer raises ``ValueError`` whose text completes "<Label> ...", e.g. "must be a date
like 2026-03-14". Clean values are JSON-friendly: dates as ISO strings, money as a number
rounded to the cent, multi-choice as a list.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_USER = re.compile(r"^<?@?([UW][A-Z0-9]{2,})(\|[^>]*)?>?$")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


class FieldLike(Protocol):
    """What a coercer reads of a field (``tools.forms.FieldDefinition`` or a sheet column)."""

    @property
    def label(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def options(self) -> list[str]: ...
    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...
    @property
    def decimals(self) -> int | None: ...
    @property
    def currency(self) -> str | None: ...
    @property
    def regex(self) -> str | None: ...
    @property
    def help(self) -> str: ...


def coerce_field(field: FieldLike, raw: Any) -> Any:
    """The clean value of ``raw`` for ``field``; ``ValueError`` says what is wrong."""
    return _COERCERS[field.type](field, raw)


def _text(field: FieldLike, raw: Any) -> str:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ValueError("must be text")
    value = str(raw).strip()
    if field.regex and not re.fullmatch(field.regex, value):
        hint = f" ({field.help})" if field.help else ""
        raise ValueError(f"is not in the expected format{hint}")
    return value


def parse_decimal(raw: Any) -> Decimal:
    """``42``, ``42.5``, ``"1,234.50"``, ``"42,50"`` -> Decimal; ``ValueError`` otherwise."""
    if isinstance(raw, bool):
        raise ValueError("must be a number")
    if isinstance(raw, int | float | Decimal):
        return Decimal(str(raw))
    text = str(raw).strip().replace(" ", "").replace("\u00a0", "")
    if "," in text and "." not in text and re.fullmatch(r"-?\d+,\d{1,2}", text):
        text = text.replace(",", ".")  # a decimal comma, as written in Lyon and Madrid
    text = text.replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not value.is_finite():
        raise ValueError("must be a number")
    return value


def _bounded(field: FieldLike, value: Decimal) -> Decimal:
    if field.min is not None and value < Decimal(str(field.min)):
        raise ValueError(f"must be at least {field.min:g}")
    if field.max is not None and value > Decimal(str(field.max)):
        raise ValueError(f"must be at most {field.max:g}")
    return value


def _number(field: FieldLike, raw: Any) -> int | float:
    value = _bounded(field, parse_decimal(raw))
    if field.decimals is not None:
        places = Decimal(1).scaleb(-field.decimals)
        if value != value.quantize(places):
            raise ValueError(f"may have at most {field.decimals} decimal places")
        if field.decimals == 0:
            return int(value)
    return (
        int(value) if value == value.to_integral_value() and "." not in str(raw) else float(value)
    )


def _money(field: FieldLike, raw: Any) -> float:
    amount = raw
    if isinstance(raw, str):
        match = re.fullmatch(r"\s*([A-Za-z]{3}|€)?\s*([-\d.,\s]+?)\s*([A-Za-z]{3}|€)?\s*", raw)
        if not match:
            raise ValueError(
                f"must be an amount like 42.50{' ' + field.currency if field.currency else ''}"
            )
        currency = (match.group(1) or match.group(3) or "").upper().replace("€", "EUR")
        if currency and field.currency and currency != field.currency.upper():
            raise ValueError(f"must be in {field.currency} (got {currency})")
        amount = match.group(2)
    value = _bounded(field, parse_decimal(amount))
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("may have at most 2 decimal places (cents)")
    return float(value)


def parse_date(raw: Any) -> date:
    """An ISO date (or a date / datetime object); ``ValueError`` otherwise."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError("must be a date like 2026-03-14")


def _date(field: FieldLike, raw: Any) -> str:
    return parse_date(raw).isoformat()


def _email(field: FieldLike, raw: Any) -> str:
    value = str(raw).strip()
    if not _EMAIL.match(value):
        raise ValueError("must be an email address like name@example.com")
    return value.lower()


def _choice(field: FieldLike, raw: Any) -> str:
    value = str(raw).strip()
    for option in field.options:
        if value.lower() == option.lower():
            return option
    raise ValueError(f"must be one of: {', '.join(field.options)}")


def _multi_choice(field: FieldLike, raw: Any) -> list[str]:
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    chosen = [_choice(field, item) for item in items if str(item).strip()]
    return list(dict.fromkeys(chosen))


def _boolean(field: FieldLike, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be yes or no")


def _user(field: FieldLike, raw: Any) -> str:
    match = _USER.match(str(raw).strip())
    if not match:
        raise ValueError("must be a Slack user (e.g. U01ABCDEF or a @mention)")
    return match.group(1)


_COERCERS: dict[str, Callable[[FieldLike, Any], Any]] = {
    "text": _text,
    "long_text": _text,
    "number": _number,
    "money": _money,
    "date": _date,
    "email": _email,
    "choice": _choice,
    "multi_choice": _multi_choice,
    "boolean": _boolean,
    "user": _user,
}
