"""A reader that stops reading stops the turn: the model's token stream is closed at its next token.

The real service, agent (LangGraph) and callbacks, with a model whose reply streams only as far
as the test allows (tests/fakes/paced_model.py).
"""

from __future__ import annotations

import asyncio

import pytest

from bot.events import TextDelta
from bot.wiring import App
from tests.bot.conftest import collect, inbound, of_kind
from tests.fakes.paced_model import PacedChatModel


@pytest.fixture
def model() -> PacedChatModel:
    return PacedChatModel()


async def first_text(stream: object) -> TextDelta:
    async for event in stream:  # type: ignore[attr-defined]
        if isinstance(event, TextDelta):
            return event
    raise AssertionError("the answer never started")


async def test_a_stream_closed_midway_stops_the_model_at_its_next_token(
    app: App, model: PacedChatModel
) -> None:
    stream = app.service.handle(inbound("tell me everything about expenses"))
    assert (await first_text(stream)).text == "word0 "
    await stream.aclose()  # what the terminal does on Ctrl-C
    model.release.set()  # the model may go on: it must stop at its next token
    assert await asyncio.to_thread(model.closed.wait, 20), "the token stream was never closed"
    assert model.pieces <= 3, model.pieces
    # The conversation is free again at once: the next request in it is answered.
    events = await collect(app.service.command(inbound("/forms"), "forms", ""))
    assert "expense_claim" in of_kind(events, "final")[0].text


async def test_a_stream_read_to_the_end_is_not_cancelled(app: App, model: PacedChatModel) -> None:
    model.length = 5
    model.release.set()
    events = await collect(app.service.handle(inbound("tell me a short story")))
    assert of_kind(events, "final")[0].text.split() == [f"word{n}" for n in range(5)]
    assert model.pieces == 5
