"""Values as people write them: "yesterday", "14 March", "31,50 €", read in the company's style.

A form field wants an ISO date or a plain number; people type "yesterday", "14/03",
"March 14", "1.234,50" or "£31.50". These functions turn such text into a ``date`` or a
``Decimal`` using the workspace's conventions (``workspace.yaml``: ``date_order`` for numeric
dates, ``decimal_separator`` for amounts) and return ``None`` for anything they cannot read
with certainty ("lots", "the 31st of February", "1,2,3"); the caller then reports the field's
own error (``tools/form_input.py`` applies them to a form's fields).

The grammar is deliberately narrow (English month and weekday names, a few relative words)
rather than a general date parser: a form must refuse what it cannot read unambiguously, and
general parsers read "may" or "2" as dates.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal

DateOrder = Literal["DMY", "MDY", "YMD"]

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}  # fmt: skip
_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        [("monday", "mon"), ("tuesday", "tue", "tues"), ("wednesday", "wed"),
         ("thursday", "thu", "thur", "thurs"), ("friday", "fri"), ("saturday", "sat"),
         ("sunday", "sun")]
    )
    for name in names
}  # fmt: skip
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
           "seven": 7, "eight": 8, "nine": 9, "ten": 10}  # fmt: skip
_RELATIVE_DAYS = {
    "today": 0, "now": 0, "yesterday": -1, "tomorrow": 1,
    "the day before yesterday": -2, "day before yesterday": -2,
    "the day after tomorrow": 2, "day after tomorrow": 2,
}  # fmt: skip
_UNIT_DAYS = {"day": 1, "days": 1, "week": 7, "weeks": 7}
_AGO = re.compile(r"^(\w+) (days?|weeks?) ago$")
_IN = re.compile(r"^in (\w+) (days?|weeks?)$")
_LAST_NEXT = re.compile(r"^(last|next|this) (\w+)$")
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_NUMERIC = re.compile(r"^(\d{1,2})[-/.](\d{1,2})(?:[-/.](\d{2}|\d{4}))?$")
_ORDINAL = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?$")
_YEAR = re.compile(r"^\d{4}$")

# Currency symbols and words people write next to an amount, and the ISO code they mean.
_CURRENCY_WORDS = {
    "€": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "pound": "GBP", "pounds": "GBP",
    "$": "USD", "dollar": "USD", "dollars": "USD",
}  # fmt: skip
_MONEY = re.compile(
    r"^(?P<pre>[A-Za-z]{3}|[€£$])?\s*(?P<num>[-−]?[\d\s.,'\u00a0\u202f]*\d(?:\s?[kK]\b)?)\s*"
    r"(?P<post>[A-Za-z]{3}|[€£$]|euros?|pounds?|dollars?)?$",
    re.IGNORECASE,
)
_GROUP_SPACES = re.compile(r"(?<=\d)[\s'\u00a0\u202f](?=\d{3}(?!\d))")


# ---- dates ----------------------------------------------------------------------------------
def parse_date(text: str, today: date, date_order: DateOrder = "DMY") -> date | None:
    """The date ``text`` means, relative to ``today`` where it is relative; None if unsure.

    Reads ``today``/``yesterday``/``tomorrow``, ``3 days ago``, ``in 2 weeks``, ``last
    Friday``/``next Monday``/``this Friday`` (today on a Friday, else the coming one), ISO
    ``2026-03-14``, numeric dates in ``date_order`` (``14/03/2026``, ``14.03.26``, ``14/03``)
    and written ones (``14 March``, ``March 14, 2026``, ``Sat 14th of March``), any of them after
    the weekday it falls on (``Monday 23/03``: None when the 23rd is no Monday). A date written
    without a year is the one nearest today.
    """
    cleaned = " ".join(text.strip().lower().replace(",", " ").split()).rstrip(".")
    if not cleaned:
        return None
    for reader in (_relative, _iso, _numeric, _written):
        found = reader(cleaned, today, date_order)
        if found is not None:
            return found
    first, _, rest = cleaned.partition(" ")
    if first in _WEEKDAYS and rest:  # "monday 23/03": the date must fall on that day
        for reader in (_iso, _numeric):
            found = reader(rest, today, date_order)
            if found is not None:
                return found if found.weekday() == _WEEKDAYS[first] else None
    return None


def _relative(text: str, today: date, order: DateOrder) -> date | None:
    if text in _RELATIVE_DAYS:
        return today + timedelta(days=_RELATIVE_DAYS[text])
    for pattern, sign in ((_AGO, -1), (_IN, 1)):
        match = pattern.match(text)
        if match:
            count = _count(match.group(1))
            if count is None:
                return None
            return today + timedelta(days=sign * count * _UNIT_DAYS[match.group(2)])
    match = _LAST_NEXT.match(text)
    if match and match.group(2) in _WEEKDAYS:
        target = _WEEKDAYS[match.group(2)]
        if match.group(1) == "last":
            return today - timedelta(days=(today.weekday() - target - 1) % 7 + 1)
        if match.group(1) == "this":
            return today + timedelta(days=(target - today.weekday()) % 7)
        return today + timedelta(days=(target - today.weekday() - 1) % 7 + 1)
    return None


def _count(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return _COUNTS.get(word)


def _iso(text: str, today: date, order: DateOrder) -> date | None:
    match = _ISO.match(text)
    if not match:
        return None
    return _make(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def _numeric(text: str, today: date, order: DateOrder) -> date | None:
    match = _NUMERIC.match(text)
    if not match:
        return None
    first, second, year = int(match.group(1)), int(match.group(2)), match.group(3)
    day, month = (first, second) if order == "DMY" else (second, first)
    if year is None:
        return _nearest(day, month, today)
    full_year = int(year) + 2000 if len(year) == 2 else int(year)
    return _make(full_year, month, day)


def _written(text: str, today: date, order: DateOrder) -> date | None:
    words = [w for w in text.split() if w != "of"]
    weekday = _WEEKDAYS.get(words[0]) if words else None
    if weekday is not None:
        words = words[1:]
    year = int(words.pop()) if words and _YEAR.match(words[-1]) else None
    if len(words) != 2:
        return None
    if words[0] in _MONTHS:  # "March 14"
        month_word, day_word = words
    else:  # "14 March"
        day_word, month_word = words
    day_match = _ORDINAL.match(day_word)
    if month_word not in _MONTHS or not day_match:
        return None
    day, month = int(day_match.group(1)), _MONTHS[month_word]
    found = _make(year, month, day) if year is not None else _nearest(day, month, today)
    if found is None or (weekday is not None and found.weekday() != weekday):
        return None  # "Friday 14 March" when the 14th is no Friday: a typo somewhere
    return found


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _nearest(day: int, month: int, today: date) -> date | None:
    """The day and month in the year that puts it nearest today ("3 January" in December)."""
    candidates = [_make(year, month, day) for year in (today.year - 1, today.year, today.year + 1)]
    found = [c for c in candidates if c is not None]
    return min(found, key=lambda c: abs((c - today).days)) if found else None


def format_date(value: date, date_order: DateOrder = "DMY") -> str:
    """``value`` written numerically the way the company writes dates (``01/12/2026``)."""
    if date_order == "YMD":
        return value.isoformat()
    if date_order == "MDY":
        return value.strftime("%m/%d/%Y")
    return value.strftime("%d/%m/%Y")


def spell_date(value: date) -> str:
    """``Tuesday 1 December 2026``: a date a person recognises at a glance."""
    return f"{value.strftime('%A')} {value.day} {value.strftime('%B %Y')}"


# ---- amounts --------------------------------------------------------------------------------
def split_currency(text: str) -> tuple[str, str | None] | None:
    """``"€ 42,50"`` -> ``("42,50", "EUR")``; ``"42"`` -> ``("42", None)``; None if no amount."""
    match = _MONEY.match(text.strip())
    if not match:
        return None
    pre, post = match.group("pre"), match.group("post")
    if pre and post:
        return None  # "EUR 42 GBP"
    marker = (pre or post or "").lower()
    currency = _CURRENCY_WORDS.get(marker, marker.upper()) or None
    return match.group("num"), currency


def parse_amount(text: str, decimal_separator: Literal[".", ","] = ".") -> Decimal | None:
    """The number in ``text`` (no currency), read with the company's decimal separator.

    ``1,234.50`` and ``1.234,50`` both mean 1234.50 (the last separator is the decimal one);
    a single separator followed by exactly three digits is a thousands separator unless it is
    the company's decimal separator (``1,234`` is 1234 where amounts use ``.``); ``31,50`` is
    31.50 everywhere. Groups must be of three digits: ``1,2,3`` is None. A ``k`` after the
    number means thousands (``1.5k`` is 1500).
    """
    raw = _GROUP_SPACES.sub("", text.strip()).replace("−", "-")
    scale = 1
    if raw[-1:] in ("k", "K"):
        raw, scale = raw[:-1].rstrip(), 1000
    if not re.fullmatch(r"-?[\d.,]*\d", raw):
        return None
    sign, digits = ("-", raw[1:]) if raw.startswith("-") else ("", raw)
    number = _plain_number(digits, decimal_separator)
    if number is None:
        return None
    try:
        return Decimal(sign + number) * scale
    except InvalidOperation:
        return None


def _plain_number(digits: str, decimal_separator: str) -> str | None:
    """``digits`` with grouping removed and ``.`` as the decimal point, or None."""
    seps = [c for c in digits if c in ".,"]
    if not seps:
        return digits
    if len(set(seps)) == 2:
        point = digits[max(digits.rfind("."), digits.rfind(","))]
        group = "," if point == "." else "."
        whole, _, fraction = digits.rpartition(point)
        return _ungroup(whole, group, fraction)
    sep = seps[0]
    whole, _, fraction = digits.rpartition(sep)
    if len(seps) > 1 or (len(fraction) == 3 and sep != decimal_separator and whole != "0"):
        return _ungroup(digits, sep, None)  # "1,234,567" or "1,234" where "." is the point
    return f"{whole or '0'}.{fraction}" if whole.isdigit() or whole == "" else None


def _ungroup(whole: str, group: str, fraction: str | None) -> str | None:
    parts = whole.split(group)
    if not parts[0] or len(parts[0]) > 3 or any(len(p) != 3 for p in parts[1:]):
        return None
    if not all(p.isdigit() for p in parts) or (fraction is not None and not fraction.isdigit()):
        return None
    joined = "".join(parts)
    return f"{joined}.{fraction}" if fraction is not None else joined


def parse_money(
    text: str, decimal_separator: Literal[".", ","] = "."
) -> tuple[Decimal, str | None] | None:
    """An amount and the currency written with it (``"£31,50"`` -> ``(31.50, "GBP")``)."""
    split = split_currency(text)
    if split is None:
        return None
    amount = parse_amount(split[0], decimal_separator)
    return None if amount is None else (amount, split[1])


def example_amount(decimal_separator: Literal[".", ","] = ".") -> str:
    """An amount written the company's way, for hints: ``42.50`` or ``42,50``."""
    return "42" + decimal_separator + "50"
