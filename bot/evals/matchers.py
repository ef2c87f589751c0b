"""Deciding whether a model's tool call, question or answer meets a case's expectation.

Values compare the way a person would read them: numbers by value (``42`` = ``42.0`` =
``"42.00"``), text without regard to case or surrounding space, objects key by key (an
absent key equals ``null``). Per-field matchers in ``expect.match`` replace exact equality for
the fields they name (dotted paths reach into nested objects, e.g. ``values.description``):
``{"equals": x}``, ``{"contains": "text"}``, ``{"regex": "..."}``, ``{"one_of": [...]}``,
``{"approx": 42, "tol": 0.5}`` or ``{"any": true}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", "").strip())
        except ValueError:
            return None
    return None


def values_equal(expected: Any, actual: Any) -> bool:
    """Equal as a person reads them (see the module docstring)."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return False
        keys = {k for k, val in expected.items() if val is not None} | {
            k for k, val in actual.items() if val is not None
        }
        return all(values_equal(expected.get(k), actual.get(k)) for k in keys)
    if isinstance(expected, list | tuple):
        if isinstance(actual, str) and len(expected) == 1:
            return values_equal(expected[0], actual)
        return (
            isinstance(actual, list | tuple)
            and len(expected) == len(actual)
            and all(values_equal(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual or str(expected).lower() == str(actual).lower()
    a, b = _number(expected), _number(actual)
    if a is not None and b is not None:
        return abs(a - b) < 1e-6
    if isinstance(expected, str) and isinstance(actual, str):
        return " ".join(expected.split()).casefold() == " ".join(actual.split()).casefold()
    return bool(expected == actual)


def matches(rule: Mapping[str, Any], actual: Any) -> bool:
    """One per-field matcher against a value (a missing value is ``None``)."""
    if rule.get("any"):
        return actual is not None
    text = "" if actual is None else str(actual)
    if "equals" in rule:
        return values_equal(rule["equals"], actual)
    if "contains" in rule:
        return str(rule["contains"]).casefold() in text.casefold()
    if "regex" in rule:
        return re.search(str(rule["regex"]), text) is not None
    if "one_of" in rule:
        return any(values_equal(option, actual) for option in rule["one_of"])
    if "approx" in rule:
        number = _number(actual)
        return number is not None and abs(number - float(rule["approx"])) <= float(
            rule.get("tol", 0.01)
        )
    raise ValueError(
        f"unknown matcher {dict(rule)!r}; use equals, contains, regex, one_of, approx or any"
    )


def _get(value: Any, path: str) -> Any:
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _without(value: Any, path: str) -> Any:
    """A copy of ``value`` without the field at ``path`` (so exact comparison skips it)."""
    head, _, rest = path.partition(".")
    if not isinstance(value, Mapping):
        return value
    out = dict(value)
    if rest:
        out[head] = _without(out.get(head), rest)
        if out[head] in (None, {}):  # every field of it was matched: nothing left to compare
            out.pop(head)
    else:
        out.pop(head, None)
    return out


def args_match(
    expected: Mapping[str, Any] | None,
    actual: Mapping[str, Any],
    rules: Mapping[str, Any] | None = None,
) -> bool:
    """True when ``actual`` meets every matcher and equals ``expected`` on every other field."""
    rules = dict(rules or {})
    exp: Any = dict(expected or {})
    act: Any = dict(actual)
    for path, rule in rules.items():
        if not matches(rule if isinstance(rule, Mapping) else {"equals": rule}, _get(actual, path)):
            return False
        exp, act = _without(exp, path), _without(act, path)
    # Without expected arguments only the matchers decide.
    return True if expected is None else values_equal(exp, act)


def fact_recall(facts: list[str], text: str) -> float:
    """Share of ``facts`` found in ``text`` (case-insensitive; a fact may list ``a|b`` variants)."""
    if not facts:
        return 1.0
    low = text.casefold()
    return sum(any(alt.strip().casefold() in low for alt in f.split("|")) for f in facts) / len(
        facts
    )


def asks_question(text: str, mentions: list[str] | None = None) -> bool:
    """A clarifying question: a question mark, and each expected word (``a|b`` variants)."""
    return "?" in text and fact_recall(list(mentions or []), text) == 1.0
