"""The stores on both engines (SQLite and a real PostgreSQL server), as several replicas meet
them: one schema from one migration history, claims that exactly one claimant wins, and
leases that another replica takes over only once they lapse."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memory import migrate
from memory.approvals import ApprovalStore
from memory.audit import AuditLog
from memory.db import Database
from memory.dedupe import Dedupe
from memory.leases import Lease
from memory.outbox import OutboxStore
from memory.runs import RunStore
from memory.slack_state import DecisionCards, JoinedThreads
from memory.submissions import SubmissionStore

OTHER_HOST = "replica-b.example:4242:0000beef"  # a process this host cannot see


@pytest.fixture
def open_db(state_target: str) -> Iterator[Callable[[], Database]]:
    """Databases over the test's one state store, as separate processes would open it."""
    opened: list[Database] = []

    def make() -> Database:
        opened.append(Database(state_target))
        return opened[-1]

    yield make
    for db in opened:
        db.close()


def race(n: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` on ``n`` threads that start together; their results in order."""
    start, results = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        start.wait()
        results[i] = work(i)  # type: ignore[call-overload]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return list(results)


def test_the_history_ends_in_the_declared_schema(state_target: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from memory.schema import METADATA

    assert migrate.upgrade(state_target)  # an empty database gets every migration
    assert migrate.upgrade(state_target) == [] and migrate.pending(state_target) == []
    engine = migrate.engine_for(state_target)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _declared})
        diff = compare_metadata(context, METADATA)
    engine.dispose()
    assert diff == []


# Tables with a history but not (yet) in memory/schema.py, and the checkpointer's own tables.
_UNDECLARED = {"schema_migrations", "slack_spool", "slack_inbox", "checkpoints", "writes"}


def _declared(obj: object, name: str, type_: str, reflected: bool, compare_to: object) -> bool:
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return table not in _UNDECLARED


def test_one_of_many_concurrent_claims_of_a_key_wins(open_db: Callable[[], Database]) -> None:
    stores = [Dedupe(open_db()) for _ in range(6)]
    won = race(6, lambda i: stores[i].claim("event:Ev1", f"msg:C1:{i}"))
    assert won.count(True) == 1
    assert all(s.seen("event:Ev1") for s in stores)


def test_one_decision_and_one_execution_across_replicas(open_db: Callable[[], Database]) -> None:
    a = ApprovalStore(open_db(), lease=Lease("host-a:1:aa"))
    b = ApprovalStore(open_db(), lease=Lease("host-b:2:bb"))
    action = a.create(tool="send_email", arguments={"to": "x@acme.example"}, summary="s",
                      requester="U1")  # fmt: skip
    outcomes = race(2, lambda i: _decide((a, b)[i], action.id))
    assert sorted(outcomes) == ["approved", "refused"]
    claims = race(2, lambda i: (a, b)[i].claim(action.id))
    assert sum(c is not None for c in claims) == 1
    accepted = [d for d in a.decisions(action.id) if d["accepted"]]
    assert len(accepted) == 1 and accepted[0]["user"] == "U1"


def _decide(store: ApprovalStore, action_id: str) -> str:
    try:
        return store.decide(action_id, "U1", "approve").status
    except Exception:
        return "refused"


def test_a_dead_replicas_action_is_taken_over_after_its_lease(
    open_db: Callable[[], Database],
) -> None:
    now = [1000.0]
    dead = ApprovalStore(open_db(), lease=Lease(OTHER_HOST, 30.0, lambda: now[0]))
    live = ApprovalStore(open_db(), lease=Lease("here:1:cc", 30.0, lambda: now[0]))
    action = dead.create(tool="t", arguments={}, summary="s", requester="U1")
    dead.decide(action.id, "U1", "approve")
    assert dead.claim(action.id) is not None  # ... and the replica dies mid-work
    assert live.recoverable() == [] and live.claim(action.id, recovering=True) is None
    now[0] += 31
    assert [x.id for x in live.recoverable()] == [action.id]
    assert live.claim(action.id, recovering=True) is not None
    assert live.claim(action.id, recovering=True) is None  # and only once


def test_runs_are_advanced_by_one_lease_holder(open_db: Callable[[], Database]) -> None:
    now = [1000.0]
    a = RunStore(open_db(), lease=Lease(OTHER_HOST, 30.0, lambda: now[0]))
    b = RunStore(open_db(), lease=Lease("here:1:dd", 30.0, lambda: now[0]))
    run, created = a.create(process="p", prefix="REQ", digits=5, requester="U1", values={},
                            idempotency_key="k1")  # fmt: skip
    assert created and not b.hold(run.id) and b.abandoned() == []
    assert [r.id for r in a.abandoned()] == [run.id]  # its own: its engine knows if it works on it
    assert a.hold(run.id) and a.renew(run.id)
    now[0] += 31
    assert [r.id for r in b.abandoned()] == [run.id]
    assert b.hold(run.id) and not a.renew(run.id)  # the old holder learns it lost the run
    b.let_go(run.id)
    assert a.hold(run.id)


def test_a_step_started_again_counts_its_attempts(open_db: Callable[[], Database]) -> None:
    runs = RunStore(open_db())
    run, _ = runs.create(process="p", prefix="REQ", digits=5, requester="U1", values={})
    assert runs.step_started(run.id, "email", 3).attempts == 1
    assert runs.step_started(run.id, "email", 3).attempts == 2  # taken over after a crash


def test_concurrent_starts_share_one_run_and_references_never_collide(
    open_db: Callable[[], Database],
) -> None:
    stores = [RunStore(open_db()) for _ in range(6)]
    same = race(6, lambda i: stores[i].create(process="p", prefix="REQ", digits=5,
                requester="U1", values={}, idempotency_key="one")[0].id)  # fmt: skip
    assert len(set(same)) == 1
    refs = race(6, lambda i: stores[i].create(process="p", prefix="REQ", digits=5,
                requester="U1", values={}, min_number=100)[0].reference)  # fmt: skip
    assert sorted(refs) == [f"REQ-{n:05d}" for n in range(101, 107)]  # type: ignore[type-var]


def test_concurrent_submissions_get_distinct_numbers(open_db: Callable[[], Database]) -> None:
    stores = [SubmissionStore(open_db()) for _ in range(6)]
    ids = race(6, lambda i: stores[i].create("REQ", {"n": i}, "U1").id)
    assert len(set(ids)) == 6
    again = race(3, lambda i: stores[i].create("REQ", {}, "U1", idempotency_key="k").id)
    assert len(set(again)) == 1


def test_due_mail_is_claimed_by_one_replica(open_db: Callable[[], Database]) -> None:
    stores = [OutboxStore(open_db()) for _ in range(4)]
    for n in range(10):
        stores[0].enqueue(idempotency_key=f"k{n}", message_id=f"<{n}@x>", sender="a@x",
                          recipients=["b@x"], subject="s", raw="r", created_by="U1")  # fmt: skip
    same = race(3, lambda i: stores[i].enqueue(idempotency_key="k0", message_id="<other@x>",
                sender="a@x", recipients=["b@x"], subject="s", raw="r", created_by="U1").id)  # fmt: skip
    assert len(set(same)) == 1
    claimed = race(4, lambda i: [m.id for m in stores[i].claim_due(limit=10, owner=str(i))])
    ids = [m for batch in claimed for m in batch]  # type: ignore[attr-defined]
    assert len(ids) == 10 and len(set(ids)) == 10


def test_cards_threads_and_audit_on_both_engines(open_db: Callable[[], Database]) -> None:
    db = open_db()
    cards = [DecisionCards(open_db()) for _ in range(4)]
    cards[0].save("A-1", "C1", "1.1", {"summary": "s"})
    assert race(4, lambda i: cards[i].claim("A-1", f"U{i}", "approve")).count(True) == 1
    threads = JoinedThreads(db)
    threads.add("C1", "1.0")
    threads.add("C1", "1.0")
    assert threads.contains("C1", "1.0") and not threads.contains("C1", "2.0")
    log = AuditLog(db)
    first = log.record(user="U1", tool="t", arguments={"a": 1}, status="ok")
    log.record(user="U2", tool="t", arguments={}, status="error", error="100% broken")
    assert [e.id for e in log.recent(user="U1")] == [first]
    assert log.recent(user="U2")[0].error == "100% broken"


def test_sqlite_state_is_copied_into_postgresql(tmp_path: Path, postgres: object) -> None:
    from memory.copy import copy_state

    source = Database(tmp_path / "state.db")
    AuditLog(source).record(user="U1", tool="t", arguments={}, status="ok")
    run, _ = RunStore(source).create(process="p", prefix="REQ", digits=5, requester="U1",
                                     values={"x": 1})  # fmt: skip
    RunStore(source).add_notice(run.id, "s1", "hello")
    source.close()
    url = postgres.create_database()  # type: ignore[attr-defined]
    counts = copy_state(tmp_path / "state.db", url)
    assert counts["tool_audit"] == 1 and counts["process_runs"] == 1
    target = Database(url)
    try:
        assert RunStore(target).get(run.id).values["x"] == 1
        AuditLog(target).record(user="U2", tool="t", arguments={}, status="ok")  # ids go on
        assert len(AuditLog(target).recent()) == 2
        with pytest.raises(RuntimeError, match="not empty"):
            copy_state(tmp_path / "state.db", url)
    finally:
        target.close()


def test_one_replica_accepts_a_turn_and_one_takes_a_dead_ones_over(
    open_db: Callable[[], Database],
) -> None:
    from memory.slack_inbox import Inbox

    now = [1_800_000_000.0]  # today's unix times: the lease must keep sub-second precision
    inboxes = [Inbox(open_db(), owner=f"host-{i}:1:x", lease=30.0, clock=lambda: now[0])
               for i in range(4)]  # fmt: skip
    won = race(4, lambda i: inboxes[i].accept("msg:C1:1.0", "Ev1", {"kind": "turn"}))
    assert won.count(True) == 1
    owner = inboxes[won.index(True)]
    assert [t.key for t in owner.open_turns()] == ["msg:C1:1.0"]
    now[0] += 29.5
    assert all(inbox.take_over() == [] for inbox in inboxes if inbox is not owner)
    now[0] += 1.0  # the owner stopped renewing: its lease lapsed
    others = [inbox for inbox in inboxes if inbox is not owner]
    taken = race(3, lambda i: [t.key for t in others[i].take_over()])
    assert sorted(k for batch in taken for k in batch) == ["msg:C1:1.0"]  # type: ignore[attr-defined]
