"""Turning the service's event stream into Slack messages, and the surface's one error handler.

``answer_turn`` takes one accepted turn from its first visible message (a queued note with its
position when every slot is busy) to its answer, and marks it answered only once the answer is
in the thread; ``run_turn`` streams the service's events into the reply; ``collect`` gathers a
model-free command's events into one ``Outcome`` to show at once.

Where Slack's agent features are on, each message chooses its stream: native streaming
(``NativeStream``) unless this process saw the workspace refuse it or the reply continues a
message shown before a restart, else the classic ``ReplyStream``. The thread's status and
session follow the turn (``ThreadStatus``); every answer is kept (``memory/slack_feedback.py``)
with its turn and the model that wrote it, and ends with the feedback buttons. An answer the
person stopped keeps what it showed and says it was stopped. Any failure ends with a short
reply naming an error id, and the log holds the traceback under that id: the bot is never
silent. At shutdown a turn is told so in its thread and stays owed: the next start answers it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
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
from bot.slack.agent import ThreadStatus, waiting_text
from bot.slack.blocks import approval_card
from bot.slack.native import NativeStream
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


Stream = ReplyStream | NativeStream


def reply_stream(
    surface: Surface, inbound: Inbound, reply_ts: str | None = None, team: str = ""
) -> Stream:
    """The stream of a reply in the inbound's thread: native where this workspace takes it,
    else classic (always classic when it continues ``reply_ts``, a message shown before)."""
    if reply_ts is None and surface.caps.on["native"]:
        return NativeStream(
            surface.client,
            inbound.channel,
            inbound.thread,
            team=team,
            user=inbound.user,
            caps=surface.caps,
            docs_url=surface.settings.docs_url,
            min_interval=surface.min_update_interval,
        )
    return ReplyStream(
        surface.client,
        inbound.channel,
        inbound.thread,
        min_interval=surface.min_update_interval,
        reply_ts=reply_ts,
    )


def thread_status(surface: Surface, inbound: Inbound) -> ThreadStatus:
    return ThreadStatus(surface.client, surface.caps, inbound.channel, inbound.thread, inbound.user)


async def answer_turn(surface: Surface, turn: Turn, ticket: Ticket) -> None:
    """Answer one accepted turn: first message now, the answer once a slot is free."""
    inbound = Inbound(**turn.payload["inbound"])
    stream = reply_stream(surface, inbound, turn.reply_ts, str(turn.payload.get("team") or ""))
    status = thread_status(surface, inbound)
    try:
        queued = ticket.queued
        await stream.start(queued_text(ticket.ahead) if queued else WORKING)
        if stream.messages and not turn.reply_ts:
            await surface.queue.store(surface.inbox.placed, turn.key, stream.messages[0])
        await ticket.slot()
        if queued:
            await stream.status(WORKING, now=True)
        await surface.queue.store(surface.inbox.started, turn.key)
        first = not await surface.queue.store(
            surface.answers.turns, inbound.channel, inbound.thread
        )
        await status.working(inbound.text, first=first)
        answered = await run_turn(
            surface, stream, lambda: surface.service.handle(inbound), status, inbound
        )
    except asyncio.CancelledError:  # shutting down: say so; the turn stays owed
        note = RESTARTING if ticket.held else RESTARTING_QUEUED
        await _quietly(stream.interrupt(note), "could not tell a thread about the restart")
        await _quietly(status.done(), "could not end a thread's session")
        raise
    if answered:
        await surface.queue.store(surface.inbox.answered, turn.key)


async def _quietly(call: Awaitable[object], what: str) -> None:
    try:
        await call
    except (SlackApiError, OSError):
        log.warning("%s in time", what)


async def run_turn(
    surface: Surface,
    stream: Stream,
    events: Callable[[], AsyncIterator[Event]],
    status: ThreadStatus | None = None,
    inbound: Inbound | None = None,
) -> bool:
    """Stream one turn into its thread; any failure becomes a reply with an error id.

    True once the thread shows a final message (the answer, or the failure's short note).
    ``status``: the thread's status and session, which follow the turn; ``inbound``: the
    request, kept with the answer.
    """
    status = status or ThreadStatus(surface.client, surface.caps, "", "", "")
    try:
        if not stream.messages:
            await stream.start()
        waiting = await _render(surface, stream, events(), status, inbound)
        await status.done(waiting=waiting)
        return True
    except Exception:  # the surface's one catch-all: log under an id, tell the person
        error_id = new_error_id()
        log.exception(
            "reply failed in %s thread %s [%s]", stream.channel, stream.thread_ts, error_id
        )
        await _quietly(status.done(), "could not end a thread's session")
        return await _report(stream, failure_text(error_id), error_id)


@dataclass
class _Seen:
    """What a turn's events amounted to."""

    text: str = ""
    citations: list[Citation] = field(default_factory=list)
    approvals: int = 0
    error: Error | None = None
    stopped: str = ""  # why the service stopped the turn early ("person", "deadline")


async def _render(
    surface: Surface,
    stream: Stream,
    events: AsyncIterator[Event],
    status: ThreadStatus,
    inbound: Inbound | None,
) -> bool:
    """Show the turn; True when it ended waiting for an approval."""
    seen = _Seen()
    async for event in events:
        if isinstance(event, TextDelta):
            await stream.delta(event.text)
        elif isinstance(event, ToolActivity):
            await stream.status(event.message)
            await status.show(event.message)
        elif isinstance(event, CitationEvent):
            seen.citations.extend(event.citations)
            await stream.cite(event.citations)
        elif isinstance(event, ApprovalRequest):
            await post_card(surface, stream.channel, stream.thread_ts, event)
            seen.approvals += 1
            await status.show(waiting_text(event.role, event.approvers))
        elif isinstance(event, Final):
            seen.text = event.text
            seen.citations.extend(event.citations)
            seen.stopped = str(event.data.get("stopped") or "")
        elif isinstance(event, Error):
            seen.error = event
    await _end(surface, stream, seen, inbound)
    return seen.approvals > 0 and not (seen.error or seen.stopped)


async def _end(surface: Surface, stream: Stream, seen: _Seen, inbound: Inbound | None) -> None:
    """The turn's last words: the failure, the stop, or the answer with its feedback buttons."""
    if seen.error is not None:
        log.warning("service reported an error [%s]: %s", seen.error.error_id, seen.error.message)
        await stream.fail(failure_text(seen.error.error_id, seen.error.message))
        return
    if seen.stopped == "person":
        log.info("the answer in %s thread %s was stopped", stream.channel, stream.thread_ts)
        await stream.stopped(seen.text)
        return
    if seen.stopped:
        await stream.finish(seen.text, seen.citations)
        return
    final_text = seen.text
    if not (final_text or stream.text):
        final_text = SENT_FOR_APPROVAL if seen.approvals else NO_ANSWER
    answer_id = await _keep(surface, stream, inbound, final_text or stream.text)
    await stream.finish(final_text or None, seen.citations, feedback=answer_id)


async def _keep(surface: Surface, stream: Stream, inbound: Inbound | None, answer: str) -> str:
    """Store the answer before its feedback buttons can be pressed; returns its id."""
    if inbound is None:
        return ""
    answer_id = f"A{uuid.uuid4().hex[:12]}"
    model, adapter = surface.answered_by
    await surface.queue.store(
        surface.answers.record,
        answer_id, inbound.channel, inbound.thread, inbound.text, answer.strip(), model, adapter,
        stream.messages[0] if stream.messages else None,
    )  # fmt: skip
    return answer_id


async def _report(stream: Stream, text: str, error_id: str) -> bool:
    try:
        if stream.messages:
            await stream.fail(text)
        else:
            await stream.post(text)
    except SlackApiError:
        log.exception("could not tell the thread about error [%s]", error_id)
        return False
    return True
