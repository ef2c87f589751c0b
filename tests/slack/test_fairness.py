"""Fair turns: every accepted conversation shows a first message at once (a queued note with its
position when the slots are busy), slots go round robin over conversations and one
conversation holds one at most, and model-free commands never wait behind turns."""

from __future__ import annotations

import asyncio
import threading

from bot.slack.worker import WorkQueue
from tests.slack.conftest import Rig, mention, message


def _first_texts(rig: Rig) -> dict[str, str]:
    return {c.payload["thread_ts"]: c.payload["text"] for c in rig.api.calls_to("chat.postMessage")}


def test_a_turn_waiting_for_a_slot_says_so_at_once_with_its_position(rig: Rig) -> None:
    rig.service.gate = threading.Event()  # the two slots (Settings.workers) stay busy
    for n in range(4):
        rig.event(mention(f"q{n}", ts=f"90{n}.0"), event_id=f"EvQ{n}")
    rig.service.wait_active(2)
    firsts = rig.api.wait_for("chat.postMessage", count=4)  # while the service is still held
    assert not rig.service.gate.is_set()
    texts = sorted(c.payload["text"] for c in firsts)
    assert texts[:2] == ["Queued: you are number 1 in line. I'll start on it as soon as I can.",
                         "Queued: you are number 2 in line. I'll start on it as soon as I can."]  # fmt: skip
    assert texts[2:] == ["Working…", "Working…"]
    rig.service.gate.set()
    rig.drain()
    finals = {c.payload["ts"]: c.payload["text"] for c in rig.api.calls_to("chat.update")}
    assert sorted(t for t in finals.values() if t.startswith("You said")) == [
        f"You said: q{n}" for n in range(4)
    ]


def test_one_conversation_cannot_take_every_slot(rig: Rig) -> None:
    rig.service.gate = threading.Event()
    rig.event(mention("a1", ts="910.0"), event_id="EvA1")
    rig.service.wait_active(1)
    for n in (2, 3, 4):  # three follow-ups in the same thread, then another conversation
        rig.event(message(f"a{n}", ts=f"91{n}.0", thread_ts="910.0"), event_id=f"EvA{n}")
    rig.event(mention("b1", ts="920.0"), event_id="EvB1")
    rig.service.wait_active(2)  # the other conversation took the free slot, not a2
    started = [c.args[0].text for c in rig.service.calls_to("handle")]
    assert started == ["a1", "b1"]
    rig.service.gate.set()
    rig.drain()
    order = [c.args[0].text for c in rig.service.calls_to("handle")]
    assert sorted(order) == ["a1", "a2", "a3", "a4", "b1"]
    assert [t for t in order if t.startswith("a")] == ["a1", "a2", "a3", "a4"]  # in order


def test_a_model_free_command_is_answered_while_every_slot_is_busy(rig: Rig) -> None:
    rig.service.gate = threading.Event()
    for n in range(3):
        rig.event(mention(f"q{n}", ts=f"93{n}.0"), event_id=f"EvC{n}")
    rig.service.wait_active(2)
    rig.service.gate.set()  # the held turns go on; the command needs no slot anyway
    rig.command("docs receipts", trigger="T-docs")
    rig.api.wait_for("response_url")
    rig.drain()


def test_slots_go_round_robin_over_conversations() -> None:
    queue = WorkQueue(workers=1)
    order: list[str] = []
    release, running = threading.Event(), threading.Event()

    def turn(name: str) -> object:
        async def job(ticket: object) -> None:
            await ticket.slot()  # type: ignore[attr-defined]
            order.append(name)
            running.set()
            await asyncio.to_thread(release.wait, 10)

        return job

    first = queue.submit_turn("A", turn("A1"))
    assert running.wait(10)  # A1 holds the one slot
    futures = [queue.submit_turn(key, turn(name)) for key, name in
               [("A", "A2"), ("A", "A3"), ("B", "B1"), ("C", "C1"), ("B", "B2")]]  # fmt: skip
    _barrier(queue)
    assert queue.waiting() == 5
    release.set()
    for future in [first, *futures]:
        future.result(10)
    assert order == ["A1", "A2", "B1", "C1", "A3", "B2"]
    queue.close(0)


def _barrier(queue: WorkQueue) -> None:
    """Return once the jobs submitted before have started (the loop runs them in order)."""

    async def nothing() -> None:
        return None

    queue.submit(nothing).result(10)
