"""Exactly once across a crash at every I/O point of every agent write tool.

Each agent write tool (send_email, append_sheet_row, update_sheet_row, submit_form and
start_process, whose run waits for a manager and then mails finance) is proposed, approved by
the person least privilege names (the requester only for their own submission or run) and
executed. The harness (``tests.processes.fault_harness``) records every I/O point that path
crosses and kills a fresh process (SIGKILL) at each one in turn; a restart then recovers and
finishes. Whatever the point: exactly one email at the real SMTP server, one row, one
submission, and a person is never told something is done that is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from memory.db import Database
from tests.fakes.smtp import SmtpServer, smtp_server  # noqa: F401  (a fixture)
from tests.processes import fault_harness as fh
from tests.processes.test_engine import expense

CLAIM_ROW = {"Claim ID": "EXP-09001", "Employee": "U_EMP", "Amount": 12, "Status": "submitted"}
SCENARIOS = [
    fh.Scenario("send_email", action=("send_email", {
        "to": ["finance@acme.example"], "subject": "Claim EXP-01001", "body": "Please pay.",
    }), emails=1),
    fh.Scenario("append_sheet_row", action=(
        "append_sheet_row", {"path": "expenses.xlsx", "sheet": "Claims", "values": CLAIM_ROW},
    )),
    fh.Scenario("update_sheet_row", action=("update_sheet_row", {
        "path": "expenses.xlsx", "key_column": "Claim ID", "key_value": "EXP-00996",
        "values": {"Status": "paid"},
    })),
    fh.Scenario("submit_form", action=("submit_form", {"form": "expense_claim", "values": expense(42)})),
    fh.Scenario("start_process", action=(
        "start_process", {"name": "expense_reimbursement", "inputs": expense(750)},
    ), emails=1),
]  # fmt: skip


def claim_rows(workspace: Path, key: str) -> list[tuple[Any, ...]]:
    book = openpyxl.load_workbook(workspace / "sheets" / "expenses.xlsx", read_only=True)
    rows = [r for r in book["Claims"].iter_rows(values_only=True) if r and r[0] == key]
    book.close()
    return rows


def settled(name: str) -> fh.Check:
    """The invariants once everything happened: each effect exactly once, all actions done."""

    def check(workspace: Path, data_dir: Path) -> None:
        assert (
            fh.count(data_dir, "SELECT COUNT(*) FROM pending_actions WHERE status != 'done'") == 0
        )
        if name == "append_sheet_row":
            assert len(claim_rows(workspace, "EXP-09001")) == 1
        if name == "update_sheet_row":
            [row] = claim_rows(workspace, "EXP-00996")
            assert row[9] == "paid"
        if name in ("submit_form", "start_process"):
            assert fh.count(data_dir, "SELECT COUNT(*) FROM form_submissions") == 1
        if name == "start_process":
            with Database(data_dir / "state.db").reading() as conn:
                [(reference, status)] = conn.execute("SELECT reference, status FROM process_runs")
            [row] = claim_rows(workspace, reference)
            assert status == "done" and row[9:11] == ("approved", "U_MGR")
            told = "SELECT COUNT(*) FROM process_run_notices WHERE step_id = 'tell_requester'"
            assert fh.count(data_dir, told) == 1

    return check


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_io_point_of_an_agent_write_tool_survives_a_kill(
    scenario: fh.Scenario,
    tmp_path: Path,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    check_url = smtp_server.start_imap()
    figures = fh.kill_everywhere(scenario, tmp_path, smtp_server, check_url, settled(scenario.name))
    print(f"\n{scenario.name}: {figures}")
    assert figures["points"] >= 9
    assert figures == {**figures, "lost": 0, "doubled": 0, "unknown": 0, "untruths": 0, "untold": 0}


@pytest.mark.slow
def test_without_a_delivery_check_an_unconfirmed_send_waits_for_a_person(
    tmp_path: Path,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    """Where the server cannot be asked, a send cut off after its data is never resent blindly:
    it is marked for a person and its requester is told so; nothing is ever sent twice."""
    figures = fh.kill_everywhere(SCENARIOS[0], tmp_path, smtp_server, check_url=None)
    print(f"\nsend_email without a check: {figures}")
    assert figures["doubled"] == 0 and figures["untruths"] == 0 and figures["untold"] == 0
    assert figures["unknown"] >= 1  # the kills between the final dot and its record
    assert figures["lost"] <= figures["unknown"]  # a message not sent is one a person was told of
