"""Forms: the demo definitions, every field type's validation, durable idempotent submissions."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import REPO_ROOT
from tools.forms import FieldDefinition, FormDefinition, load_forms, read_forms, validate_values
from tools.registry import ToolContext, ToolRegistry

EXPENSE = {
    "expense_date": "2026-03-10",
    "category": "Meals",
    "amount": "42,50 EUR",
    "description": "Lunch with a customer",
}


def test_demo_forms_follow_the_company_facts(workspace: Path) -> None:
    forms = load_forms(workspace)
    assert {
        "expense_claim",
        "leave_request",
        "vendor_onboarding",
        "purchase_request",
        "it_access",
    } <= set(forms)
    expense = forms["expense_claim"]
    assert expense.field("category").options == [
        "travel", "meals", "lodging", "transport", "office_supplies", "training", "client_entertainment", "other",
    ]  # fmt: skip
    assert expense.field("amount").currency == "EUR"
    assert forms["leave_request"].field("leave_type").options == [
        "annual",
        "sick",
        "parental",
        "unpaid",
        "compassionate",
        "training",
    ]
    assert forms["vendor_onboarding"].field("category").options == [
        "raw_materials", "logistics", "it_services", "professional_services", "facilities", "other",
    ]  # fmt: skip
    assert forms["it_access"].field("system").options == [
        "email",
        "erp",
        "crm",
        "hr_portal",
        "vpn",
        "github",
        "finance_reporting",
    ]
    assert forms["it_access"].field("access_level").options == ["read", "write", "admin"]


def test_every_field_error_is_reported_at_once_in_plain_words(workspace: Path) -> None:
    form = load_forms(workspace)["expense_claim"]
    _clean, errors = validate_values(
        form,
        {
            "expense_date": "next week",
            "category": "snacks",
            "amount": "12 USD",
            "project_code": "1234",
            "colour": "red",
        },
    )
    assert set(errors) == {
        "expense_date",
        "category",
        "amount",
        "description",
        "project_code",
        "colour",
    }
    assert errors["expense_date"] == "Expense date must be a date like 2026-03-14"
    assert errors["amount"] == "Amount must be in EUR (got USD)"
    assert errors["description"] == "Description is required"
    assert "PRJ-1234" in errors["project_code"]
    assert errors["category"].startswith("Category must be one of: travel, meals")


def test_clean_values_are_typed(workspace: Path) -> None:
    clean, errors = validate_values(load_forms(workspace)["expense_claim"], EXPENSE)
    assert errors == {}
    assert clean == {
        "expense_date": "2026-03-10",
        "category": "meals",
        "amount": 42.5,
        "description": "Lunch with a customer",
        "receipt_attached": False,
    }


def field(**kw: object) -> FormDefinition:
    return FormDefinition(name="f", title="F", fields=[FieldDefinition(name="x", label="X", **kw)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "raw", "expected"),
    [
        ({"type": "number", "min": 0, "max": 10, "decimals": 1}, "2.5", 2.5),
        ({"type": "number", "decimals": 0}, "7", 7),
        ({"type": "money", "currency": "EUR"}, "€ 1,234.50", 1234.5),
        ({"type": "date"}, "14.03.2026", "2026-03-14"),
        ({"type": "email"}, " Lena.Vogel@ACME.example ", "lena.vogel@acme.example"),
        ({"type": "choice", "options": ["read", "write"]}, "WRITE", "write"),
        ({"type": "multi_choice", "options": ["a", "b", "c"]}, "c, a, c", ["c", "a"]),
        ({"type": "boolean"}, "yes", True),
        ({"type": "user"}, "<@U01ABCDEF|lena>", "U01ABCDEF"),
        ({"type": "long_text"}, "line 1\nline 2", "line 1\nline 2"),
        ({"type": "text", "regex": "CC-[0-9]{3}"}, "CC-310", "CC-310"),
    ],
)
def test_field_types_accept_what_people_type(
    spec: dict[str, object], raw: object, expected: object
) -> None:
    clean, errors = validate_values(field(**spec), {"x": raw})
    assert errors == {} and clean == {"x": expected}


@pytest.mark.parametrize(
    ("spec", "raw", "message"),
    [
        ({"type": "number", "min": 0.5}, "0", "must be at least 0.5"),
        ({"type": "number", "max": 60}, "61", "must be at most 60"),
        ({"type": "number", "decimals": 1}, "1.25", "at most 1 decimal places"),
        ({"type": "number"}, "lots", "must be a number"),
        ({"type": "money", "currency": "EUR"}, "1.005", "cents"),
        ({"type": "email"}, "lena@", "must be an email address"),
        ({"type": "boolean"}, "perhaps", "must be yes or no"),
        ({"type": "user"}, "lena", "must be a Slack user"),
        ({"type": "multi_choice", "options": ["a"]}, "a, z", "must be one of: a"),
    ],
)
def test_field_types_refuse_with_a_reason(
    spec: dict[str, object], raw: object, message: str
) -> None:
    _, errors = validate_values(field(**spec), {"x": raw})
    assert message in errors["x"]


def test_end_date_may_not_precede_start_date(workspace: Path) -> None:
    form = load_forms(workspace)["leave_request"]
    _, errors = validate_values(
        form,
        {"leave_type": "annual", "start_date": "2026-05-08", "end_date": "2026-05-04", "days": 1},
    )
    assert errors == {"end_date": "End date cannot be before Start date"}


@pytest.mark.parametrize("name", ["acme", "harbourline"])
def test_a_broken_form_file_disables_that_form_only_naming_file_and_line(
    name: str, tmp_path: Path
) -> None:
    workspace = tmp_path / name
    shutil.copytree(REPO_ROOT / "examples" / name / "forms", workspace / "forms")
    good = set(read_forms(workspace)[0])
    (workspace / "forms" / "bad.yaml").write_text(
        "name: bad\ntitle: Bad\nfields:\n  - {name: x, label: X}\n  - {name: y, label: Y, type: colour}\n"
    )
    (workspace / "forms" / "worse.yaml").write_text("title: Worse\nfields: [unclosed\n")
    forms, problems = read_forms(workspace)
    assert set(forms) == good  # the other forms load
    assert problems == [
        "forms/bad.yaml, line 5: invalid: fields.1.type: Input should be 'text', 'long_text', "
        "'number', 'money', 'date', 'email', 'choice', 'multi_choice', 'boolean' or 'user'",
        "forms/worse.yaml, line 3: not valid YAML: expected ',' or ']', but got '<stream end>'",
    ]
    assert set(load_forms(workspace)) == good


def test_a_date_rule_refuses_a_future_expense_date(workspace: Path) -> None:
    form = load_forms(workspace)["expense_claim"]
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    _, errors = validate_values(form, {**EXPENSE, "expense_date": tomorrow})
    assert errors == {"expense_date": "Expense date cannot be after today"}
    _, errors = validate_values(form, {**EXPENSE, "expense_date": date.today().isoformat()})
    assert errors == {}


def test_submit_get_and_idempotency(registry: ToolRegistry, ctx: ToolContext) -> None:
    approved = ToolContext(
        user=ctx.user, channel=ctx.channel, approval_id="A-7", idempotency_key="A-7"
    )
    first = registry.call("submit_form", {"form": "expense_claim", "values": EXPENSE}, approved)
    again = registry.call("submit_form", {"form": "expense_claim", "values": EXPENSE}, approved)
    assert first.ok and again.ok
    sub_id = first.data["submission_id"]
    assert re.fullmatch(r"EXP-\d{5}", sub_id) and sub_id == "EXP-01001"
    assert again.data["submission_id"] == sub_id and "already submitted" in again.content
    other = registry.call(
        "submit_form",
        {"form": "expense_claim", "values": EXPENSE},
        ToolContext(user="U2", idempotency_key="A-8"),
    )
    assert other.data["submission_id"] == "EXP-01002"
    got = registry.call("get_submission", {"submission_id": sub_id}, ctx)
    assert got.ok and got.data["values"]["amount"] == 42.5 and got.data["submitter"] == ctx.user
    assert got.data["status"] == "submitted"


def test_purchase_order_ids_carry_the_year(registry: ToolRegistry, ctx: ToolContext) -> None:
    values = {"vendor": "V-0097", "description": "Steel", "amount": 1200, "cost_center": "CC-310"}
    result = registry.call("submit_form", {"form": "purchase_request", "values": values}, ctx)
    assert result.ok, result.content
    assert result.data["submission_id"] == f"PO-{datetime.now(UTC).year}-0101"
    assert result.data["values"]["quotes"] == 1  # the default


def test_invalid_submission_names_fields_and_stores_nothing(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    result = registry.call(
        "submit_form", {"form": "leave_request", "values": {"leave_type": "holiday"}}, ctx
    )
    assert not result.ok and {"leave_type", "start_date", "end_date", "days"} == set(result.errors)
    unknown = registry.call("submit_form", {"form": "timesheet", "values": {}}, ctx)
    assert not unknown.ok and "expense_claim" in unknown.content
    missing = registry.call("get_submission", {"submission_id": "EXP-99999"}, ctx)
    assert not missing.ok and "EXP-99999" in missing.content


def test_dry_run_validates_but_stores_nothing(registry: ToolRegistry, ctx: ToolContext) -> None:
    dry = ToolContext(user=ctx.user, dry_run=True)
    result = registry.call("submit_form", {"form": "expense_claim", "values": EXPENSE}, dry)
    assert result.ok and result.content.startswith("Would submit")
    real = registry.call("submit_form", {"form": "expense_claim", "values": EXPENSE}, ctx)
    assert real.data["submission_id"] == "EXP-01001"


def test_list_and_describe_forms(registry: ToolRegistry, ctx: ToolContext) -> None:
    listing = registry.call("list_forms", {}, ctx)
    assert "expense_claim: Expense claim" in listing.content
    described = registry.call("describe_form", {"form": "it_access"}, ctx)
    assert "access_level" in described.content and "one of read, write, admin" in described.content
    assert described.data["form"]["fields"][0]["name"] == "system"
