"""Crash tests: a run is killed with SIGKILL (a real subprocess) at step boundaries, and at
every I/O point (``tests.processes.fault_harness``), and each restart, in a fresh process,
resumes it. Whatever the moment of death, exactly one email per email step reaches the SMTP
server, the form is submitted once, and no sheet row is doubled.

The kills are chained: the first process dies at the first boundary, its successor resumes
and dies at the next one, and so on; a last process finishes the run. Each boundary is thus
crossed once by a process that dies there and once by a fresh one that resumes from it.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from memory.db import Database
from tests.fakes.smtp import SmtpServer
from tests.processes import fault_harness as fh
from tests.processes.crash_driver import drive
from tests.processes.test_engine import expense, vendor

# (step, moment): "applied" = effect done, not yet recorded; "done" = recorded;
# "decided" = the approval is stored, the run not yet resumed.
EXPENSE_KILLS = [
    ("submit", "applied"),
    ("submit", "done"),
    ("policy", "done"),
    ("record", "applied"),
    ("record", "done"),
    ("manager_approval", "decided"),
    ("manager_approval", "done"),  # between the approval and the email to finance
    ("director_approval", "done"),
    ("mark_approved", "applied"),
    ("mark_approved", "done"),
    ("email_finance", "applied"),
    ("email_finance", "done"),
    ("tell_requester", "applied"),
]
VENDOR_KILLS = [
    ("record", "applied"),
    ("procurement_review", "decided"),
    ("finance_approval", "done"),
    ("activate", "applied"),
    ("welcome_vendor", "applied"),
    ("welcome_vendor", "done"),
    ("notify_procurement", "applied"),
]


# Children are forked from a server that preloaded the tools: fast restarts, real processes.
_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["tests.processes.crash_driver"])


def in_fresh_process(workspace: Path, data_dir: Path, smtp: SmtpServer, **options: Any) -> int:
    """Run ``crash_driver.drive`` in a new OS process; its exit code (-9 when it killed itself)."""
    child = _CTX.Process(target=drive, args=(workspace, data_dir, smtp.port), kwargs=options)
    child.start()
    child.join(timeout=120)
    assert child.exitcode is not None, "the driver process hung"
    return child.exitcode


def run_with_kills(
    workspace: Path,
    data_dir: Path,
    smtp: SmtpServer,
    process: str,
    inputs: dict[str, Any],
    kills: list[tuple[str, str]],
) -> dict[str, Any]:
    start: dict[str, Any] = {"start": process, "inputs": inputs}
    report_file = data_dir / "report.json"
    for step, moment in kills:
        code = in_fresh_process(
            workspace, data_dir, smtp, kill_at=f"{step}:{moment}", report_to=report_file, **start
        )
        if code != -signal.SIGKILL:
            ended = report_file.read_text(encoding="utf-8") if report_file.exists() else "no report"
            pytest.fail(f"the run did not reach {step}:{moment} (exit {code}); it ended: {ended}")
        start = {}  # every later process recovers the run instead of starting one
    assert in_fresh_process(workspace, data_dir, smtp, report_to=report_file) == 0
    return dict(json.loads(report_file.read_text(encoding="utf-8")))


def rows_with(workspace: Path, sheet: str, tab: str, key: str) -> list[tuple[Any, ...]]:
    wb = openpyxl.load_workbook(workspace / "sheets" / sheet, read_only=True)
    rows = [r for r in wb[tab].iter_rows(values_only=True) if r and r[0] == key]
    wb.close()
    return rows


def count(data_dir: Path, sql: str, *params: Any) -> int:
    with Database(data_dir / "state.db").reading() as conn:
        return int(conn.execute(sql, params).fetchone()[0])


@pytest.mark.slow
def test_expense_claim_survives_a_kill_at_every_step_boundary(
    workspace: Path, data_dir: Path, smtp_server: SmtpServer
) -> None:
    report = run_with_kills(
        workspace, data_dir, smtp_server, "expense_reimbursement", expense(750), EXPENSE_KILLS
    )
    assert report["status"] == "done"
    reference = report["reference"]
    # Exactly one email reached the SMTP server, and it is the claim's.
    assert [e[1] for e in smtp_server.envelopes()] == [["finance@acme.example"]]
    assert reference in smtp_server.subjects()[0]
    # The form was submitted once, under the run's step key.
    assert count(data_dir, "SELECT COUNT(*) FROM form_submissions") == 1
    assert count(data_dir, "SELECT COUNT(*) FROM form_submissions WHERE id = ?", reference) == 1
    # One ledger row, approved by the manager.
    rows = rows_with(workspace, "expenses.xlsx", "Claims", reference)
    assert len(rows) == 1 and rows[0][9:11] == ("approved", "U_MGR")
    # One run, one approval (done), one notice for the requester.
    assert count(data_dir, "SELECT COUNT(*) FROM process_runs") == 1
    assert count(data_dir, "SELECT COUNT(*) FROM pending_actions WHERE status = 'done'") == 1
    assert count(data_dir, "SELECT COUNT(*) FROM pending_actions") == 1
    assert len(report["notices"]) == 1
    # The steps that were cut off after their effect were attempted twice, and only recorded once.
    attempts = {s["id"]: s["attempts"] for s in report["steps"]}
    assert attempts["record"] == 2 and attempts["email_finance"] == 2 and attempts["submit"] == 2


@pytest.mark.slow
def test_vendor_onboarding_survives_kills_around_approvals_and_emails(
    workspace: Path, data_dir: Path, smtp_server: SmtpServer
) -> None:
    report = run_with_kills(
        workspace, data_dir, smtp_server, "vendor_onboarding", vendor(25000), VENDOR_KILLS
    )
    assert report["status"] == "done"
    rcpts = [e[1] for e in smtp_server.envelopes()]
    assert rcpts == [["astrid@nordic-bearings.example"], ["procurement@acme.example"]]
    rows = rows_with(workspace, "vendors.xlsx", "Vendors", report["reference"])
    assert len(rows) == 1 and rows[0][7] == "active"
    assert count(data_dir, "SELECT COUNT(*) FROM form_submissions") == 1
    assert count(data_dir, "SELECT COUNT(*) FROM pending_actions WHERE status = 'done'") == 2


VENDOR_FORM = fh.Scenario("vendor_form", start=("vendor_onboarding", vendor(25000)), emails=2)


def vendor_settled(workspace: Path, data_dir: Path) -> None:
    with Database(data_dir / "state.db").reading() as conn:
        [(reference, status)] = conn.execute("SELECT reference, status FROM process_runs")
    assert status == "done"
    rows = rows_with(workspace, "vendors.xlsx", "Vendors", reference)
    assert len(rows) == 1 and rows[0][7] == "active"
    assert count(data_dir, "SELECT COUNT(*) FROM form_submissions") == 1
    assert count(data_dir, "SELECT COUNT(*) FROM pending_actions WHERE status = 'done'") == 2
    assert count(data_dir, "SELECT COUNT(*) FROM pending_actions") == 2


@pytest.mark.slow
@pytest.mark.timeout(900)  # a child process per I/O point: over 300 s on a slow 2-core machine
def test_a_process_run_with_approvals_survives_a_kill_at_every_io_point(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """A vendor onboarding a person submitted (two approvals, two emails, two sheet writes):
    killed at each I/O point in a fresh process, restarted, finished."""
    check_url = smtp_server.start_imap()
    figures = fh.kill_everywhere(VENDOR_FORM, tmp_path, smtp_server, check_url, vendor_settled)
    print(f"\nvendor_form: {figures}")
    assert figures["points"] >= 40
    assert figures == {**figures, "lost": 0, "doubled": 0, "unknown": 0, "untruths": 0, "untold": 0}
