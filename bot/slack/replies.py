"""Turning the service's event stream into Slack messages, and the surface's one error handler.

``answer_turn`` takes one accepted turn from its first visible message (a queued note with its
position when every slot is busy) to its answer, and marks it answered only once the answer is
in the thread; ``run_turn`` streams the service's events into the reply; ``collect`` gathers a
model-free command's events into one ``Outcome`` to show at once. Any failure ends with a short
reply naming an error id, and the log holds the traceback under that id: the bot is never
silent. At shutdown a turn is told so in its thread and stays owed: the next start answers it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError

from bot.events import (
    ApprovalRequest,
    Citation,
    CitationEvent,
    Error,
    Event,
    Final,
    Inbound,
    TextDelta,
    ToolActivity,
)
from bot.slack.blocks import approval_card
from bot.slack.streaming import WORKING, ReplyStream
from bot.slack.surface import Surface
from bot.slack.worker import Ticket
from memory.errors import new_error_id
from memory.slack_inbox import Turn

log = logging.getLogger("bot.slack")
NO_ANSWER = "I have no answer to that."
SENT_FOR_APPROVAL = "This needs an approval first: see the card below."
RESTARTING = (
    ":arrows_counterclockwise: I'm restarting and had to stop in the middle of this; "
    "I'll answer it as soon as I'm back."
)
RESTARTING_QUEUED = (
    ":arrows_counterclockwise: I'm restarting; your request is saved and I'll answer it "
    "as soon as I'm back."
)


def queued_text(ahead: int) -> str:
    """The first message of a turn that waits for a slot (``ahead``: turns waiting before it)."""
    return f"Queued: you are number {ahead + 1} in line. I'll start on it as soon as I can."


def failure_text(error_id: str, message: str = "Something went wrong on my side.") -> str:
    return f":warning: {message} (error id `{error_id}`)"


@dataclass
class Outcome:
    """Everything one command or decision produced, gathered."""

    text: str = ""
    citations: list[Citation] = field(default_factory=list)
    approvals: list[ApprovalRequest] = field(default_factory=list)
    error: Error | None = None
    data: dict[str, object] = field(default_factory=dict)


async def collect(events: AsyncIterator[Event]) -> Outcome:
    """Gather a stream into one outcome (deltas concatenated, a Final's text wins)."""
    outcome, deltas = Outcome(), []
    async for event in events:
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        elif isinstance(event, CitationEvent):
            outcome.citations.extend(event.citations)
        elif isinstance(event, ApprovalRequest):
            outcome.approvals.append(event)
        elif isinstance(event, Final):
            outcome.text = event.text
            outcome.citations.extend(event.citations)
            outcome.data = dict(event.data)
        elif isinstance(event, Error):
            outcome.error = event
    if not outcome.text:
        outcome.text = "".join(deltas)
    return outcome


async def safe_collect(events: Callable[[], AsyncIterator[Event]]) -> Outcome:
    """``collect``, with any failure logged under an error id and returned as an ``Error``."""
    try:
        return await collect(events())
    except Exception:  # the surface's catch-all: log under an id, the caller tells the person
        error_id = new_error_id()
        log.exception("service call failed [%s]", error_id)
        return Outcome(error=Error("Something went wrong on my side.", error_id))


async def post_card(
    surface: Surface, channel: str, thread_ts: str | None, request: ApprovalRequest
) -> str:
    """Post an approval card and remember where it is; returns the card's ts."""
    response = await asyncio.to_thread(
        surface.client.chat_postMessage,
        channel=channel,
        thread_ts=thread_ts,
        text=f"Approval needed: {request.summary}"[:3000],
        blocks=approval_card(request),
    )
    ts = str(response["ts"])
    real_channel = str(response.get("channel") or channel)
    surface.cards.save(request.action_id, real_channel, ts, dataclasses.asdict(request))
    return ts


def reply_stream(surface: Surface, inbound: Inbound, reply_ts: str | None = None) -> ReplyStream:
    """The stream of a reply in the inbound's thread (continuing ``reply_ts`` if it has one)."""
    return ReplyStream(
        surface.client,
        inbound.channel,
        inbound.thread,
        min_interval=surface.min_update_interval,
        reply_ts=reply_ts,
    )


async def answer_turn(surface: Surface, turn: Turn, ticket: Ticket) -> None:
    """Answer one accepted turn: first message now, the answer once a slot is free."""
    inbound = Inbound(**turn.payload["inbound"])
    stream = reply_stream(surface, inbound, turn.reply_ts)
    try:
        queued = ticket.queued
        await stream.start(queued_text(ticket.ahead) if queued else WORKING)
        if stream.messages and not turn.reply_ts:
            await surface.queue.store(surface.inbox.placed, turn.key, stream.messages[0])
        await ticket.slot()
        if queued:
            await stream.status(WORKING, now=True)
        await surface.queue.store(surface.inbox.started, turn.key)
        answered = await run_turn(surface, stream, lambda: surface.service.handle(inbound))
    except asyncio.CancelledError:  # shutting down: say so; the turn stays owed
        note = RESTARTING if ticket.held else RESTARTING_QUEUED
        await _quietly(stream.interrupt(note), "could not tell a thread about the restart")
        raise
    if answered:
        await surface.queue.store(surface.inbox.answered, turn.key)


async def _quietly(call: Awaitable[object], what: str) -> None:
    try:
        await call
    except (SlackApiError, OSError):
        log.warning("%s in time", what)


async def run_turn(
    surface: Surface, stream: ReplyStream, events: Callable[[], AsyncIterator[Event]]
) -> bool:
    """Stream one turn into its thread; any failure becomes a reply with an error id.

    True once the thread shows a final message (the answer, or the failure's short note).
    """
    try:
        if not stream.messages:
            await stream.start()
        await _render(surface, stream, events())
        return True
    except Exception:  # the surface's one catch-all: log under an id, tell the person
        error_id = new_error_id()
        log.exception(
            "reply failed in %s thread %s [%s]", stream.channel, stream.thread_ts, error_id
        )
        return await _report(stream, failure_text(error_id), error_id)


async def _render(surface: Surface, stream: ReplyStream, events: AsyncIterator[Event]) -> None:
    citations: list[Citation] = []
    final_text, approvals, error = "", 0, None
    async for event in events:
        if isinstance(event, TextDelta):
            await stream.delta(event.text)
        elif isinstance(event, ToolActivity):
            await stream.status(event.message)
        elif isinstance(event, CitationEvent):
            citations.extend(event.citations)
        elif isinstance(event, ApprovalRequest):
            await post_card(surface, stream.channel, stream.thread_ts, event)
            approvals += 1
        elif isinstance(event, Final):
            final_text = event.text
            citations.extend(event.citations)
        elif isinstance(event, Error):
            error = event
    if error is not None:
        log.warning("service reported an error [%s]: %s", error.error_id, error.message)
        await stream.fail(failure_text(error.error_id, error.message))
        return
    if not (final_text or stream.text):
        final_text = SENT_FOR_APPROVAL if approvals else NO_ANSWER
    await stream.finish(final_text or None, citations)


async def _report(stream: ReplyStream, text: str, error_id: str) -> bool:
    try:
        if stream.messages:
            await stream.fail(text)
        else:
            await stream.post(text)
    except SlackApiError:
        log.exception("could not tell the thread about error [%s]", error_id)
        return False
    return True
