"""The process engine over real parts: submissions in SQLite, rows in xlsx read back with
openpyxl, mail through a real SMTP server, approvals through the approval store."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from memory.errors import NotFound, PolicyDenied, ToolArgumentError
from tests.processes.conftest import Rig

TODAY = date.today()


def expense(amount: float, **extra: Any) -> dict[str, Any]:
    return {
        "expense_date": (TODAY - timedelta(days=3)).isoformat(),
        "category": "travel",
        "amount": amount,
        "description": "Train Berlin to Lyon for the customer audit",
        "receipt_attached": True,
        **extra,
    }


def sheet_rows(workspace: Path, name: str, tab: str, key: str) -> list[dict[str, Any]]:
    wb = openpyxl.load_workbook(workspace / "sheets" / name, read_only=True)
    rows = list(wb[tab].iter_rows(values_only=True))
    wb.close()
    header = rows[0]
    return [dict(zip(header, r, strict=False)) for r in rows[1:] if r[0] == key]


def approve(rig: Rig, action_id: str, user: str, role: str, decision: str = "approve") -> Any:
    rig.engine.approvals.decide(action_id, user, decision, user_roles=[role])  # type: ignore[arg-type]
    return rig.engine.resume_after_decision(action_id)


def test_small_claim_runs_through_without_approval(rig: Rig) -> None:
    run = rig.engine.start("expense_reimbursement", expense(42.5), requester="U_EMP")
    assert run.status == "done"
    assert run.reference is not None and run.reference.startswith("EXP-")
    rows = sheet_rows(rig.settings.workspace, "expenses.xlsx", "Claims", run.reference)
    assert len(rows) == 1 and rows[0]["Status"] == "submitted" and rows[0]["Amount"] == 42.5
    assert [e[1] for e in rig.smtp.envelopes()] == [["finance@acme.example"]]
    assert run.reference in rig.smtp.subjects()[0]
    steps = rig.engine.runs.steps(run.id)
    assert steps["manager_approval"].status == "skipped"
    assert steps["director_approval"].status == "skipped"
    assert len(rig.told) == 1 and "for review" in rig.told[0][1]


def test_large_claim_waits_for_the_manager_then_finishes(rig: Rig) -> None:
    run = rig.engine.start("expense_reimbursement", expense(750), requester="U_EMP")
    assert run.status == "waiting_approval"
    report = rig.engine.report(run.id)
    assert report.waiting_for is not None and report.waiting_for.role == "manager"
    assert rig.smtp.messages() == []  # nothing goes to finance before the approval
    done = approve(rig, report.waiting_for.id, "U_MGR", "manager")
    assert done.status == "done"
    row = sheet_rows(rig.settings.workspace, "expenses.xlsx", "Claims", run.reference or "")[0]
    assert (row["Status"], row["Approved By"]) == ("approved", "U_MGR")
    assert len(rig.smtp.messages()) == 1
    assert "Approved by: U_MGR" in rig.smtp.messages()[0].get_content()
    assert rig.engine.approvals.get(report.waiting_for.id).status == "done"


def test_a_claim_above_5000_needs_the_director_as_well(rig: Rig) -> None:
    run = rig.engine.start("expense_reimbursement", expense(6200), requester="U_EMP")
    first = rig.engine.report(run.id).waiting_for
    assert first is not None and first.role == "manager"
    waiting = approve(rig, first.id, "U_MGR", "manager")
    second = rig.engine.report(waiting.id).waiting_for
    assert waiting.status == "waiting_approval" and second is not None and second.role == "director"
    assert approve(rig, second.id, "U_DIR", "director").status == "done"


def test_a_rejection_ends_the_run_and_tells_the_requester(rig: Rig) -> None:
    run = rig.engine.start("expense_reimbursement", expense(900), requester="U_EMP")
    action = rig.engine.report(run.id).waiting_for
    assert action is not None
    ended = approve(rig, action.id, "U_MGR", "manager", "reject")
    assert ended.status == "rejected"
    row = sheet_rows(rig.settings.workspace, "expenses.xlsx", "Claims", run.reference or "")[0]
    assert row["Status"] == "rejected"
    assert rig.smtp.messages() == []
    assert any("rejected by U_MGR" in msg for _, msg in rig.told)


def test_bad_inputs_name_every_problem_and_store_nothing(rig: Rig) -> None:
    with pytest.raises(ToolArgumentError) as info:
        rig.engine.start(
            "expense_reimbursement", {"category": "yachts", "amount": "lots"}, requester="U_EMP"
        )
    assert {"category", "amount", "expense_date", "description"} <= set(info.value.errors)
    assert rig.engine.list_runs() == []
    outcome = rig.engine.start_from_surface("expense_reimbursement", {}, requester="U_EMP")
    assert outcome.run_id is None and "amount" in outcome.errors


def test_one_run_per_idempotency_key(rig: Rig) -> None:
    first = rig.engine.start(
        "expense_reimbursement", expense(30), requester="U", idempotency_key="A-1"
    )
    again = rig.engine.start(
        "expense_reimbursement", expense(30), requester="U", idempotency_key="A-1"
    )
    assert again.id == first.id
    assert len(rig.engine.list_runs()) == 1 and len(rig.smtp.messages()) == 1


def test_sick_leave_is_recorded_without_approval(rig: Rig) -> None:
    inputs = {
        "leave_type": "sick",
        "start_date": TODAY.isoformat(),
        "end_date": TODAY.isoformat(),
        "days": 1,
    }
    run = rig.engine.start("leave_request", inputs, requester="U_EMP")
    assert run.status == "done" and (run.reference or "").startswith("LV-")
    row = sheet_rows(rig.settings.workspace, "leave.xlsx", "Requests", run.reference or "")[0]
    assert row["Status"] == "recorded"
    assert [e[1] for e in rig.smtp.envelopes()] == [["hr@acme.example"]]


def test_annual_leave_needs_the_manager(rig: Rig) -> None:
    start = TODAY + timedelta(days=30)
    inputs = {
        "leave_type": "annual",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=4)).isoformat(),
        "days": 5,
    }
    run = rig.engine.start("leave_request", inputs, requester="U_EMP")
    action = rig.engine.report(run.id).waiting_for
    assert action is not None and action.role == "manager"
    assert approve(rig, action.id, "U_MGR", "manager").status == "done"
    row = sheet_rows(rig.settings.workspace, "leave.xlsx", "Requests", run.reference or "")[0]
    assert (row["Status"], row["Approver"]) == ("approved", "U_MGR (manager)")


def vendor(spend: float) -> dict[str, Any]:
    return {
        "legal_name": "Nordic Bearings AB", "vat_id": "SE556677889901", "country": "SE",
        "contact_name": "Astrid Lund", "contact_email": "astrid@nordic-bearings.example",
        "category": "raw_materials", "expected_annual_spend": spend, "iban": "SE4550000000058398257466",
    }  # fmt: skip


def test_vendor_onboarding_with_procurement_and_finance(rig: Rig) -> None:
    run = rig.engine.start("vendor_onboarding", vendor(25000), requester="U_BUYER")
    assert (run.reference or "").startswith("V-")
    review = rig.engine.report(run.id).waiting_for
    assert review is not None and review.role == "procurement"
    with pytest.raises(Exception, match="needs the 'procurement' role"):
        rig.engine.approvals.decide(review.id, "U_EMP", "approve", user_roles=[])
    finance = rig.engine.report(approve(rig, review.id, "U_PROC", "procurement").id).waiting_for
    assert finance is not None and finance.role == "finance"
    assert approve(rig, finance.id, "U_FIN", "finance").status == "done"
    row = sheet_rows(rig.settings.workspace, "vendors.xlsx", "Vendors", run.reference or "")[0]
    assert row["Status"] == "active" and row["Onboarded"] is not None
    rcpts = [e[1] for e in rig.smtp.envelopes()]
    assert rcpts == [["astrid@nordic-bearings.example"], ["procurement@acme.example"]]


def test_cancel_stops_a_waiting_run_and_a_late_approval_does_nothing(rig: Rig) -> None:
    run = rig.engine.start("expense_reimbursement", expense(800), requester="U_EMP")
    with pytest.raises(PolicyDenied):
        rig.engine.cancel(run.id, "U_OTHER")
    assert rig.engine.cancel(run.reference or "", "U_EMP").status == "cancelled"
    action = rig.engine.report(run.id).waiting_for
    assert action is not None
    assert approve(rig, action.id, "U_MGR", "manager").status == "cancelled"
    assert rig.smtp.messages() == []
    with pytest.raises(ToolArgumentError, match="already cancelled"):
        rig.engine.cancel(run.id, "U_EMP")


def test_status_report_and_unknown_runs(rig: Rig) -> None:
    run = rig.engine.start("expense_reimbursement", expense(600), requester="U_EMP")
    text = rig.engine.describe_run(run.reference or "")
    assert "waiting for manager approval" in text and run.id in text
    data = rig.engine.report(run.id).as_dict()
    assert data["status"] == "waiting_approval" and "_inputs" not in data["values"]
    with pytest.raises(NotFound):
        rig.engine.describe_run("R-nothere")


def test_describe_lists_the_form_fields_and_steps(rig: Rig) -> None:
    description = rig.engine.describe("expense_reimbursement")
    assert [f.name for f in description.fields][:3] == ["expense_date", "category", "amount"]
    assert any(
        s["when"] == "amount > 500" and s.get("role") == "manager" for s in description.steps
    )
    assert "amount" in description.text()
    with pytest.raises(NotFound, match="expense_reimbursement"):
        rig.engine.describe("payroll")
