"""Many replicas on one shared state: two real ``rpa-agent run`` processes in Slack HTTP mode,
one PostgreSQL database, one Chroma server, one model server, one mail server
(``tests/scale/cluster.py``). Whichever replica Slack's deliveries and clicks reach, and whichever
one dies, every event is answered once, every approval executes once, and a process run a dead
replica was advancing is finished by the other with one email and one row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openpyxl
import pytest

from bot.wiring import working_copy_dir
from tests.fakes.openai_server import FakeReply
from tests.scale.cluster import Cluster, Replica, event_body, wait_until
from tests.slack.conftest import mention

# The cluster starts once for the module; on a busy machine that alone takes minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TAXI = {
    "expense_date": "2026-11-20",
    "category": "transport",
    "amount": "42",
    "description": "Taxi to the customer",
    "receipt_attached": True,
}
SICK = {"leave_type": "sick", "start_date": "2026-11-23", "end_date": "2026-11-24", "days": 2}
# What the model proposes when the person's message has the keyword.
PROPOSALS: dict[str, tuple[str, dict[str, Any]]] = {
    "hotel cap": ("search_process_docs", {"query": "hotel cap per night"}),
    "taxi receipt": ("submit_form", {"form": "expense_claim", "values": TAXI}),
    "sick leave": ("start_process", {"name": "leave_request", "inputs": SICK}),
}
AFTER = {
    "search_process_docs": "The hotel cap is 150 EUR per night [1].",
    "submit_form": "Please approve the claim.",
    "start_process": "Please confirm the leave request.",
}


def script(body: dict[str, Any]) -> FakeReply:
    """The model, as a function of the conversation so far (either replica may ask)."""
    messages = body["messages"]
    if messages[-1]["role"] == "tool":
        called = next(m for m in reversed(messages) if m.get("tool_calls"))
        return FakeReply(text=AFTER[called["tool_calls"][0]["function"]["name"]])
    text = str(messages[-1]["content"])
    for keyword, call in PROPOSALS.items():
        if keyword in text:
            return FakeReply(tool_calls=[call])
    return FakeReply(text=f"You asked: {text}.")


@pytest.fixture
def scripted(cluster: Cluster) -> Cluster:
    cluster.llm.respond = script
    return cluster


def together(*calls: Callable[[], int]) -> list[int]:
    """Run the calls on threads that start at the same moment; their results in order."""
    start, results = threading.Barrier(len(calls)), [0] * len(calls)

    def run(i: int) -> None:
        start.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_one_event_delivered_to_both_replicas_is_answered_once(scripted: Cluster) -> None:
    c, thread = scripted, "1700001000.000100"
    body = event_body(mention("what is the hotel cap?", ts=thread), "Ev-both-1")
    assert together(lambda: c.a.deliver(body), lambda: c.b.deliver(body)) == [200, 200]
    c.wait_quiet()
    assert len(c.replies_in(thread)) == 1, c.said_in(thread)
    assert "150 EUR per night" in c.said_in(thread)
    turns = c.query("SELECT state FROM slack_inbox WHERE event_id = 'Ev-both-1'")
    assert turns == [("answered",)]
    # The answer came from the documents on the Chroma server, searched by the replica.
    [searched] = [
        m["content"]
        for r in c.llm.requests
        for m in r.body["messages"]
        if m["role"] == "tool" and "hotel" in str(m["content"]).lower()
    ][:1]
    assert "150" in searched


def test_an_approval_clicked_on_one_replica_while_the_other_serves_the_thread_runs_once(
    scripted: Cluster,
) -> None:
    c, thread = scripted, "1700001100.000100"
    assert (
        c.b.deliver(event_body(mention("file my taxi receipt, 42 EUR", ts=thread), "Ev-ap")) == 200
    )
    c.wait_quiet()
    [(action_id, ts)] = c.query(
        "SELECT p.id, d.ts FROM pending_actions p JOIN decision_cards d ON d.action_id = p.id"
        " WHERE p.thread = %s AND p.status = 'pending'",
        thread,
    )

    def click(replica: Replica) -> Callable[[], int]:
        return lambda: replica.click("rpa_approve", action_id, "U100", "C100", ts)

    # Clicked on A; the same click also reaches B (a double click through the load balancer).
    assert together(click(c.a), click(c.b)) == [200, 200]
    wait_until(
        "the action to be done",
        lambda: _status(c, action_id) not in ("pending", "approved", "executing"),
    )
    c.wait_quiet()
    assert _status(c, action_id) == "done"
    assert c.query("SELECT COUNT(*) FROM form_submissions WHERE thread = %s", thread) == [(1,)]
    executed = c.query(
        "SELECT COUNT(*) FROM tool_audit WHERE approval_id = %s AND status = 'ok'", action_id
    )
    assert executed == [(1,)]
    accepted = c.query("SELECT COUNT(*) FROM approval_log WHERE action_id = %s AND accepted = 1",
                       action_id)  # fmt: skip
    assert accepted == [(1,)]


def _status(c: Cluster, action_id: str) -> str:
    return str(c.query("SELECT status FROM pending_actions WHERE id = %s", action_id)[0][0])


def test_a_killed_replicas_process_run_is_finished_by_the_other_once(scripted: Cluster) -> None:
    c, thread = scripted, "1700001200.000100"
    c.smtp.reset()
    message = "I am on sick leave from 2026-11-23 to 2026-11-24, 2 working days"
    assert c.a.deliver(event_body(mention(message, ts=thread), "Ev-run")) == 200
    c.wait_quiet()
    [(action_id, ts)] = c.query(
        "SELECT p.id, d.ts FROM pending_actions p JOIN decision_cards d ON d.action_id = p.id"
        " WHERE p.thread = %s AND p.status = 'pending'",
        thread,
    )
    # The mail server keeps the message but never confirms it: A hangs in the email step.
    c.smtp.stall_after_data()
    assert c.a.click("rpa_approve", action_id, "U100", "C100", ts) == 200
    wait_until("the email to reach the mail server", lambda: len(c.smtp.received) == 1)
    [(run_id, owner)] = c.query("SELECT id, owner FROM process_runs WHERE thread = %s", thread)
    assert owner is not None and f":{c.a.process.pid}:" in owner  # type: ignore[union-attr]
    c.a.kill()
    c.smtp.unstall()
    # B's housekeeping settles the cut-off send (found on the server by its Message-ID), takes
    # the action and the run over once their lease is A's no more, and finishes the run.
    wait_until("the run to finish on B", lambda: _run_status(c, run_id) == "done", 60)
    assert len(c.smtp.received) == 1
    assert c.query("SELECT COUNT(*) FROM process_runs WHERE thread = %s", thread) == [(1,)]
    assert c.query("SELECT COUNT(*) FROM form_submissions WHERE thread = %s", thread) == [(1,)]
    [(reference,)] = c.query("SELECT reference FROM process_runs WHERE id = %s", run_id)
    assert reference in c.smtp.subjects()[0]
    assert _rows_with(c, reference) == 1
    [(delivered_to,)] = c.query(
        "SELECT delivered_to FROM outbox WHERE idempotency_key LIKE %s", f"{run_id}:%"
    )
    assert "found by Message-ID" in delivered_to


def test_a_killed_replicas_unanswered_turn_is_answered_by_the_other_once(
    scripted: Cluster,
) -> None:
    c, thread, slow = scripted, "1700001300.000100", threading.Event()

    def held(body: dict[str, Any]) -> FakeReply:
        if "slow question" in str(body["messages"][-1]["content"]):
            return FakeReply(text="The slow answer.", hold=slow)
        return script(body)

    c.llm.respond = held
    asked = len(c.llm.requests)
    assert c.a.deliver(event_body(mention("a slow question", ts=thread), "Ev-slow")) == 200
    wait_until("A to ask the model", lambda: len(c.llm.requests) > asked)
    c.a.kill()  # mid-answer: its reply is shown, the turn is not answered
    slow.set()
    c.wait_quiet()
    assert len(c.replies_in(thread)) == 1, c.said_in(thread)  # B continued A's message
    assert "The slow answer." in c.said_in(thread)
    assert c.query("SELECT state FROM slack_inbox WHERE event_id = 'Ev-slow'") == [("answered",)]


def _run_status(c: Cluster, run_id: str) -> str:
    return str(c.query("SELECT status FROM process_runs WHERE id = %s", run_id)[0][0])


def _rows_with(c: Cluster, reference: str) -> int:
    """Rows of the leave tracker holding ``reference``, over both replicas' working copies."""
    count = 0
    for replica in c.replicas:
        data = replica.env["RPA_DATA_DIR"]
        sheet = working_copy_dir(c.workspace, data) / "sheets" / "leave.xlsx"  # type: ignore[arg-type]
        book = openpyxl.load_workbook(sheet, read_only=True)
        rows = book["Requests"].iter_rows(values_only=True)
        count += sum(1 for row in rows if reference in row)
        book.close()
    return count


EVENTS = 200


def test_events_spread_over_both_replicas_are_each_answered_once(scripted: Cluster) -> None:
    c = scripted
    threads = [f"1700002000.{n:06d}" for n in range(EVENTS)]
    bodies = [
        event_body(mention(f"question q{n}", ts=threads[n], channel="C400"), f"Ev-many-{n}")
        for n in range(EVENTS)
    ]

    def deliver(n: int) -> list[int]:
        first, other = (c.a, c.b) if n % 2 == 0 else (c.b, c.a)
        statuses = [first.deliver(bodies[n])]
        if n % 10 == 0:  # Slack retries it, and the balancer sends the retry to the other one
            statuses.append(other.deliver(bodies[n], retry=1))
        return statuses

    with ThreadPoolExecutor(16) as pool:
        statuses = [s for got in pool.map(deliver, range(EVENTS)) for s in got]
    assert statuses == [200] * (EVENTS + EVENTS // 10)
    c.wait_quiet(120)
    replies = {t: len(c.replies_in(t)) for t in threads}
    assert [t for t, n in replies.items() if n != 1] == []
    answered = [n for n in range(EVENTS) if f"You asked: question q{n}." in c.said_in(threads[n])]
    assert len(answered) == EVENTS
    turns = c.query(
        "SELECT state, COUNT(*) FROM slack_inbox WHERE event_id LIKE %s GROUP BY state", "Ev-many-%"
    )
    assert turns == [("answered", EVENTS)]
