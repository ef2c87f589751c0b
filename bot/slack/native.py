"""One answer streamed with Slack's native streaming (``chat.startStream`` / ``appendStream`` /
``stopStream``, through ``slack_sdk``'s ``ChatStream``), and its fallback.

The reply is one streaming message: the tools at work show as task updates (the search task
ends with the documents it found as its sources, as links when ``RPA_DOCS_URL`` says where
people read them), the answer text streams below them at most once per ``min_interval``, and
the stream ends with the sources line and the feedback buttons. Each call's text stays within
the method's 12,000 characters, and one message holds 12,000 characters of answer at most: a
longer answer continues in a further streamed message.

Where native streaming is refused (an older workspace, a missing recipient, the stream
stopped or expired, any error), this message falls back to ``ReplyStream`` (a message
updated with ``chat.update``), continuing the streamed message when there is one; the refusal
is logged once (``Capabilities``) and, when it holds for the whole workspace, later replies
start classic at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import UrlSourceElement
from slack_sdk.models.messages.chunk import Chunk, TaskUpdateChunk

from bot.events import Citation
from bot.slack.agent import Capabilities
from bot.slack.blocks import citation_context, escape, feedback_block
from bot.slack.streaming import WORKING, ReplyStream

log = logging.getLogger("bot.slack")

CALL_CHARS = 12_000  # markdown_text of one call
MESSAGE_CHARS = 12_000  # answer text in one streamed message (see docs/slack.md)


class NativeStream:
    """The messages of one reply in ``channel``'s thread ``thread_ts``, streamed natively."""

    def __init__(
        self,
        client: WebClient,
        channel: str,
        thread_ts: str,
        *,
        team: str,
        user: str,
        caps: Capabilities,
        docs_url: str | None = None,
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.channel, self.thread_ts = client, channel, thread_ts
        self.team, self.user, self.caps, self.docs_url = team, user, caps, docs_url
        self.min_interval, self.clock = min_interval, clock
        self.text = ""  # the answer so far
        self.messages: list[str] = []  # ts of each message of this reply, in order
        self.fallback: ReplyStream | None = None
        self._stream: Any = None  # the ChatStream of the current message
        self._sent = 0  # characters of ``text`` already in messages
        self._in_message = 0  # of those, in the current message
        self._shown_from = 0  # where the fallback's message begins in ``text``
        self._current: str | None = None  # ts of the message being streamed
        self._task: tuple[str, str] | None = None  # the task in progress: (id, title)
        self._tasks = 0
        self._last = float("-inf")

    # ---- the interface replies use (the same as ReplyStream's) ----------------------------------
    async def start(self, status: str = WORKING) -> None:
        await self._chunks([self._begin_task(status)])

    async def status(self, message: str, now: bool = False) -> None:
        """A tool at work: the last task is complete, this one in progress."""
        if self.fallback is not None:
            await self.fallback.status(message, now)
            return
        await self._chunks([*self._end_task(), self._begin_task(message)])

    async def delta(self, text: str) -> None:
        self.text += text
        if self.fallback is not None:
            await self.fallback.delta(text)
        elif self.clock() - self._last >= self.min_interval:
            await self._flush()

    async def cite(self, citations: Sequence[Citation]) -> None:
        """Documents a tool found: the task at work is complete, with them as its sources."""
        if self.fallback is None and self._task is not None:
            await self._chunks(self._end_task(citations))

    async def finish(
        self, text: str | None = None, citations: Sequence[Citation] = (), feedback: str = ""
    ) -> None:
        """End the reply: the rest of the answer, its sources, the feedback buttons."""
        if text and text.strip() != self.text.strip():
            if not text.startswith(self.text[: self._sent]):  # not what streamed: start over
                await self._to_classic(None)
            self.text = text
        if self.fallback is not None:
            await self.fallback.finish(self.text[self._shown_from :], citations, feedback)
            return
        await self._flush()
        blocks = [b.to_dict() for b in (citation_context(citations),) if b is not None]
        if feedback:
            blocks.append(feedback_block(feedback))
        await self._stop(self._end_task(citations), blocks)
        if self.fallback is not None:  # stopping failed: the classic reply finishes it
            await self.fallback.finish(self.text[self._shown_from :], citations, feedback)

    async def stopped(self, message: str) -> None:
        """The person stopped the answer: Slack has ended the stream; ``message`` says so."""
        self._stream = None  # stopped by Slack: no more calls on it
        await self._to_classic(None)
        assert self.fallback is not None
        await self.fallback.fail(message)

    async def fail(self, message: str) -> None:
        await self._end_with(message)

    async def interrupt(self, message: str) -> None:
        self.text = ""
        await self._end_with(message)

    async def post(self, text: str, blocks: list[dict[str, Any]] | None = None) -> str:
        """A further message in the thread (an approval card); returns its ts."""
        response = await asyncio.to_thread(
            self.client.chat_postMessage,
            channel=self.channel,
            thread_ts=self.thread_ts,
            text=text,
            blocks=blocks,
        )
        return str(response["ts"])

    # ---- inside ---------------------------------------------------------------------------------
    async def _end_with(self, message: str) -> None:
        if self.fallback is not None:
            await self.fallback.fail(message)
            return
        await self._flush()
        await self._stop([*self._end_task(), _markdown(f"\n\n{escape(message)}")], [])
        if self.fallback is not None:
            await self.fallback.fail(message)

    def _begin_task(self, title: str) -> Chunk:
        self._tasks += 1
        self._task = (f"task_{self._tasks}", title[:200])
        return TaskUpdateChunk(id=self._task[0], title=self._task[1], status="in_progress")

    def _end_task(self, citations: Sequence[Citation] = ()) -> list[Chunk]:
        if self._task is None:
            return []
        task_id, title = self._task
        self._task = None
        sources = self._sources(citations)
        return [TaskUpdateChunk(id=task_id, title=title, status="complete", sources=sources)]

    def _sources(self, citations: Sequence[Citation]) -> list[UrlSourceElement] | None:
        if not (citations and self.docs_url):
            return None
        base = self.docs_url.rstrip("/")
        unique = {c.path: c for c in citations if c.path}
        return [
            UrlSourceElement(url=f"{base}/{path.lstrip('/')}", text=c.label()[:150])
            for path, c in list(unique.items())[:10]
        ] or None

    async def _flush(self) -> None:
        """Append the answer text not sent yet (a further message past MESSAGE_CHARS)."""
        while self.fallback is None and self._sent < len(self.text):
            room = MESSAGE_CHARS - self._in_message
            if room <= 0:
                await self._stop([], [])
                self._stream, self._in_message, self._current = None, 0, None
                continue
            piece = self.text[self._sent : self._sent + min(room, CALL_CHARS)]
            while len(escape(piece)) > CALL_CHARS:  # escaping lengthens it (& is 5 characters)
                piece = piece[: len(piece) * 3 // 4]
            # The answer has begun: the task at work (thinking, a tool) is complete.
            if not await self._chunks([*self._end_task(), _markdown(escape(piece))]):
                return
            self._sent += len(piece)
            self._in_message += len(piece)
        self._last = self.clock()

    async def _chunks(self, chunks: list[Chunk]) -> bool:
        """Send chunks on the current stream (starting one if needed); False if it fell back."""
        if self.fallback is None and self._stream is None and self.caps.on["native"]:
            self._stream = self.client.chat_stream(
                channel=self.channel,
                thread_ts=self.thread_ts,
                recipient_team_id=self.team or None,
                recipient_user_id=self.user or None,
                task_display_mode="timeline",
                buffer_size=1,
            )
        if self.fallback is not None or self._stream is None:
            await self._to_classic(None)
            return False
        try:
            await asyncio.to_thread(self._stream.append, chunks=chunks)
        except (SlackClientError, OSError) as exc:
            await self._to_classic(exc)
            return False
        if self._stream.ts and self._stream.ts not in self.messages:
            self._current = str(self._stream.ts)
            self.messages.append(self._current)
        return True

    async def _stop(self, chunks: list[Chunk], blocks: list[dict[str, Any]]) -> None:
        if self._stream is None:
            return
        try:
            await asyncio.to_thread(self._stream.stop, chunks=chunks or None, blocks=blocks or None)
        except (SlackClientError, OSError) as exc:
            await self._to_classic(exc)

    async def _to_classic(self, exc: Exception | None) -> None:
        """Go on with ``chat.update`` in the message streamed so far (or a new one)."""
        if self.fallback is not None:
            return
        if isinstance(exc, SlackApiError):
            self.caps.refused("native", exc)
        elif exc is not None:
            log.warning("native streaming failed (%s): this reply goes on classic", exc)
        if self._stream is not None and self._current:
            try:  # a stream still open ends first; one Slack stopped is already a message
                await asyncio.to_thread(self._stream.stop)
            except (SlackClientError, OSError):
                log.info(
                    "the stream of %s could not be stopped; it is continued classic",
                    self._current,
                )
        self._stream = None
        reply_ts = self._current
        self.fallback = ReplyStream(
            self.client, self.channel, self.thread_ts, min_interval=self.min_interval,
            clock=self.clock, reply_ts=reply_ts,
        )  # fmt: skip
        self._shown_from = self._sent - self._in_message if reply_ts else 0
        self.fallback.text = self.text[self._shown_from :]
        if not reply_ts:
            await self.fallback.start(self._task[1] if self._task else WORKING)
            self.messages.extend(m for m in self.fallback.messages if m not in self.messages)


def _markdown(text: str) -> Chunk:
    from slack_sdk.models.messages.chunk import MarkdownTextChunk

    return MarkdownTextChunk(text=text)
