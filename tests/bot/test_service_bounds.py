"""A turn is bounded: a long message is cut with a note, a deadline ends the wait with a short
true answer, a stop ends it at once, and nothing the stopped turn had not proposed yet is
proposed; model-free work never waits behind turns."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage

from bot.service import STOPPED_TEXT
from bot.wiring import App
from tests.bot.conftest import collect, inbound, of_kind
from tests.bot.test_service import CLAIM
from tests.fakes.chat_model import ScriptedChatModel, tool_call


def _held(gate: threading.Event, entered: threading.Event) -> Any:
    """A reply that waits at ``gate`` (a slow model), then asks to submit a form."""

    def reply(messages: list[BaseMessage]) -> Any:
        entered.set()
        assert gate.wait(30), "the test never let the model answer"
        return tool_call("submit_form", form="expense_claim", values=CLAIM)

    return reply


async def test_a_message_over_its_budget_is_cut_and_the_reply_says_so(
    app: App, model: ScriptedChatModel
) -> None:
    model.enqueue("Noted.")
    huge = "Please read our whole travel manual. " + "word " * 80_000
    events = await collect(app.service.handle(inbound(huge)))
    seen = [m for m in model.calls[0] if isinstance(m, HumanMessage)][-1]
    assert len(str(seen.content)) < len(huge) / 10  # the model got the budget's share only
    final = of_kind(events, "final")[-1]
    assert final.text.startswith("_Your message was long: I read its first")
    assert final.text.endswith("Noted.")
    assert of_kind(events, "text_delta")[0].text.startswith("_Your message was long")


async def test_the_deadline_ends_the_turn_and_nothing_is_proposed_after(
    app: App, model: ScriptedChatModel
) -> None:
    gate, entered = threading.Event(), threading.Event()
    model.enqueue(_held(gate, entered), "Waiting for approval.")
    app.service.deadline = 0.2  # type: ignore[attr-defined]
    events = await collect(app.service.handle(inbound("file my taxi receipt")))
    final = events[-1]
    assert final.kind == "final" and final.data == {"stopped": "deadline"}
    assert "within 0.2 seconds" in final.text
    gate.set()  # the model answers late, with a proposal nobody will see
    app.service.close(wait=True)
    assert app.approvals.list(status=("pending",)) == []


async def test_stop_ends_a_running_turn_at_once(app: App, model: ScriptedChatModel) -> None:
    gate, entered = threading.Event(), threading.Event()
    model.enqueue(_held(gate, entered), "Waiting for approval.")
    turn = inbound("file my taxi receipt", thread="T-stop")
    assert app.service.stop(turn.conversation_id) is False  # nothing runs yet

    async def stop_when_the_model_runs() -> bool:
        await asyncio.to_thread(entered.wait, 10)
        return app.service.stop(turn.conversation_id)

    stopper = asyncio.create_task(stop_when_the_model_runs())
    events = await collect(app.service.handle(turn))
    assert await stopper is True
    assert events[-1].kind == "final" and events[-1].text == STOPPED_TEXT
    assert events[-1].data == {"stopped": "person"}
    gate.set()
    app.service.close(wait=True)
    assert app.approvals.list(status=("pending",)) == []
    assert app.service.stop(turn.conversation_id) is False  # it is over


async def test_model_free_commands_do_not_wait_behind_turns(
    app: App, model: ScriptedChatModel
) -> None:
    gates = [threading.Event() for _ in range(4)]
    entered = [threading.Event() for _ in range(4)]
    model.enqueue(*(_held(g, e) for g, e in zip(gates, entered, strict=True)), *["ok"] * 4)
    turns = [
        asyncio.create_task(collect(app.service.handle(inbound(f"file {n}", thread=f"T{n}"))))
        for n in range(4)  # every agent worker (Settings.workers) is busy with the model
    ]
    for went in entered:
        assert await asyncio.to_thread(went.wait, 10)
    listing = await collect(app.service.command(inbound("/forms", thread=""), "forms", ""))
    assert "expense_claim" in of_kind(listing, "final")[0].text.lower().replace(" ", "_")
    assert not [t.result() for t in turns if t.done()]  # answered while every turn still ran
    for gate in gates:
        gate.set()
    await asyncio.gather(*turns)
