"""A local HTTP server that speaks the OpenAI chat-completions API, for remote-backend tests.

It runs aiohttp on an ephemeral loopback port in a background thread (so sync and async
clients both reach it), answers ``POST /v1/chat/completions`` from a queue of scripted replies,
plain or streamed as server-sent events, and records every request body and header. A reply
is ``FakeReply(text=...)`` or ``FakeReply(tool_calls=[("name", {"arg": 1})])``. Instead of the
queue, ``respond`` may script replies that depend on the conversation so far (a function of the
request body), for clients that ask in no fixed order, such as several bot replicas.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeReply:
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    hold: threading.Event | None = None  # the answer waits until this is set (a slow model)


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeOpenAIServer:
    """Start with ``with FakeOpenAIServer() as server:``; ``server.base_url`` ends in ``/v1``."""

    def __init__(self) -> None:
        self.replies: deque[FakeReply] = deque()
        self.requests: list[RecordedRequest] = []
        self.respond: Callable[[dict[str, Any]], FakeReply] | None = None
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, *replies: FakeReply) -> None:
        self.replies.extend(replies)

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(RecordedRequest(request.path, dict(request.headers), body))
        if self.respond is not None:
            reply = self.respond(body)
        elif not self.replies:
            return web.json_response(
                {"error": {"message": "no reply queued", "type": "test"}}, status=500
            )
        else:
            reply = self.replies.popleft()
        if reply.hold is not None:
            await asyncio.to_thread(reply.hold.wait, 60)
        if body.get("stream"):
            return await self._stream(request, body, reply)
        return web.json_response(_completion(body, reply))

    async def _stream(
        self, request: web.Request, body: dict[str, Any], reply: FakeReply
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for delta in _deltas(reply):
            await response.write(f"data: {json.dumps(_chunk(body, delta))}\n\n".encode())
        final = _chunk(body, {}, finish="tool_calls" if reply.tool_calls else "stop")
        final["usage"] = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        await response.write(f"data: {json.dumps(final)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _calls(reply: FakeReply) -> list[dict[str, Any]]:
    return [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, (n, a) in enumerate(reply.tool_calls)
    ]


def _completion(body: dict[str, Any], reply: FakeReply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = _calls(reply)
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def _deltas(reply: FakeReply) -> list[dict[str, Any]]:
    """The reply split the way real servers stream it: role first, text in pieces, then calls."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": reply.text[i : i + 3]} for i in range(0, len(reply.text), 3)]
    for index, call in enumerate(_calls(reply)):
        args = call["function"]["arguments"]
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        deltas.append({"tool_calls": [head]})
        deltas.append(
            {"tool_calls": [{"index": index, "function": {"arguments": args[: len(args) // 2]}}]}
        )
        deltas.append(
            {"tool_calls": [{"index": index, "function": {"arguments": args[len(args) // 2 :]}}]}
        )
    return deltas


def _chunk(
    body: dict[str, Any], delta: dict[str, Any], finish: str | None = None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
