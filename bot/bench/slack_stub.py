"""The benchmarks' stand-in Slack Web API, in a process of its own (as Slack is another machine).

Every method answers ``ok`` (``auth.test`` with the bot's ids); per thread, the time of its
first message (``chat.postMessage`` or ``chat.update``) and how many messages were posted in
it are kept, and ``GET /bench/threads`` returns them. Served in the bot's process, the stand-in
held the GIL about as long as the bot's own first-message path did (a burst of 500 events,
sampled: 0.7 s against 0.9 s), so the bot shared its GIL with what plays Slack; on two cores
the first-message figures did not move measurably either way (the stand-in now takes a core's
time instead), but what they measure is the bot alone.

``time.perf_counter`` is system-wide (CLOCK_MONOTONIC), so the times compare with the load
generator's send times (``bot/bench/slack_load.py``, also a process of its own).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

from aiohttp import web


class _Threads:
    """What the stand-in saw, per thread."""

    def __init__(self) -> None:
        self.first_post: dict[str, float] = {}
        self.posts: dict[str, int] = {}

    async def method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body: Any = {}
        if request.can_read_body:
            body = (
                await request.json()
                if request.content_type == "application/json"
                else await request.post()
            )
        if method == "auth.test":
            return web.json_response({"ok": True, "user_id": "UBOT", "bot_id": "BBOT"})
        thread = str(body.get("thread_ts") or "")
        if method == "chat.postMessage" and thread:
            self.posts[thread] = self.posts.get(thread, 0) + 1
        if method in ("chat.postMessage", "chat.update") and thread:
            self.first_post.setdefault(thread, time.perf_counter())
        return web.json_response(
            {"ok": True, "ts": f"{time.time():.6f}", "channel": body.get("channel", "C1")}
        )

    async def report(self, request: web.Request) -> web.Response:
        return web.json_response({"first_post": self.first_post, "posts": self.posts})


def _serve() -> None:
    """The child: serve on a free loopback port, print it, exit when the parent's pipe closes."""
    import asyncio
    import os

    threads = _Threads()
    app = web.Application()
    app.router.add_post("/api/{method}", threads.method)
    app.router.add_get("/bench/threads", threads.report)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
        await asyncio.Event().wait()

    # The parent holds stdin open; when it ends (or dies), so does the stand-in.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    asyncio.run(main())


class SlackStub:
    """The parent's handle on the stand-in: its port, and what it saw (fetched when read)."""

    def __init__(self) -> None:
        self.port = 0
        self._child: subprocess.Popen[str] | None = None
        self._last: dict[str, Any] = {"first_post": {}, "posts": {}}  # as it was at stop

    def start(self) -> SlackStub:
        self._child = subprocess.Popen(
            [sys.executable, "-m", "bot.bench.slack_stub"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self._child.stdout is not None
        line = self._child.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError("the stand-in Slack Web API did not start")
        self.port = int(line)
        return self

    def _threads(self) -> dict[str, Any]:
        if self._child is None:
            return self._last
        url = f"http://127.0.0.1:{self.port}/bench/threads"
        with urllib.request.urlopen(url, timeout=30) as response:
            return dict(json.load(response))

    @property
    def first_post(self) -> dict[str, float]:
        return dict(self._threads()["first_post"])

    @property
    def posts(self) -> dict[str, int]:
        return dict(self._threads()["posts"])

    def stop(self) -> None:
        child = self._child
        if child is None:
            return
        with contextlib.suppress(OSError):  # gone already: what was read last stays
            self._last = self._threads()  # kept for reading after the stop
        self._child = None
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    _serve()
