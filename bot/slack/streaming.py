"""One answer in a Slack thread, streamed by updating messages within Slack's rate limits.

A reply starts as a "working..." message in the thread. Text deltas are gathered and the
message is updated at most once per ``min_interval`` seconds (``chat.update`` is Tier 3, about
one call per second per message), with a final update when the turn ends. An answer longer
than one section block (3,000 characters) continues in further messages in the same thread;
the sources go, as one compact context block, under the last part. A reply resumed after a
restart continues the message it had already shown (``reply_ts``) instead of posting another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk import WebClient

from bot.events import Citation
from bot.slack.blocks import SECTION_LIMIT, answer_blocks, escape, split_text, status_blocks

WORKING = "Working…"


class ReplyStream:
    """The messages of one reply in ``channel``'s thread ``thread_ts``."""

    def __init__(
        self,
        client: WebClient,
        channel: str,
        thread_ts: str,
        *,
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        limit: int = SECTION_LIMIT,
        reply_ts: str | None = None,
    ) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.min_interval = min_interval
        self.clock = clock
        self.limit = limit
        self.text = ""
        self.messages: list[str] = [reply_ts] if reply_ts else []  # ts of each message, in order
        # Each message's blocks, to skip no-op updates (an adopted message's are unknown).
        self._shown: list[list[dict[str, Any]]] = [[]] if reply_ts else []
        self._last_update = float("-inf")

    async def _call(self, method: str, **kwargs: Any) -> Any:
        # The WebClient blocks; run it off the event loop so other conversations go on.
        return await asyncio.to_thread(getattr(self.client, method), **kwargs)

    async def start(self, status: str = WORKING) -> None:
        """Post the visible "working..." message that the answer will replace (or show it in
        the message this reply already has)."""
        if self.messages:
            await self._update(0, status, status_blocks(status))
            return
        response = await self._call(
            "chat_postMessage",
            channel=self.channel,
            thread_ts=self.thread_ts,
            text=status,
            blocks=status_blocks(status),
        )
        self.messages.append(response["ts"])
        self._shown.append(status_blocks(status))
        self._last_update = self.clock()

    async def status(self, message: str, now: bool = False) -> None:
        """Show what is happening (e.g. a tool at work) while no answer text has come yet;
        ``now``: even if the last update was less than ``min_interval`` ago."""
        if self.text or not self.messages or not (now or self._due()):
            return
        await self._update(0, message, status_blocks(message))

    async def delta(self, text: str) -> None:
        """Add answer text; the messages follow at most once per ``min_interval``."""
        self.text += text
        if self._due():
            await self._flush(final=False, citations=())

    async def finish(
        self, text: str | None = None, citations: Sequence[Citation] = (), feedback: str = ""
    ) -> None:
        """Show the complete answer (``text`` wins over the streamed deltas when given), its
        sources and (``feedback``: the answer's id) the feedback buttons under its last part."""
        if text:
            self.text = text
        await self._flush(final=True, citations=citations, feedback=feedback)

    async def post(self, text: str, blocks: list[dict[str, Any]] | None = None) -> str:
        """A further message in the thread (an error note, an approval card); returns its ts."""
        response = await self._call(
            "chat_postMessage",
            channel=self.channel,
            thread_ts=self.thread_ts,
            text=text,
            blocks=blocks,
        )
        return str(response["ts"])

    async def interrupt(self, message: str) -> None:
        """Show ``message`` in place of the reply so far (its first message; the bot stops)."""
        self.text = ""
        if self.messages:
            await self._update(0, message, answer_blocks(escape(message)))
        else:
            await self.start(message)

    async def cite(self, citations: Sequence[Citation]) -> None:
        """Documents a tool found: this reply shows them under its end (``finish``)."""

    async def stopped(self, message: str) -> None:
        """The person stopped the answer: what came so far stays, ``message`` says so."""
        await self.fail(message)

    async def fail(self, message: str) -> None:
        """End the reply with a short failure note (in place of "working..." if nothing came)."""
        if not self.text and self.messages:
            await self._update(0, message, answer_blocks(escape(message)))
        else:
            await self.post(message)

    def _due(self) -> bool:
        return self.clock() - self._last_update >= self.min_interval

    async def _flush(self, final: bool, citations: Sequence[Citation], feedback: str = "") -> None:
        body = self.text.strip()
        parts = split_text(escape(body), self.limit) if body else []
        if not parts:
            return
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            shown = part if (final or not last) else f"{part} …"
            done = final and last
            blocks = answer_blocks(shown, citations if done else (), feedback if done else "")
            if index < len(self.messages):
                await self._update(index, shown, blocks)
            else:
                await self._append(shown, blocks)

    async def _update(self, index: int, text: str, blocks: list[dict[str, Any]]) -> None:
        if self._shown[index] == blocks:
            return
        await self._call(
            "chat_update", channel=self.channel, ts=self.messages[index], text=text, blocks=blocks
        )
        self._shown[index] = blocks
        self._last_update = self.clock()

    async def _append(self, text: str, blocks: list[dict[str, Any]]) -> None:
        ts = await self.post(text, blocks)
        self.messages.append(ts)
        self._shown.append(blocks)
        self._last_update = self.clock()
