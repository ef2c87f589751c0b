"""HTTP mode: an aiohttp server in front of the bolt app.

One path (``/slack/events``) takes the Events API, slash commands and interactivity; bolt
verifies every request's signature (``v0=HMAC-SHA256``, timestamps older than 5 minutes
refused) before any listener runs, so an unsigned request gets 401 and reaches nothing.
``/healthz`` answers load balancers. bolt's dispatch blocks, so it runs on a thread and the
server keeps accepting requests meanwhile.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from slack_bolt import App, BoltRequest, BoltResponse

EVENTS_PATH = "/slack/events"


def _headers(request: web.Request) -> dict[str, str | Sequence[str]]:
    out: dict[str, list[str]] = {}
    for key, value in request.headers.items():
        out.setdefault(key.lower(), []).append(value)
    return dict(out)


def _response(bolt: BoltResponse) -> web.Response:
    headers = bolt.first_headers_without_set_cookie()
    content_type = headers.pop("content-type", "text/plain")
    content_type = re.sub(r";\s*charset=utf-8", "", content_type)
    return web.Response(
        status=bolt.status, text=bolt.body, headers=headers, content_type=content_type
    )


def http_app(bolt_app: App, path: str = EVENTS_PATH) -> web.Application:
    """The aiohttp application serving ``bolt_app`` on ``path`` plus ``/healthz``."""

    async def events(request: web.Request) -> web.Response:
        bolt_request = BoltRequest(
            body=await request.text(), query=request.query_string, headers=_headers(request)
        )
        bolt_response = await asyncio.to_thread(bolt_app.dispatch, bolt_request)
        return _response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    application = web.Application(client_max_size=4 * 1024 * 1024)
    application.router.add_post(path, events)
    application.router.add_get("/healthz", healthz)
    return application


def serve_forever(bolt_app: App, host: str, port: int) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM)."""
    web.run_app(http_app(bolt_app), host=host, port=port, print=None)


class BackgroundServer:
    """The same server on a background thread (an ephemeral port when ``port`` is 0)."""

    def __init__(self, bolt_app: App, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = http_app(bolt_app)
        self._host, self._port = host, port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="slack-http"
        )
        self.port = 0

    def start(self) -> BackgroundServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server: Any = site._server  # the bound socket tells the ephemeral port
        self.port = int(server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
