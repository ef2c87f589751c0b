"""Fault injection over whole execution paths: a fresh OS process killed at every I/O point.

``memory.faults.io_point`` names the moment after each I/O operation of the exactly-once paths
(a database commit, the outbox claim, SMTP connect / envelope / DATA / payload / final dot /
reply, an xlsx write and replace, an .eml write). A *scenario* is a starting state the parent
sets up (a proposed action, or a form a person submits) and ``settle``, which plays every
person involved until nothing waits any more: the approver (never the requester, except for
self-service tools) approves, approved actions run, process runs resume, housekeeping runs.

``trace`` runs a scenario in a child process with a hook that records every point it crosses;
``kill_at(n)`` runs it in a fresh child that SIGKILLs itself at the n-th point; ``restart``
then builds a fresh object graph as start-up does (recover, a housekeeping pass) and settles
the rest, and the test checks its invariants (one email at the real server, one row, one
submission, nobody told what did not happen). Children are forked from a forkserver that
preloaded the tools, so each costs little beyond its own work.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bot.approval_flow import ActionRunner
from bot.background import housekeeping_chores
from bot.config import DEFAULT_WORKSPACE, Settings
from memory import faults
from memory.approvals import ApprovalStore
from memory.db import Database
from tests.fakes.smtp import SmtpServer
from tests.processes.harness import build_engine, make_settings
from tools.registry import ToolContext

# Who decides what: a role's holder, never the requester; self-service: the requester.
APPROVERS = {
    "manager": "U_MGR", "director": "U_DIR", "procurement": "U_PROC", "finance": "U_FIN",
    "admin": "U_ADMIN",
}  # fmt: skip
REQUESTER = "U_EMP"
FORM_KEY = "form-submission-1"  # the surface's id of a form a person submitted (replays dedupe)


@dataclass(frozen=True)
class Scenario:
    """A starting state and what the world looks like when everything happened once."""

    name: str
    action: tuple[str, dict[str, Any]] | None = None  # (tool, arguments) proposed by the model
    start: tuple[str, dict[str, Any]] | None = None  # (process, inputs) a person submitted
    emails: int = 0  # messages the real server must hold, each exactly once


@dataclass
class World:
    """Everything a scenario runs over, built from nothing like the application builds it."""

    settings: Settings
    db: Database
    runner: ActionRunner
    engine: Any
    approvals: ApprovalStore
    app: Any = field(init=False)

    def __post_init__(self) -> None:
        # What ``housekeeping_chores`` reads of an application.
        self.app = SimpleNamespace(
            engine=self.engine, actions=self.runner, approvals=self.approvals
        )


def build_world(settings: Settings) -> World:
    """The tools, the engine and the approval flow as ``bot.wiring`` assembles them (no model,
    no knowledge base: a document lookup then finds nothing, as when the store is down)."""
    engine, registry, db = build_engine(settings)
    approvals = engine.approvals
    roles = dict(settings.roles)
    runner = ActionRunner(
        approvals,
        registry,
        roles_of=lambda user: sorted(r for r, users in roles.items() if user in users),
        role_members=lambda role: list(roles.get(role, [])),
        engine=engine,
    )
    return World(settings, db, runner, engine, approvals)


def fresh_workspace(source: Path, target: Path) -> Path:
    """A private copy of a demo workspace without its documents (nothing here reads them)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("docs", "eval", "training"))
    return target


def harness_settings(workspace: Path, data_dir: Path, port: int, check_url: str | None) -> Settings:
    settings = make_settings(workspace, data_dir, port)
    update: dict[str, Any] = {"smtp_timeout": 5.0}
    if check_url:
        update["smtp_check_url"] = check_url
    return settings.model_copy(update=update)


def propose(world: World, scenario: Scenario) -> None:
    """The parent's part: the model proposed the scenario's action (nothing ran yet)."""
    if scenario.action is None:
        return
    tool, arguments = scenario.action
    ctx = ToolContext(user=REQUESTER, channel="C1", thread="T1")
    args = world.runner.registry.precheck(tool, arguments, ctx)  # checked when proposed
    world.runner.propose(world.runner.registry.get(tool), args, ctx, [])


def settle(world: World, scenario: Scenario, *, starting: bool) -> None:
    """Play every person until nothing waits: submit, approve, run, resume, deliver."""
    if scenario.start is not None and (starting or not world.engine.runs.list(limit=1)):
        name, inputs = scenario.start
        world.engine.start(name, inputs, requester=REQUESTER, idempotency_key=FORM_KEY)
    for _ in range(12):
        waiting = world.approvals.list(status=("pending",), limit=100)
        for action in waiting:
            decide(world, action)
        housekeeping(world)
        if not waiting:
            return


def decide(world: World, action: Any) -> None:
    who = APPROVERS[action.role] if action.role else action.requester
    world.approvals.decide(
        action.id, who, "approve", user_roles=[action.role] if action.role else []
    )
    if action.run_id:
        world.engine.resume_after_decision(action.id)
    else:
        world.runner.execute(action.id)


def housekeeping(world: World) -> None:
    for chore in housekeeping_chores(world.app):
        chore()


def restart(settings: Settings) -> World:
    """A fresh process's start-up: recover what a crash left, then one housekeeping pass."""
    world = build_world(settings)
    world.runner.recover()
    world.engine.recover()
    housekeeping(world)
    return world


# ---- children ----------------------------------------------------------------------------------


def child(settings_json: str, scenario: Scenario, kill_at: int, trace_to: str) -> None:
    """Run the scenario; die by SIGKILL at the ``kill_at``-th I/O point (0: never)."""
    settings = Settings.model_validate_json(settings_json)
    crossed: list[str] = []

    def hook(name: str) -> None:
        crossed.append(name)
        if len(crossed) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    world = build_world(settings)
    with faults.injected(hook):
        settle(world, scenario, starting=True)
    if trace_to:
        Path(trace_to).write_text(json.dumps(crossed), encoding="utf-8")


_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["tests.processes.fault_harness"])


def in_child(settings: Settings, scenario: Scenario, kill_at: int = 0, trace_to: str = "") -> int:
    """Run ``child`` in a fresh OS process; its exit code (-9 when it killed itself)."""
    process = _CTX.Process(
        target=child, args=(settings.model_dump_json(), scenario, kill_at, trace_to)
    )
    process.start()
    process.join(timeout=120)
    assert process.exitcode is not None, "the scenario's process hung"
    return process.exitcode


def trace(settings: Settings, scenario: Scenario, trace_file: Path) -> list[str]:
    """The I/O points the scenario crosses, in order, from start to a settled world."""
    assert in_child(settings, scenario, trace_to=str(trace_file)) == 0
    points: list[str] = json.loads(trace_file.read_text(encoding="utf-8"))
    return points


# ---- the kill loop -----------------------------------------------------------------------------

# Unconfirmed mail whose action does not say so (its requester would not have been told).
UNTOLD = (
    "SELECT COUNT(*) FROM outbox o JOIN pending_actions a ON a.id = o.idempotency_key"
    " WHERE o.status = 'unknown' AND a.status != 'unknown'"
)
Check = Callable[[Path, Path], None]  # (workspace, data dir) -> assert the settled world


def count(data_dir: Path, sql: str, *params: Any) -> int:
    with Database(data_dir / "state.db").reading() as conn:
        return int(conn.execute(sql, params).fetchone()[0])


def told_untruths(data_dir: Path, smtp: SmtpServer) -> list[str]:
    """What the state tells people that did not happen: an action done whose mail the server
    lacks; a run's email step done whose mail the server lacks; a notify step that told its
    requester while an email step before it had not been delivered."""
    held = {r.message_id for r in smtp.received}
    problems = []
    with Database(data_dir / "state.db").reading() as conn:
        sent_keys = conn.execute(
            "SELECT a.id AS key, o.message_id FROM pending_actions a JOIN outbox o"
            " ON o.idempotency_key = a.id WHERE a.tool = 'send_email' AND a.status = 'done'"
            " UNION ALL SELECT s.run_id || ':' || s.step_id, o.message_id FROM process_run_steps s"
            " JOIN outbox o ON o.idempotency_key = s.run_id || ':' || s.step_id"
            " WHERE s.status = 'done'"
        ).fetchall()
        problems += [f"{r['key']} is done, its mail is not at the server" for r in sent_keys
                     if r["message_id"] not in held]  # fmt: skip
        early = conn.execute(
            "SELECT n.run_id, n.step_id FROM process_run_notices n JOIN process_run_steps t"
            " ON t.run_id = n.run_id AND t.step_id = n.step_id WHERE EXISTS (SELECT 1 FROM"
            " process_run_steps s JOIN outbox o ON o.idempotency_key = s.run_id || ':' || s.step_id"
            " WHERE s.run_id = n.run_id AND s.position < t.position AND s.status != 'done')"
        ).fetchall()
        problems += [
            f"run {r['run_id']} told its requester ({r['step_id']}) too early" for r in early
        ]
    return problems


def prepare(scenario: Scenario, root: Path, smtp: SmtpServer, check_url: str | None) -> Settings:
    """A fresh workspace copy and data dir under ``root`` holding the scenario's proposal."""
    workspace = fresh_workspace(DEFAULT_WORKSPACE, root / "workspace")
    (root / "data").mkdir()
    settings = harness_settings(workspace, root / "data", smtp.port, check_url)
    world = build_world(settings)
    propose(world, scenario)
    world.db.close()  # checkpoint the WAL: the folder can be copied as it is
    return settings


def copy_of(template: Settings, root: Path) -> Settings:
    """The prepared state copied to ``root`` (each kill starts from the same proposal)."""
    shutil.copytree(template.workspace, root / "workspace")
    shutil.copytree(template.data_dir, root / "data")
    return template.model_copy(update={"workspace": root / "workspace", "data_dir": root / "data"})


def kill_everywhere(
    scenario: Scenario,
    tmp_path: Path,
    smtp: SmtpServer,
    check_url: str | None,
    check: Check | None = None,
) -> dict[str, int]:
    """Kill the scenario at each of its I/O points, restart, settle and check; the figures."""
    template = prepare(scenario, tmp_path / "template", smtp, check_url)
    points = trace(copy_of(template, tmp_path / "trace"), scenario, tmp_path / "points.json")
    assert len(smtp.received) == scenario.emails, "the uninterrupted path is not exactly once"
    figures = dict.fromkeys(("lost", "doubled", "unknown", "untruths", "untold"), 0)
    figures["points"] = len(points)
    for n in range(1, len(points) + 1):
        smtp.reset()
        settings = copy_of(template, tmp_path / f"kill-{n}")
        code = in_child(settings, scenario, kill_at=n)
        assert code == -signal.SIGKILL, f"{scenario.name}: point {n} ({points[n - 1]}) not reached"
        data = settings.data_dir
        figures["untruths"] += len(told_untruths(data, smtp))
        settle(restart(settings), scenario, starting=False)
        held = len(smtp.received)
        figures["lost"] += max(0, scenario.emails - held)
        figures["doubled"] += max(0, held - scenario.emails)
        figures["unknown"] += count(data, "SELECT COUNT(*) FROM outbox WHERE status = 'unknown'")
        figures["untruths"] += len(told_untruths(data, smtp))
        figures["untold"] += count(data, UNTOLD)
        if check is not None:
            check(settings.workspace, data)
    return figures
