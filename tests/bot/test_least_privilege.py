"""Least privilege by default, on both demo workspaces.

Nobody approves their own write to a shared ledger or to company mail, whatever roles they
hold: those actions wait for someone else with the tool's approver role (``admin`` unless the
policy names one). A requester confirms only actions on their own behalf: their own form
submission, their own process start. A process approval is never decided by the requester,
even one who holds the step's role. Every refusal is logged; the audit of an approved action
names the action, the requester and the person who decided it.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.config import REPO_ROOT, Settings
from bot.events import Error, Final
from memory.audit import AuditLog
from tests.processes import fault_harness as fh
from tools.process_defs import AppendRowStep
from tools.registry import ToolContext
from tools.workspace import load_profile

REQUESTER, OTHER_ADMIN, FINANCE = "U_REQ", "U_ADMIN", "U_FIN"
DAY = (date.today() - timedelta(days=2)).isoformat()
# A run of each workspace's first process that needs a role's approval, and that role.
RUNS: dict[str, tuple[str, dict[str, Any], str]] = {
    "acme": ("expense_reimbursement", {
        "expense_date": DAY, "category": "travel", "amount": 750,
        "description": "Train to the customer audit", "receipt_attached": True,
    }, "manager"),
    "harbourline": ("overtime_approval", {
        "shift_date": DAY, "depot": "felixstowe", "hours": 2, "reason": "vessel_delay",
        "week_total_hours": 44, "rate": "time_and_half",
    }, "shift_supervisor"),
}  # fmt: skip


@pytest.fixture(params=sorted(RUNS))
def world(request: pytest.FixtureRequest, tmp_path: Path) -> fh.World:
    name = str(request.param)
    workspace = tmp_path / name
    shutil.copytree(REPO_ROOT / "examples" / name, workspace, ignore=shutil.ignore_patterns("docs"))
    role = RUNS[name][2]
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, workspace=workspace, data_dir=tmp_path / "data",
        # The requester holds every role there is: still never their own approver.
        roles={"admin": [REQUESTER, OTHER_ADMIN], role: [REQUESTER, "U_LEAD"], "finance": [FINANCE]},
    )  # fmt: skip
    (tmp_path / "data").mkdir()
    built = fh.build_world(settings)
    built.app.workspace_name = name
    return built


def ledger(world: fh.World) -> AppendRowStep:
    """The workspace's first ledger that a process appends to (its file, tab, key column)."""
    steps = [s for p in world.engine.definitions().values() for s in p.steps]
    return next(s for s in steps if isinstance(s, AppendRowStep))


def existing_key(world: fh.World, step: AppendRowStep) -> str:
    path = world.settings.workspace / "sheets" / step.sheet
    book = openpyxl.load_workbook(path, read_only=True)
    rows = list(book[step.tab or book.sheetnames[0]].iter_rows(values_only=True))
    book.close()
    column = list(rows[0]).index(step.key_column)
    return str(rows[1][column])


def shared_writes(world: fh.World) -> list[tuple[str, dict[str, Any]]]:
    step = ledger(world)
    tab = {"sheet": step.tab} if step.tab else {}
    key = existing_key(world, step)
    mailbox = next(iter(load_profile(world.settings.workspace).mailboxes.values()))
    return [
        ("append_sheet_row", {"path": step.sheet, **tab, "values": {step.key_column: "T-1"}}),
        ("update_sheet_row", {"path": step.sheet, **tab, "key_column": step.key_column,
                              "key_value": key, "values": {step.key_column: key}}),
        ("send_email", {"to": [mailbox], "subject": "Ledger note", "body": "See the ledger."}),
    ]  # fmt: skip


def propose(world: fh.World, tool: str, arguments: dict[str, Any]) -> Any:
    ctx = ToolContext(user=REQUESTER, channel="C1", thread="T1")
    args = world.runner.registry.precheck(tool, arguments, ctx)
    return world.runner.propose(world.runner.registry.get(tool), args, ctx, [])


def decide(world: fh.World, action_id: str, user: str) -> list[Any]:
    events: list[Any] = []
    world.runner.decide(events.append, action_id, user, "approve")
    return events


def test_nobody_approves_their_own_shared_write(world: fh.World) -> None:
    attempts = refused = 0
    for tool, arguments in shared_writes(world):
        request = propose(world, tool, arguments)
        assert request.role == "admin" and REQUESTER not in request.approvers
        assert OTHER_ADMIN in request.approvers
        assert request.action_id not in [a.id for a in world.runner.pending_for(REQUESTER)]
        attempts += 1
        [event] = decide(world, request.action_id, REQUESTER)
        refused += isinstance(event, Error) and "nobody approves their own" in event.message
        assert world.approvals.get(request.action_id).status == "pending"
        assert isinstance(decide(world, request.action_id, OTHER_ADMIN)[-1], Final)
        assert world.approvals.get(request.action_id).status == "done"
    assert attempts == refused == 3  # refused 100%


def test_the_policy_names_who_approves_a_tool_never_the_requester(world: fh.World) -> None:
    world.runner.registry.policy.rules["append_sheet_row"] = {
        "users": frozenset(), "roles": frozenset(), "channels": frozenset(),
        "approvers": frozenset({"finance"}),
    }  # fmt: skip
    tool, arguments = shared_writes(world)[0]
    request = propose(world, tool, arguments)
    assert request.role == "finance" and request.approvers == (FINANCE,)
    assert isinstance(decide(world, request.action_id, OTHER_ADMIN)[0], Error)  # admin is not it
    assert isinstance(decide(world, request.action_id, FINANCE)[-1], Final)


def test_a_requester_confirms_only_their_own_submission_and_run(world: fh.World) -> None:
    name, inputs, _ = RUNS[str(world.app.workspace_name)]
    form = world.engine.definition(name).form
    for tool, arguments in [
        ("submit_form", {"form": form, "values": inputs}),
        ("start_process", {"name": name, "inputs": inputs}),
    ]:
        request = propose(world, tool, arguments)
        assert request.role is None and request.approvers == (REQUESTER,)
        [refusal] = decide(world, request.action_id, OTHER_ADMIN)  # not on their behalf
        assert isinstance(refusal, Error) and "the requester" in refusal.message
        assert isinstance(decide(world, request.action_id, REQUESTER)[-1], Final)


def test_a_process_approval_is_never_the_requesters_even_with_the_role(world: fh.World) -> None:
    name, inputs, role = RUNS[str(world.app.workspace_name)]
    run = world.engine.start(name, inputs, requester=REQUESTER)
    action = world.engine.report(run.id).waiting_for
    assert action is not None and action.role == role
    assert action.id not in [a.id for a in world.runner.pending_for(REQUESTER)]
    [refusal] = decide(world, action.id, REQUESTER)
    assert isinstance(refusal, Error) and "nobody approves their own" in refusal.message
    assert world.approvals.decisions(action.id)[0]["accepted"] == 0
    decide(world, action.id, "U_LEAD")
    assert world.approvals.get(action.id).decided_by == "U_LEAD"
    # Every step after the approval is audited under it, with the person who decided it.
    later = [
        e
        for e in AuditLog(world.db).recent(limit=100)
        if e.approval_id == action.id and e.status == "ok"
    ]
    assert later and all(e.decided_by == "U_LEAD" and e.user == REQUESTER for e in later)
    assert all(e.idempotency_key and e.idempotency_key.startswith(f"{run.id}:") for e in later)


def test_the_audit_names_the_action_the_requester_and_the_decider(world: fh.World) -> None:
    tool, arguments = shared_writes(world)[0]
    request = propose(world, tool, arguments)
    decide(world, request.action_id, OTHER_ADMIN)
    entries = AuditLog(world.db).recent(approval_id=request.action_id)
    ran = [e for e in entries if e.status == "ok"]
    assert len(ran) == 1 and ran[0].tool == tool
    assert (ran[0].user, ran[0].decided_by, ran[0].idempotency_key) == (
        REQUESTER, OTHER_ADMIN, request.action_id,
    )  # fmt: skip
