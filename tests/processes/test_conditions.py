"""The ``when:`` expression language: what it accepts, what it refuses, what it means."""

from __future__ import annotations

import pytest

from memory.errors import ConfigError
from tools.process_conditions import Condition


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("amount > 500", {"amount": 600.0}, True),
        ("amount > 500", {"amount": 500}, False),
        ("amount > 500", {"amount": "500.01"}, True),  # numeric strings compare as numbers
        ("amount >= 500 and amount <= 5000", {"amount": 5000}, True),
        ("amount > 5000 or urgent", {"amount": 10, "urgent": True}, True),
        ("not urgent", {"urgent": False}, True),
        ("leave_type in ('annual', 'unpaid', 'training')", {"leave_type": "unpaid"}, True),
        ("leave_type not in ('annual', 'unpaid')", {"leave_type": "sick"}, True),
        ("leave_type in ['annual']", {"leave_type": "sick"}, False),
        (
            "category == 'meals' and (amount > 60 or guests == 0)",
            {"category": "meals", "amount": 10, "guests": 0},
            True,
        ),
        ('country != "DE"', {"country": "FR"}, True),
        ("project_code == null", {}, True),
        ("amount > 500", {}, False),  # a missing value is neither above nor below anything
        ("amount < 500", {"amount": None}, False),
        ("flag == true", {"flag": True}, True),
        ("days > 3 and leave_type == 'annual'", {"days": 3.5, "leave_type": "annual"}, True),
    ],
)
def test_conditions_evaluate(text: str, values: dict[str, object], expected: bool) -> None:
    assert Condition.parse(text).evaluate(values) is expected


def test_condition_names_are_the_values_it_reads() -> None:
    condition = Condition.parse("amount > 500 and (category in ('meals') or not urgent)")
    assert condition.names == {"amount", "category", "urgent"}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "amount >",
        "amount > 500 500",
        "__import__('os').system('true')",
        "amount.real > 1",
        "amount in other_list",
        "(amount > 1",
        "amount ** 2 > 1",
        "amount in (a, b)",
    ],
)
def test_bad_conditions_are_refused_with_the_text(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        Condition.parse(text)
    assert repr(text) in str(info.value)
