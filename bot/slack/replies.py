"""Turning the service's event stream into Slack messages, and the surface's one error handler.

``run_turn`` streams one conversation turn into its thread; ``collect`` gathers a model-free
command's events into one ``Outcome`` to show at once. Any failure ends with a short reply
naming an error id, and the log holds the traceback under that id: the bot is never silent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError

from bot.events import (
    ApprovalRequest,
    Citation,
    CitationEvent,
    Error,
    Event,
    Final,
    TextDelta,
    ToolActivity,
)
from bot.slack.blocks import approval_card
from bot.slack.streaming import ReplyStream
from bot.slack.surface import Surface
from memory.errors import new_error_id

log = logging.getLogger("bot.slack")
NO_ANSWER = "I have no answer to that."
SENT_FOR_APPROVAL = "This needs an approval first: see the card below."


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


async def run_turn(
    surface: Surface, stream: ReplyStream, events: Callable[[], AsyncIterator[Event]]
) -> None:
    """Stream one turn into its thread; any failure becomes a reply with an error id."""
    try:
        await stream.start()
        await _render(surface, stream, events())
    except Exception:  # the surface's one catch-all: log under an id, tell the person
        error_id = new_error_id()
        log.exception(
            "reply failed in %s thread %s [%s]", stream.channel, stream.thread_ts, error_id
        )
        await _report(stream, failure_text(error_id), error_id)


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


async def _report(stream: ReplyStream, text: str, error_id: str) -> None:
    try:
        if stream.messages:
            await stream.fail(text)
        else:
            await stream.post(text)
    except SlackApiError:
        log.exception("could not tell the thread about error [%s]", error_id)
