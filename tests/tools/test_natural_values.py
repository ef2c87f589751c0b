"""Values as people write them, read in the company's style (tools/natural_values.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.field_values import coerce_field
from tools.forms import FieldDefinition
from tools.natural_values import (
    format_date,
    parse_amount,
    parse_date,
    parse_money,
    spell_date,
)

TODAY = date(2026, 12, 2)  # a Wednesday


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("today", date(2026, 12, 2)),
        ("Yesterday", date(2026, 12, 1)),
        ("tomorrow.", date(2026, 12, 3)),
        ("the day before yesterday", date(2026, 11, 30)),
        ("3 days ago", date(2026, 11, 29)),
        ("a week ago", date(2026, 11, 25)),
        ("in two weeks", date(2026, 12, 16)),
        ("last Friday", date(2026, 11, 27)),
        ("last wednesday", date(2026, 11, 25)),  # today is a Wednesday: a week ago
        ("next Monday", date(2026, 12, 7)),
        ("2026-03-14", date(2026, 3, 14)),
        ("2026/3/4", date(2026, 3, 4)),
        ("14/03/2026", date(2026, 3, 14)),
        ("14.03.26", date(2026, 3, 14)),
        ("28/11", date(2026, 11, 28)),
        ("14 October", date(2026, 10, 14)),
        ("14 March", date(2027, 3, 14)),  # without a year: the one nearest today
        ("14th of March 2025", date(2025, 3, 14)),
        ("March 14, 2026", date(2026, 3, 14)),
        ("Sat 14 March 2026", date(2026, 3, 14)),
        ("3 Jan", date(2027, 1, 3)),  # in December, early January is next year's
        ("28 nov", date(2026, 11, 28)),
        ("29 February 2028", date(2028, 2, 29)),
        ("this Wednesday", date(2026, 12, 2)),  # today is one
        ("this Friday", date(2026, 12, 4)),
        ("this monday", date(2026, 12, 7)),  # the coming one
        ("Friday 04/12", date(2026, 12, 4)),
        ("Fri 2026-12-04", date(2026, 12, 4)),
    ],
)
def test_dates_people_write(text: str, want: date) -> None:
    assert parse_date(text, TODAY, "DMY") == want


@pytest.mark.parametrize(
    "text",
    [
        "lots",
        "",
        "may",
        "friday",
        "31 February",
        "Friday 14 March 2026",
        "14/13/2026",
        "2",
        "soon",
        "Monday 04/12",
        "this week",
    ],
)
def test_what_is_not_certainly_a_date_is_refused(text: str) -> None:
    assert parse_date(text, TODAY, "DMY") is None


def test_numeric_dates_follow_the_company_order() -> None:
    assert parse_date("03/04/2026", TODAY, "DMY") == date(2026, 4, 3)
    assert parse_date("03/04/2026", TODAY, "MDY") == date(2026, 3, 4)
    assert parse_date("2026-04-03", TODAY, "MDY") == date(2026, 4, 3)  # ISO is ISO everywhere
    assert format_date(date(2026, 4, 3), "DMY") == "03/04/2026"
    assert format_date(date(2026, 4, 3), "MDY") == "04/03/2026"
    assert format_date(date(2026, 4, 3), "YMD") == "2026-04-03"
    assert spell_date(date(2026, 12, 1)) == "Tuesday 1 December 2026"


@pytest.mark.parametrize(
    ("text", "separator", "want"),
    [
        ("42", ".", Decimal("42")),
        ("31,50", ".", Decimal("31.50")),
        ("31,50", ",", Decimal("31.50")),
        ("1,234", ".", Decimal("1234")),
        ("1,234", ",", Decimal("1.234")),
        ("1.234", ",", Decimal("1234")),
        ("1,234.50", ".", Decimal("1234.50")),
        ("1.234,50", ".", Decimal("1234.50")),
        ("1 234,50", ",", Decimal("1234.50")),
        ("1'234.50", ".", Decimal("1234.50")),
        ("1,234,567", ".", Decimal("1234567")),
        ("0,500", ".", Decimal("0.500")),
        ("-5", ".", Decimal("-5")),
        (".5", ".", Decimal("0.5")),
        ("1.5k", ".", Decimal("1500")),
        ("1,5k", ",", Decimal("1500")),
        ("12 K", ".", Decimal("12000")),
    ],
)
def test_amounts_people_write(text: str, separator: str, want: Decimal) -> None:
    assert parse_amount(text, separator) == want  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["lots", "1,2,3", "12 34", "1.2.3,4", "", "4 2", "EUR", "1,23.4", "k", "5kk"]
)
def test_what_is_not_certainly_an_amount_is_refused(text: str) -> None:
    assert parse_amount(text, ".") is None


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("£31,50", (Decimal("31.50"), "GBP")),
        ("31.50 GBP", (Decimal("31.50"), "GBP")),
        ("EUR 42", (Decimal("42"), "EUR")),
        ("42 €", (Decimal("42"), "EUR")),
        ("42 euros", (Decimal("42"), "EUR")),
        ("12 pounds", (Decimal("12"), "GBP")),
        ("620", (Decimal("620"), None)),
        ("€1.5k", (Decimal("1500"), "EUR")),
        ("2k GBP", (Decimal("2000"), "GBP")),
    ],
)
def test_money_with_its_currency(text: str, want: tuple[Decimal, str | None]) -> None:
    assert parse_money(text, ".") == want


def test_money_with_two_currencies_is_refused() -> None:
    assert parse_money("EUR 42 GBP", ".") is None


def money_field(currency: str) -> FieldDefinition:
    return FieldDefinition(name="amount", label="Amount", type="money", currency=currency, min=0.01)


@pytest.mark.parametrize("currency", ["EUR", "GBP"])
def test_what_is_read_passes_the_form_validation(currency: str) -> None:
    money = parse_money(f"31,50 {currency}", ".")
    assert money is not None
    assert coerce_field(money_field(currency), f"{money[0]} {money[1]}") == 31.5
    day = parse_date("yesterday", TODAY)
    assert day is not None
    assert coerce_field(FieldDefinition(name="d", label="Date", type="date"), day) == "2026-12-01"


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False))
def test_grouped_amounts_read_back(value: Decimal) -> None:
    assert parse_amount(f"{value:,.2f}", ".") == value
    continental = f"{value:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    assert parse_amount(continental, ",") == value


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_formatted_dates_read_back_in_every_order(value: date) -> None:
    for order in ("DMY", "MDY", "YMD"):
        assert parse_date(format_date(value, order), TODAY, order) == value  # type: ignore[arg-type]
