"""What the bot owes a message, from the moment it accepts it until the answer is in the thread.

A message the bot will answer is claimed once in the durable inbox (``memory/slack_inbox.py``)
as one of three kinds: ``turn`` (the agent answers; it takes a model slot), ``help`` (a mention
with nothing in it) and ``files`` (shared documents: one offer to add them). The claim happens
before Slack's delivery is acknowledged, and the turn is marked answered only once its answer
is posted, so a restart, or a crash, answers whatever was accepted and not yet answered:
``resume`` takes those turns over at start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from bot.events import Inbound
from bot.slack import files
from bot.slack.blocks import HELP_TEXT, help_blocks
from bot.slack.replies import answer_turn
from bot.slack.surface import Surface, log
from memory.errors import new_error_id
from memory.slack_inbox import Claim, Turn

Kind = Literal["turn", "help", "files"]


def accept(
    surface: Surface,
    message_key: str,
    event_id: str | None,
    inbound: Inbound,
    kind: Kind = "turn",
    shared: list[dict[str, Any]] | None = None,
    team: str = "",
) -> None:
    """Claim and schedule what a message is owed, joining its thread (follow-ups there need no
    mention); a message claimed before is skipped. ``team``: the person's workspace (a native
    stream's recipient). Inside ``claiming()`` the claim is stored when that block ends."""
    payload = {
        "kind": kind, "inbound": dataclasses.asdict(inbound), "files": shared or [], "team": team,
    }  # fmt: skip
    claim = Claim(message_key, event_id, payload, (inbound.channel, inbound.thread))
    pending: list[tuple[Surface, Claim]] | None = getattr(_batch, "claims", None)
    if pending is not None:
        pending.append((surface, claim))
    else:
        _store(surface, [claim])


_batch = threading.local()


@contextmanager
def claiming() -> Iterator[None]:
    """Messages accepted on this thread meanwhile are claimed together, in one transaction,
    when the block ends, and then scheduled.

    The dispatcher hands a burst's events to the listeners this way: claimed one transaction
    each, their claims waited for SQLite's write lock (the first messages being recorded took
    it in turn), a third of the hand-over of a 500-event burst.
    """
    if getattr(_batch, "claims", None) is not None:  # already inside one
        yield
        return
    _batch.claims = []
    try:
        yield
    finally:
        pending: list[tuple[Surface, Claim]] = _batch.claims
        _batch.claims = None
        for surface in {id(s): s for s, _ in pending}.values():
            _store(surface, [c for s, c in pending if s is surface])


def joining(channel: str, thread: str) -> bool:
    """Whether a claim waiting in this thread's ``claiming()`` block joins that Slack thread."""
    pending: list[tuple[Surface, Claim]] = getattr(_batch, "claims", None) or []
    return any(c.thread == (channel, thread) for _, c in pending)


def _store(surface: Surface, claims: list[Claim]) -> None:
    try:
        claimed = surface.inbox.accept_many(claims)
    except Exception:  # Slack has its 200: say so, loudly (the spool keeps nothing after this)
        log.exception("could not claim %d acknowledged messages [%s]", len(claims), new_error_id())
        return
    for claim, taken in zip(claims, claimed, strict=True):
        if taken:
            schedule(surface, Turn(claim.message_key, claim.event_id, claim.payload, "accepted",
                                   None, None, 0))  # fmt: skip
        else:
            log.info("skipping a repeated delivery of %s (event %s)", claim.message_key,
                     claim.event_id)  # fmt: skip


def schedule(surface: Surface, turn: Turn) -> None:
    """Queue the work of an owed turn in its lane."""
    kind = turn.payload.get("kind", "turn")
    if kind == "turn":
        key = Inbound(**turn.payload["inbound"]).conversation_id
        surface.queue.submit_turn(key, lambda ticket: answer_turn(surface, turn, ticket))
    elif kind == "help":
        surface.queue.submit(lambda: _answer_help(surface, turn))
    else:
        surface.queue.submit(lambda: _answer_files(surface, turn))


def resume(surface: Surface) -> int:
    """Take over the turns a stopped or crashed process accepted and never answered."""
    turns = surface.inbox.take_over()
    for turn in turns:
        schedule(surface, turn)
    if turns:
        log.info("answering %d turns accepted before the last stop", len(turns))
    return len(turns)


async def _answer_help(surface: Surface, turn: Turn) -> None:
    inbound = Inbound(**turn.payload["inbound"])
    await _post_once(surface, turn, inbound, text=HELP_TEXT, blocks=help_blocks())


async def _answer_files(surface: Surface, turn: Turn) -> None:
    inbound = Inbound(**turn.payload["inbound"])
    text, blocks = files.offer_message(surface, turn.payload["files"])
    await _post_once(surface, turn, inbound, text=text, blocks=blocks)


async def _post_once(surface: Surface, turn: Turn, inbound: Inbound, **message: Any) -> None:
    """Post a one-message answer in the thread (updating it if a restart interrupted us)."""
    client = surface.client
    if turn.reply_ts:
        await asyncio.to_thread(
            client.chat_update, channel=inbound.channel, ts=turn.reply_ts, **message
        )
    else:
        await asyncio.to_thread(
            client.chat_postMessage, channel=inbound.channel, thread_ts=inbound.thread, **message
        )
    await surface.queue.store(surface.inbox.answered, turn.key)
