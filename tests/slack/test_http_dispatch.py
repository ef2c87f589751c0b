"""HTTP mode's dispatcher: every acknowledged event reaches bolt once, in order, after any
acknowledgement being answered; a failure is logged and the events after it still go through."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import pytest
from slack_bolt import App, BoltRequest, BoltResponse

from bot.priority import Priority
from bot.slack.app import surface_of
from bot.slack.dispatch import Dispatcher
from bot.slack.turns import claiming
from memory.db import Database
from memory.slack_inbox import Spool
from tests.slack.conftest import Rig, mention, message, sign

HEADERS = {"Content-Type": "application/json"}


def body(n: int) -> str:
    return json.dumps({"type": "event_callback", "event_id": f"Ev{n:03d}"})


class FakeBolt:
    """Stands in for bolt's ``App``: records each dispatched body; can fail or hold one."""

    def __init__(self, fail_on: str | None = None, hold: threading.Event | None = None) -> None:
        self.bodies: list[str] = []
        self.replayed: list[str] = []
        self.fail_on = fail_on
        self.hold = hold
        self._changed = threading.Condition()

    def dispatch(self, request: BoltRequest) -> BoltResponse:
        if self.hold is not None:
            assert self.hold.wait(10), "the test never let the event go"
        with self._changed:
            self.bodies.append(request.raw_body)
            if request.mode == "socket_mode":  # a stored delivery, verified when it came
                self.replayed.append(json.dumps(request.body))
            self._changed.notify_all()
        if request.raw_body == self.fail_on:
            raise RuntimeError("a listener broke")
        return BoltResponse(status=200)

    def wait_for(self, count: int) -> list[str]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.bodies) >= count, 10), self.bodies
            return list(self.bodies)


class Clock:
    """A clock that moves only when the test says; notes when the dispatcher thread reads it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.read_by_dispatcher = threading.Event()

    def __call__(self) -> float:
        if threading.current_thread().name == "slack-dispatch":
            self.read_by_dispatcher.set()
        return self.now


def dispatcher(bolt: FakeBolt, clock: Clock | None = None, **kwargs: float) -> Dispatcher:
    """A dispatcher with a pause tracker of its own (answers are marked with ``d.priority``)."""
    clock = clock or Clock()
    return Dispatcher(cast(App, bolt), clock=clock, priority=Priority(clock=clock), **kwargs)


def test_every_event_reaches_bolt_once_in_order_and_wait_idle_waits_for_them() -> None:
    bolt = FakeBolt()
    d = dispatcher(bolt, quiet=0.0)
    for n in range(50):
        d.put(body(n), "", HEADERS)
    d.start()
    assert d.wait_idle(10)
    assert bolt.bodies == [body(n) for n in range(50)]
    d.close()


def test_wait_idle_waits_for_the_event_being_handled() -> None:
    hold = threading.Event()
    bolt = FakeBolt(hold=hold)
    d = dispatcher(bolt, quiet=0.0)
    d.start()
    d.put(body(1), "", HEADERS)
    assert not d.wait_idle(0)
    hold.set()
    assert d.wait_idle(10)
    assert bolt.bodies == [body(1)]
    d.close()


def test_events_wait_while_a_request_is_being_answered() -> None:
    clock, bolt = Clock(), FakeBolt()
    d = dispatcher(bolt, quiet=0.0, patience=10.0, clock=clock)
    d.start()
    with d.priority.work():
        d.put(body(1), "", HEADERS)
        assert clock.read_by_dispatcher.wait(10)  # it has looked at the event and held back
        assert bolt.bodies == []
        assert not d.wait_idle(0)
    assert d.wait_idle(10)
    assert bolt.bodies == [body(1)]
    d.close()


def test_an_event_is_held_back_no_longer_than_its_patience() -> None:
    clock, bolt = Clock(), FakeBolt()
    d = dispatcher(bolt, quiet=0.0, patience=1.0, clock=clock)
    d.start()
    with d.priority.work():
        d.put(body(1), "", HEADERS)
        assert clock.read_by_dispatcher.wait(10)
        assert bolt.bodies == []
        clock.now = 1.0
        d.put(body(2), "", HEADERS)  # wakes the dispatcher: the first event has waited enough
        assert bolt.wait_for(1) == [body(1)]
    assert d.wait_idle(10)
    assert bolt.bodies == [body(1), body(2)]
    d.close()


def test_a_failing_event_is_logged_and_the_next_ones_go_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bolt = FakeBolt(fail_on=body(2))
    d = dispatcher(bolt, quiet=0.0)
    with caplog.at_level(logging.ERROR, logger="bot.slack.dispatch"):
        d.start()
        for n in range(1, 4):
            d.put(body(n), "", HEADERS)
        assert d.wait_idle(10)
    assert bolt.bodies == [body(1), body(2), body(3)]
    failures = [r for r in caplog.records if "failed in the app" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    d.close()


def test_close_hands_over_what_is_queued_and_then_refuses_more() -> None:
    bolt = FakeBolt()
    d = dispatcher(bolt, quiet=0.0)
    d.start()
    for n in range(5):
        d.put(body(n), "", HEADERS)
    d.close()
    assert bolt.bodies == [body(n) for n in range(5)]
    with pytest.raises(RuntimeError):
        d.put(body(9), "", HEADERS)


# ---- over HTTP, with the real app -------------------------------------------------------------


def test_a_burst_of_events_is_acknowledged_and_each_handled_once(rig: Rig) -> None:
    def send(n: int) -> int:
        status, _ = rig.event(mention(f"q{n}", ts=f"1700000100.{n:06d}"), event_id=f"EvB{n:03d}")
        return status

    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(send, range(40)))
    assert statuses == [200] * 40
    rig.drain()
    texts = [c.args[0].text for c in rig.service.calls_to("handle")]
    assert sorted(texts) == sorted(f"q{n}" for n in range(40))


def test_a_signed_event_bolt_cannot_read_is_logged_and_later_events_are_served(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    broken = '{"type": "event_callback", "event": '  # signed, but not JSON
    with caplog.at_level(logging.ERROR, logger="bot.slack.dispatch"):
        status, _ = rig.post(broken, "application/json")
        assert status == 200  # acknowledged once the signature checks out
        assert rig.event(mention("still here"))[0] == 200
        rig.drain()
    assert [c.args[0].text for c in rig.service.calls_to("handle")] == ["still here"]
    assert any("failed in the app" in r.getMessage() for r in caplog.records)


def test_stopping_the_server_hands_every_acknowledged_event_to_the_app(rig: Rig) -> None:
    for n in range(5):
        status, _ = rig.event(mention(f"s{n}", ts=f"1700000200.{n:06d}"), event_id=f"EvS{n}")
        assert status == 200
    rig.server.stop()  # no wait_idle first: the server's cleanup hands them over
    rig.drain()
    assert sorted(c.args[0].text for c in rig.service.calls_to("handle")) == [
        f"s{n}" for n in range(5)
    ]


def test_a_refused_signature_is_not_queued(rig: Rig) -> None:
    text = body(1)
    status, _ = rig.post(text, "application/json", sign(text, secret="not-the-secret"))
    assert status == 401
    assert rig.server.dispatcher.wait_idle(0)


# ---- the spool: acknowledged means stored -------------------------------------------------------


def test_what_a_stopped_dispatcher_left_in_the_spool_is_handed_over_at_the_next_start(
    tmp_path: Path,
) -> None:
    spool = Spool(Database(tmp_path / "state.db"))
    ids = spool.put_many([body(n) for n in range(4)])
    first, gone = FakeBolt(), dispatcher(FakeBolt(), quiet=0.0)
    gone.spool = spool
    for n, spool_id in enumerate(ids[:2]):
        gone.put(body(n), "", HEADERS, spool_id)  # queued in memory, never handed over
    d = Dispatcher(cast(App, first), quiet=0.0, spool=spool)
    d.start()  # the next start: everything stored is handed over, oldest first
    assert d.wait_idle(10)
    assert [json.loads(b)["event_id"] for b in first.replayed] == [f"Ev{n:03d}" for n in range(4)]
    d.close()
    assert spool.pending() == []  # handed over, so removed


def test_an_event_is_stored_before_its_acknowledgement(rig: Rig) -> None:
    stored: list[list[tuple[int, str]]] = []
    spool = surface_of(rig.app).spool
    original = rig.server.dispatcher.put

    def put(*args: Any) -> None:
        stored.append(spool.pending())  # what is on disk when the event is queued
        original(*args)

    rig.server.dispatcher.put = put  # type: ignore[method-assign]
    status, _ = rig.event(mention("keep me", ts="77.0"), event_id="EvKeep")
    assert status == 200
    assert '"EvKeep"' in stored[0][-1][1]
    rig.drain()
    assert spool.pending() == []


def test_events_handed_over_together_are_claimed_together_once_each(rig: Rig) -> None:
    """The dispatcher's batches: the listeners' claims are stored when the batch ends, a repeat
    inside the batch is skipped, and a follow-up in a thread joined by the same batch counts."""
    surface = surface_of(rig.app)
    first = mention("first", ts="600.0")
    deliveries = [
        ("EvT1", first),
        ("EvT2", {**first, "type": "message"}),  # the same mention's message delivery
        ("EvT3", message("and a follow-up", ts="601.0", thread_ts="600.0")),  # no mention
    ]
    with claiming():
        for event_id, event in deliveries:
            envelope = {"type": "event_callback", "event_id": event_id, "event": event}
            assert rig.app.dispatch(BoltRequest(body=envelope, mode="socket_mode")).status == 200
        assert surface.inbox.open_turns() == []  # nothing is claimed before the batch ends
    rig.drain()
    calls = rig.service.calls_to("handle")
    assert [c.args[0].text for c in calls] == ["first", "and a follow-up"]
    assert {c.args[0].conversation_id for c in calls} == {"C100:600.0"}
