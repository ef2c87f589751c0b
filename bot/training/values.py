"""Values for generated requests, drawn from a form field's own definition.

Each sampler returns what the person writes (``said``) and what the model's call must carry
(``gold``). Values that code normalises exactly (dates, amounts with a decimal comma) are
copied as the person wrote them: the model only has to find the words, and the form's
validation turns "yesterday" or "31,50" into the date or number (``tools/natural_values.py``).
Plain numbers stay JSON numbers ("42.50 EUR" -> ``42.5``). Nothing here knows a company:
words and values specific to one come from the workspace's ``training/values.yaml``.
"""

from __future__ import annotations

import math
import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CURRENCY_WORDS = {
    "EUR": ("euros", "EUR", "€"),
    "GBP": ("pounds", "GBP", "£"),
    "USD": ("dollars", "USD", "$"),
}
# Free text for a field a workspace gives no values for: plausible in any company.
GENERIC_TEXT = (
    "as discussed with my manager", "needed for the customer project", "for the quarterly review",
    "urgent, the old one broke", "for the new starter next week", "see the attached details",
    "replacement for the damaged one", "agreed in the team meeting",
)  # fmt: skip
GENERIC_PEOPLE = (
    "Alex Morgan", "Sam Patel", "Jordan Lee", "Maria Rossi", "Chen Wei", "Fatima Khan",
    "Lukas Novak", "Emma Brown", "Noah Fischer", "Ines Duarte", "Omar Haddad",
)  # fmt: skip


@dataclass(frozen=True)
class Said:
    """A value as the person writes it and as the tool call must carry it."""

    said: str
    gold: Any


def pick(rng: random.Random, items: Sequence[Any]) -> Any:
    return items[rng.randrange(len(items))]


# ---- dates ------------------------------------------------------------------------------------


def written_date(rng: random.Random, day: date, today: date, date_order: str = "DMY") -> str:
    """``day`` as people write it: ISO, "14 March", "March 14, 2026", "14/03/2026", "yesterday"."""
    relative = _relative(day, today)
    style = rng.random()
    if relative and style < 0.4:
        return relative
    if style < 0.5:
        return day.isoformat()
    month = MONTHS[day.month - 1]
    if style < 0.65:
        return f"{day.day} {month}" + (f" {day.year}" if rng.random() < 0.5 else "")
    if style < 0.75:
        return f"{month} {day.day}" + (f", {day.year}" if rng.random() < 0.5 else "")
    if style < 0.85:
        return f"{day.day} {month[:3]}"
    sep = pick(rng, ("/", ".", "/"))
    parts = {"D": f"{day.day:02d}", "M": f"{day.month:02d}", "Y": str(day.year)}
    return sep.join(parts[c] for c in date_order) if date_order != "YMD" else day.isoformat()


def _relative(day: date, today: date) -> str | None:
    """ "today", "yesterday", "tomorrow", "last Friday", "next Monday" when one of them fits."""
    delta = (day - today).days
    words = {0: "today", -1: "yesterday", 1: "tomorrow", -2: "the day before yesterday"}
    if delta in words:
        return words[delta]
    name = WEEKDAYS[day.weekday()]
    if -7 <= delta < -1:
        return f"last {name}"
    if 1 < delta <= 7:
        return f"next {name}"
    return None


def a_date(
    rng: random.Random, today: date, ahead: tuple[int, int], date_order: str = "DMY"
) -> tuple[date, Said]:
    """A date some days from ``today``; the gold is the person's own words for it."""
    day = today + timedelta(days=rng.randint(*ahead))
    said = written_date(rng, day, today, date_order)
    return day, Said(said, said)


# ---- numbers and money ------------------------------------------------------------------------


def plain_number(value: float) -> int | float:
    """42.0 -> 42 (what a person means and what JSON shows), 42.5 stays."""
    return int(value) if float(value).is_integer() else round(float(value), 2)


def an_amount(
    rng: random.Random,
    low: float,
    high: float,
    currency: str = "",
    decimal_separator: str = ".",
    cents: bool = True,
) -> Said:
    """An amount written as people write money; a decimal comma is copied as written.

    Drawn log-uniformly, so small and large amounts are both common whatever the bounds.
    """
    value = math.exp(rng.uniform(math.log(max(low, 0.01)), math.log(max(high, low, 0.01))))
    value = round(value, 2 if cents and rng.random() < 0.5 else 0) or round(low, 2)
    gold: Any = plain_number(value)
    text = f"{value:,.2f}" if not float(gold).is_integer() else f"{int(gold):,}"
    if rng.random() < 0.5:
        text = text.replace(",", "")
    comma = decimal_separator == "," or rng.random() < 0.25
    if comma and "." not in text and rng.random() < 0.5:
        text += ".00"  # "1,250.00" becomes "1.250,00" below, as written on the continent
    if comma and "." in text:
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
        gold = text  # copied as written  # "31,50": code reads it with the workspace's decimal separator
    if not currency:
        return Said(text, gold)
    word, code, symbol = CURRENCY_WORDS.get(currency, (currency, currency, currency))
    style = rng.randrange(4)
    said = (f"{text} {code}", f"{symbol}{text}", f"{text} {word}", f"{code} {text}")[style]
    return Said(said, gold)


def a_number(rng: random.Random, low: float, high: float, decimals: int | None) -> Said:
    """A number in the field's bounds, whole most of the time, never finer than ``decimals``."""
    places = 0 if decimals == 0 or rng.random() < 0.7 else min(decimals or 1, 1)
    value = round(rng.uniform(low, high), places)
    gold = plain_number(value)
    return Said(str(gold), gold)


# ---- text matching a pattern ------------------------------------------------------------------

_CLASSES = {"d": string.digits, "w": string.ascii_letters + string.digits, "s": " "}


def from_regex(rng: random.Random, pattern: str) -> str | None:
    """A string matching a simple ``regex`` (literals, classes, ``{n,m}``, ``?``); else None."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        choices, i = _atom(pattern, i)
        if choices is None:
            return None
        low, high, i = _repeat(pattern, i)
        out += [pick(rng, choices) for _ in range(rng.randint(low, high))]
    text = "".join(out)
    return text if re.fullmatch(pattern, text) else None


def _atom(pattern: str, i: int) -> tuple[str | None, int]:
    char = pattern[i]
    if char == "[":
        end = pattern.find("]", i)
        return (_expand(pattern[i + 1 : end]) if end > i else None), end + 1
    if char == "\\" and i + 1 < len(pattern):
        return _CLASSES.get(pattern[i + 1], pattern[i + 1]), i + 2
    if char in "()|*+.^$":
        return None, i
    return char, i + 1


def _expand(body: str) -> str | None:
    if body.startswith("^"):
        return None
    chars, i = "", 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            chars += "".join(chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1))
            i += 3
        elif body[i] == "\\" and i + 1 < len(body):
            chars += _CLASSES.get(body[i + 1], body[i + 1])
            i += 2
        else:
            chars += body[i]
            i += 1
    return chars or None


def _repeat(pattern: str, i: int) -> tuple[int, int, int]:
    if i < len(pattern) and pattern[i] == "?":
        return 0, 1, i + 1
    if i < len(pattern) and pattern[i] == "{":
        end = pattern.index("}", i)
        low, _, high = pattern[i + 1 : end].partition(",")
        return int(low), int(high or low), end + 1
    return 1, 1, i
