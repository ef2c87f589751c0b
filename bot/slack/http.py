"""HTTP mode: an aiohttp server in front of the bolt app.

One path (``/slack/events``) takes the Events API, slash commands and interactivity; bolt
verifies every request's signature (``v0=HMAC-SHA256``, timestamps older than 5 minutes
refused) before any listener runs, so an unsigned request gets 401 and reaches nothing.
``/healthz`` answers load balancers. bolt's dispatch blocks, so it runs on a thread and the
server keeps accepting requests meanwhile.

Events API callbacks take a fast path: their acknowledgement carries no body, so once the
signature checks out the event is queued and the server answers 200 at once. One
``Dispatcher`` thread then hands the queued events to bolt (which verifies again), one at a
time and in arrival order. Acknowledgements come first: the dispatcher takes the next event
only when no request on the Slack path is being answered and none has been for ``quiet``
seconds (10 ms), and it gives the event loop the GIL after each event. An event and the
listener it starts (on bolt's listener pool) cost a millisecond or more of CPU; started on a
thread each as they arrived, a burst's events fought every pending acknowledgement for the
GIL. So that a steady stream of requests cannot starve handling, an event that has waited
``patience`` seconds (0.1 s) is handed over anyway. An event whose handling fails is logged
and the next one goes on.
``BackgroundServer.wait_idle`` waits for the queue to empty, and the server's cleanup hands
every acknowledged event to bolt before the server goes away.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def _headers(headers: Mapping[str, str]) -> dict[str, str | Sequence[str]]:
    out: dict[str, list[str]] = {}
    for key, value in headers.items():
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


@dataclass(frozen=True)
class _Delivery:
    """An acknowledged event as it came: bolt builds its request on the dispatcher thread."""

    body: str
    query: str
    headers: Mapping[str, str]
    queued_at: float


class Dispatcher:
    """Hands acknowledged events to bolt on one thread, after pending acknowledgements.

    The event loop wraps the answering of each request in ``answering()`` and queues verified
    events with ``put``; the thread takes the oldest event once nothing has been answered for
    ``quiet`` seconds, or once it has waited ``patience`` seconds.
    """

    def __init__(
        self,
        bolt_app: App,
        quiet: float = 0.01,
        patience: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bolt_app = bolt_app
        self.quiet = quiet
        self.patience = patience
        self._clock = clock
        self._queue: deque[_Delivery] = deque()
        self._changed = threading.Condition()
        self._answering = 0  # requests being answered right now
        self._last_answer = float("-inf")  # when the last answer went out
        self._unfinished = 0  # queued or being handled
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._changed:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="slack-dispatch", daemon=True)
        self._thread.start()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Marks a request being answered: the dispatcher holds back meanwhile."""
        with self._changed:
            self._answering += 1
        try:
            yield
        finally:
            with self._changed:
                self._answering -= 1
                self._last_answer = self._clock()
                self._changed.notify_all()

    def put(self, body: str, query: str, headers: Mapping[str, str]) -> None:
        """Queue a verified event (before it is acknowledged); refused once closed."""
        with self._changed:
            if self._closed:
                raise RuntimeError("the dispatcher is closed")
            self._queue.append(_Delivery(body, query, headers, self._clock()))
            self._unfinished += 1
            self._changed.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued event has been handed to bolt; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._unfinished == 0, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Hand over what is queued (up to ``timeout`` s), then stop the thread."""
        if not self.wait_idle(timeout):
            log.error("%d acknowledged events were not handled before shutdown", self._unfinished)
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _next(self) -> _Delivery | None:
        """The oldest event, once it may go; None once closed and empty."""
        with self._changed:
            while True:
                if self._queue:
                    now = self._clock()
                    waited = now - self._queue[0].queued_at
                    since_answer = now - self._last_answer
                    quiet = self._answering == 0 and since_answer >= self.quiet
                    if quiet or waited >= self.patience or self._closed:
                        return self._queue.popleft()
                    wait = self.patience - waited
                    if self._answering == 0:
                        wait = min(wait, self.quiet - since_answer)
                    self._changed.wait(wait)
                elif self._closed:
                    return None
                else:
                    self._changed.wait()

    def _run(self) -> None:
        while (delivery := self._next()) is not None:
            try:
                _dispatch_later(self.bolt_app, delivery)
            finally:
                with self._changed:
                    self._unfinished -= 1
                    self._changed.notify_all()
            time.sleep(0)  # let the event loop take the GIL if it has a request waiting


DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("dispatcher", Dispatcher)


def http_app(
    bolt_app: App, path: str = EVENTS_PATH, signing_secret: str | None = None
) -> web.Application:
    """The aiohttp application serving ``bolt_app`` on ``path`` plus ``/healthz``.

    With ``signing_secret``, Events API callbacks are acknowledged as soon as their
    signature is verified and handed to bolt afterwards (bolt verifies again).
    """
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    dispatcher = Dispatcher(bolt_app)

    async def events(request: web.Request) -> web.StreamResponse:
        with dispatcher.answering():
            body = await request.text()
            if verifier is not None and _is_event_callback(request, body):
                if not verifier.is_valid_request(body, request.headers):
                    return web.json_response({"error": "invalid request"}, status=401)
                dispatcher.put(body, request.query_string, request.headers)
                ack = web.Response(status=200)
                await ack.prepare(request)
                await ack.write_eof()
                return ack
            headers = _headers(request.headers)
            bolt_request = BoltRequest(body=body, query=request.query_string, headers=headers)
            bolt_response = await asyncio.to_thread(bolt_app.dispatch, bolt_request)
            return _response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def start_dispatcher(_: web.Application) -> None:
        dispatcher.start()

    async def finish_in_flight(_: web.Application) -> None:
        # Runs once the server answers no more requests: every acknowledged event is
        # handed to bolt before the server goes away.
        await asyncio.to_thread(dispatcher.close, 30)

    application = web.Application(client_max_size=4 * 1024 * 1024)
    application[DISPATCHER] = dispatcher
    application.on_startup.append(start_dispatcher)
    application.on_cleanup.append(finish_in_flight)
    application.router.add_post(path, events)
    application.router.add_get("/healthz", healthz)
    return application


def _dispatch_later(bolt_app: App, delivery: _Delivery) -> None:
    """Handle an already acknowledged event; a failure is logged (never silent)."""
    try:
        request = BoltRequest(
            body=delivery.body, query=delivery.query, headers=_headers(delivery.headers)
        )
        response = bolt_app.dispatch(request)
        if response.status >= 400:
            log.error("an acknowledged event was refused by the app: HTTP %s", response.status)
    except Exception:
        log.exception("an acknowledged event failed in the app")


def serve_forever(bolt_app: App, host: str, port: int, signing_secret: str | None = None) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM)."""
    web.run_app(
        http_app(bolt_app, signing_secret=signing_secret),
        host=host,
        port=port,
        print=None,
        backlog=1024,
    )


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
        site = web.TCPSite(self._runner, self._host, self._port, backlog=1024)
        await site.start()
        server: Any = site._server  # the bound socket tells the ephemeral port
        self.port = int(server.sockets[0].getsockname()[1])

    @property
    def dispatcher(self) -> Dispatcher:
        return self._app[DISPATCHER]

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every acknowledged event has been handed to the app."""
        self.dispatcher.wait_idle(timeout)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def stop(self) -> None:
        """Stop serving; acknowledged events are handed to the app first. Safe to repeat."""
        runner, self._runner = self._runner, None
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(40)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
