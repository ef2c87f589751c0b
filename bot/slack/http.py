"""HTTP mode: an aiohttp server in front of the bolt app.

One path (``/slack/events``) takes the Events API, slash commands and interactivity; bolt
verifies every request's signature (``v0=HMAC-SHA256``, timestamps older than 5 minutes
refused) before any listener runs, so an unsigned request gets 401 and reaches nothing.
``/healthz`` answers load balancers. bolt's dispatch blocks, so it runs on a thread and the
server keeps accepting requests meanwhile.

Events API callbacks take a fast path: their acknowledgement carries no body, so once the
signature checks out the server answers 200 at once and bolt handles the event right after
on a thread. bolt costs about a millisecond of CPU per request; under a burst of events that
queued work would otherwise sit in front of every acknowledgement.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

IN_FLIGHT: web.AppKey[set[asyncio.Future[Any]]] = web.AppKey("in_flight", set[asyncio.Future[Any]])
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


def _is_event_callback(request: web.Request, body: str) -> bool:
    return request.content_type == "application/json" and '"event_callback"' in body[:2000]


def http_app(
    bolt_app: App, path: str = EVENTS_PATH, signing_secret: str | None = None
) -> web.Application:
    """The aiohttp application serving ``bolt_app`` on ``path`` plus ``/healthz``.

    With ``signing_secret``, Events API callbacks are acknowledged as soon as their
    signature is verified and handed to bolt afterwards (bolt verifies again).
    """
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    in_flight: set[asyncio.Future[Any]] = set()

    async def events(request: web.Request) -> web.Response:
        body = await request.text()
        bolt_request = BoltRequest(body=body, query=request.query_string, headers=_headers(request))
        if verifier is not None and _is_event_callback(request, body):
            if not verifier.is_valid_request(body, dict(request.headers)):
                return web.json_response({"error": "invalid request"}, status=401)
            task = asyncio.ensure_future(asyncio.to_thread(_dispatch_later, bolt_app, bolt_request))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            return web.Response(status=200)
        bolt_response = await asyncio.to_thread(bolt_app.dispatch, bolt_request)
        return _response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def finish_in_flight(_: web.Application) -> None:
        if in_flight:  # acknowledged events are handled before the server goes away
            await asyncio.wait(list(in_flight), timeout=30)

    application = web.Application(client_max_size=4 * 1024 * 1024)
    application[IN_FLIGHT] = in_flight
    application.on_shutdown.append(finish_in_flight)
    application.router.add_post(path, events)
    application.router.add_get("/healthz", healthz)
    return application


def _dispatch_later(bolt_app: App, request: BoltRequest) -> None:
    """Handle an already acknowledged event; a failure is logged (never silent)."""
    try:
        response = bolt_app.dispatch(request)
        if response.status >= 400:
            log.error("an acknowledged event was refused by the app: HTTP %s", response.status)
    except Exception:
        log.exception("an acknowledged event failed in the app")


def serve_forever(bolt_app: App, host: str, port: int, signing_secret: str | None = None) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM)."""
    web.run_app(http_app(bolt_app, signing_secret=signing_secret), host=host, port=port, print=None)


class BackgroundServer:
    """The same server on a background thread (an ephemeral port when ``port`` is 0)."""

    def __init__(
        self,
        bolt_app: App,
        host: str = "127.0.0.1",
        port: int = 0,
        signing_secret: str | None = None,
    ) -> None:
        self._app = http_app(bolt_app, signing_secret=signing_secret)
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

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every acknowledged event has been handed to the app."""

        async def idle() -> None:
            in_flight: set[asyncio.Future[Any]] = self._app[IN_FLIGHT]
            pending = list(in_flight)
            if pending:
                await asyncio.wait(pending, timeout=timeout)

        asyncio.run_coroutine_threadsafe(idle(), self._loop).result(timeout + 5)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
