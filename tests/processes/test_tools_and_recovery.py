"""The process tools as the agent calls them (through the audited registry), start-up recovery,
retrying a failed run, and what a broken process file says."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.errors import ConfigError
from memory.runs import RunStore
from tests.processes.conftest import Rig
from tests.processes.test_engine import approve, expense
from tools.process_defs import load_process_file
from tools.registry import ToolContext


def test_start_process_tool_starts_one_run_per_approval(rig: Rig) -> None:
    spec = rig.registry.get("start_process")
    assert spec.side_effect == "write" and spec.requires_approval
    args = {"name": "expense_reimbursement", "inputs": expense(50)}
    ctx = ToolContext(
        user="U_EMP", channel="C1", thread="T1", approval_id="A-feed", idempotency_key="A-feed"
    )
    first = rig.registry.call("start_process", args, ctx)
    replay = rig.registry.call("start_process", args, ctx)
    assert first.ok and replay.ok, first.content
    assert first.data["run_id"] == replay.data["run_id"] and first.data["status"] == "done"
    assert len(rig.engine.list_runs()) == 1 and len(rig.smtp.messages()) == 1
    status = rig.registry.call("process_status", {"run_id": first.data["reference"]}, ctx)
    assert status.ok and status.data["run_id"] == first.data["run_id"]
    assert "Start Expense reimbursement" in spec.summarize(
        rig.registry.validate("start_process", args)
    )


def test_start_process_tool_reports_bad_inputs_and_unknown_processes(rig: Rig) -> None:
    ctx = ToolContext(user="U_EMP", idempotency_key="A-1")
    bad = rig.registry.call(
        "start_process", {"name": "expense_reimbursement", "inputs": {"amount": -3}}, ctx
    )
    assert not bad.ok and bad.status == "invalid" and "amount" in bad.errors
    unknown = rig.registry.call("start_process", {"name": "payroll", "inputs": {}}, ctx)
    assert not unknown.ok and unknown.status == "invalid" and "payroll" in unknown.content
    described = rig.registry.call("describe_process", {"name": "leave_request"}, ctx)
    assert described.ok and "leave_type" in described.content
    assert rig.engine.list_runs() == []


def test_recover_resumes_running_runs_and_decided_approvals(rig: Rig) -> None:
    # A run whose approval was decided while nothing resumed it (the process died in between).
    waiting = rig.engine.start("expense_reimbursement", expense(700), requester="U_EMP")
    action = rig.engine.report(waiting.id).waiting_for
    assert action is not None
    rig.engine.approvals.decide(action.id, "U_MGR", "approve", user_roles=["manager"])
    # A run left 'running' half-way (its later steps never ran).
    store = RunStore(rig.db)
    stalled, _ = store.create(
        process="leave_request",
        prefix="LV",
        digits=5,
        requester="U_EMP",
        values={},
        min_number=90000,
    )
    assert stalled.reference == "LV-90001"
    undecided = rig.engine.start("expense_reimbursement", expense(900), requester="U_EMP")
    resumed = {run.id: run.status for run in rig.engine.recover()}
    assert resumed[waiting.id] == "done"
    assert resumed[stalled.id] == "failed"  # its inputs were never given: it stops and says why
    assert undecided.id not in resumed
    assert rig.engine.runs.get(undecided.id).status == "waiting_approval"
    assert len(rig.smtp.messages()) == 1


def test_a_failed_run_can_be_retried_from_the_failed_step(rig: Rig) -> None:
    run = rig.engine.start("expense_reimbursement", expense(800), requester="U_EMP")
    action = rig.engine.report(run.id).waiting_for
    assert action is not None
    sheet = rig.settings.workspace / "sheets" / "expenses.xlsx"
    saved = sheet.read_bytes()
    sheet.unlink()  # the ledger went missing while the approval waited
    failed = approve(rig, action.id, "U_MGR", "manager")
    assert failed.status == "failed" and failed.current_step == "mark_approved"
    assert any("stopped at step 'mark_approved'" in msg for _, msg in rig.told)
    assert rig.smtp.messages() == []
    sheet.write_bytes(saved)  # restored (with the claim's row, written before the approval)
    retried = rig.engine.retry(run.reference or "")
    assert retried.status == "done"
    assert rig.engine.runs.steps(run.id)["mark_approved"].attempts == 2
    assert len(rig.smtp.messages()) == 1
    with pytest.raises(Exception, match="not failed"):
        rig.engine.retry(rig.engine.start("expense_reimbursement", expense(20), requester="U").id)


def test_broken_process_files_are_refused_with_their_name(tmp_path: Path) -> None:
    cases = {
        "dup.yaml": "title: T\nreference: {prefix: X}\nsteps:\n  - {id: a, type: notify, message: hi}\n  - {id: a, type: notify, message: ho}\n",
        "cond.yaml": "title: T\nreference: {prefix: X}\nsteps:\n  - {id: a, type: notify, message: hi, when: 'amount >'}\n",
        "tmpl.yaml": "title: T\nreference: {prefix: X}\nsteps:\n  - {id: a, type: notify, message: '{{ oops'}\n",
        "kind.yaml": "title: T\nreference: {prefix: X}\nsteps:\n  - {id: a, type: teleport}\n",
        "mail.yaml": "title: T\nreference: {prefix: X}\nsteps:\n  - {id: a, type: email, to: a@acme.example}\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=rf"{name}, line \d+: ") as caught:
            load_process_file(path)
        assert "Traceback" not in str(caught.value)
