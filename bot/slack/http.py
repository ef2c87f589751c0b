"""HTTP mode: uvicorn (httptools parser, uvloop event loop where installed) in front of the bolt app.

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
``BackgroundServer.wait_idle`` waits for the queue to empty, and the server's shutdown hands
every acknowledged event to bolt before the server goes away.

The server is uvicorn serving a small ASGI application rather than aiohttp's web framework:
with 200 signed events at once on the 2-core machine (``rpa-agent bench slack``), a no-op
aiohttp handler alone put the acknowledgement p99 at 45-70 ms, uvicorn with httptools and
uvloop at 26-30 ms.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bot.priority import URGENT, Priority

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# Shortest wait between the dispatcher's looks at a held-back event (seconds).
MIN_POLL = 0.001


# A request's headers: a mapping, or ASGI's (name, value) byte pairs.
Headers = Mapping[str, str] | Sequence[tuple[bytes, bytes]]


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _headers(headers: Headers) -> dict[str, str | Sequence[str]]:
    """Headers as bolt takes them: lower-case names, every value of each."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(_text(key).lower(), []).append(_text(value))
    return dict(out)


def _is_event_callback(content_type: bytes, body: str) -> bool:
    media = content_type.split(b";")[0].strip().lower()
    return media == b"application/json" and '"event_callback"' in body[:2000]


def _signed(verifier: SignatureVerifier, body: str, headers: Mapping[bytes, bytes]) -> bool:
    """Whether ``body`` carries a valid Slack signature (a malformed timestamp is invalid)."""
    stamp = headers.get(b"x-slack-request-timestamp")
    signature = headers.get(b"x-slack-signature")
    if stamp is None or signature is None:
        return False
    try:
        return verifier.is_valid(body, stamp.decode("latin-1"), signature.decode("latin-1"))
    except ValueError:  # a timestamp that is not a number
        return False


@dataclass(frozen=True)
class _Delivery:
    """An acknowledged event as it came: bolt builds its request on the dispatcher thread."""

    body: str
    query: str
    headers: Headers
    queued_at: float


class Dispatcher:
    """Hands acknowledged events to bolt on one thread, after pending acknowledgements.

    The event loop marks the answering of each request on ``priority`` (``work()``, as the
    model's forward passes see it) and queues verified events with ``put``; the thread takes
    the oldest event once nothing has been answered for ``quiet`` seconds, or once it has
    waited ``patience`` seconds.
    """

    def __init__(
        self,
        bolt_app: App,
        quiet: float = 0.01,
        patience: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        priority: Priority = URGENT,
    ) -> None:
        self.bolt_app = bolt_app
        self.quiet = quiet
        self.patience = patience
        self.priority = priority
        self._clock = clock
        self._queue: deque[_Delivery] = deque()
        self._changed = threading.Condition()
        self._unfinished = 0  # queued or being handled
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._changed:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="slack-dispatch", daemon=True)
        self._thread.start()

    def put(self, body: str, query: str, headers: Headers) -> None:
        """Queue a verified event (before it is acknowledged); refused once closed."""
        with self._changed:
            if self._closed:
                raise RuntimeError("the dispatcher is closed")
            self._queue.append(_Delivery(body, query, headers, self._clock()))
            self._unfinished += 1
            if len(self._queue) == 1:  # the dispatcher may be waiting for work: wake it
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
                    waited = self._clock() - self._queue[0].queued_at
                    idle = self.priority.idle_for()
                    if idle >= self.quiet or waited >= self.patience or self._closed:
                        return self._queue.popleft()
                    # Answers do not wake this thread (a burst would wake it once per request,
                    # and each wake takes the GIL from the event loop): it looks again once
                    # the server may have gone quiet, or when the oldest event's patience ends.
                    until_quiet = min(self.quiet, self.quiet - idle)
                    self._changed.wait(max(min(self.patience - waited, until_quiet), MIN_POLL))
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


# Largest request body accepted (Slack's payloads are a few kilobytes; file uploads go to Slack).
MAX_BODY = 4 * 1024 * 1024


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    headers: Sequence[tuple[str, str]] = ()


def _json(status: int, payload: Any) -> _Answer:
    return _Answer(status, json.dumps(payload).encode(), [("content-type", "application/json")])


def _from_bolt(bolt: BoltResponse) -> _Answer:
    headers = [
        (name, value)
        for name, values in bolt.headers.items()
        if name.lower() not in ("content-length", "set-cookie")
        for value in values
    ]
    body = bolt.body.encode() if isinstance(bolt.body, str) else bytes(bolt.body or b"")
    return _Answer(bolt.status, body, headers)


class SlackASGI:
    """The ASGI application serving ``bolt_app`` on ``path`` plus ``/healthz``.

    With ``signing_secret``, Events API callbacks are acknowledged as soon as their
    signature is verified and handed to bolt afterwards (bolt verifies again). Lifespan
    events start the dispatcher and, once the server answers no more requests, hand every
    acknowledged event to bolt before the server goes away.
    """

    def __init__(
        self,
        bolt_app: App,
        path: str = EVENTS_PATH,
        signing_secret: str | None = None,
        priority: Priority = URGENT,
    ) -> None:
        self.bolt_app = bolt_app
        self.path = path
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self.dispatcher = Dispatcher(bolt_app, priority=priority)
        self.priority = priority

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            answer = await self._answer(scope, receive)
            await send(
                {
                    "type": "http.response.start",
                    "status": answer.status,
                    "headers": [
                        (b"content-length", str(len(answer.body)).encode()),
                        *((k.encode(), v.encode()) for k, v in answer.headers),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": answer.body})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.dispatcher.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.dispatcher.close, 30)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _answer(self, scope: dict[str, Any], receive: Any) -> _Answer:
        path, method = scope["path"], scope["method"]
        if path == "/healthz":
            return _json(200, {"ok": True}) if method in ("GET", "HEAD") else _Answer(405)
        if path != self.path:
            return _json(404, {"error": f"no such path: {path}"})
        if method != "POST":
            return _Answer(405, headers=[("allow", "POST")])
        with self.priority.work():  # the dispatcher and the model hold back meanwhile
            raw = await _read_body(receive)
            if raw is None:
                return _json(413, {"error": f"request body over {MAX_BODY} bytes"})
            body = raw.decode("utf-8", errors="replace")
            # Names come lower-case; only the signature's are decoded on this path.
            headers: dict[bytes, bytes] = dict(scope["headers"])
            query = scope["query_string"].decode("latin-1")
            content_type = headers.get(b"content-type", b"")
            if self.verifier is not None and _is_event_callback(content_type, body):
                if not _signed(self.verifier, body, headers):
                    return _json(401, {"error": "invalid request"})
                self.dispatcher.put(body, query, scope["headers"])
                return _Answer(200)
            bolt_request = BoltRequest(body=body, query=query, headers=_headers(scope["headers"]))
            return _from_bolt(await asyncio.to_thread(self.bolt_app.dispatch, bolt_request))


async def _read_body(receive: Any) -> bytes | None:
    """The whole request body, or None once it grows over ``MAX_BODY``."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        parts.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(parts)


def _protocol(priority: Priority) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, noting each connection and request's bytes on ``priority``.

    In a burst the event loop accepts and parses many connections before the first request
    reaches the application; the model pauses from the first one (``bot/priority.py``).
    """

    class Protocol(HttpToolsProtocol):
        def connection_made(self, transport: Any) -> None:
            priority.touch()
            super().connection_made(transport)

        def data_received(self, data: bytes) -> None:
            priority.touch()
            super().data_received(data)

    return Protocol


def _server(app: SlackASGI, host: str, port: int, log_level: str = "info") -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_protocol(app.priority),
        loop="auto",  # uvloop where installed
        lifespan="on",
        access_log=False,
        log_config=None,  # the bot's own logging configuration stays
        log_level=log_level,
        backlog=1024,
        timeout_graceful_shutdown=30,
        proxy_headers=False,  # the client address is not used
        server_header=False,
    )
    return uvicorn.Server(config)


def serve_forever(bolt_app: App, host: str, port: int, signing_secret: str | None = None) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM), then return after a graceful shutdown.

    uvicorn shuts down on SIGINT/SIGTERM and then raises the signal again for the handler it
    found installed; for SIGTERM that is the default one, which would kill the process before
    the caller's cleanup (the reply queue, the model) runs. While serving, both signals are
    noted instead, so this returns normally and the caller's ``finally`` blocks run.
    """
    server = _server(SlackASGI(bolt_app, signing_secret=signing_secret), host, port)
    if threading.current_thread() is not threading.main_thread():
        server.run()
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda number, frame: None) for sig in signals}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class BackgroundServer:
    """The same server on a background thread (an ephemeral port when ``port`` is 0)."""

    def __init__(
        self,
        bolt_app: App,
        host: str = "127.0.0.1",
        port: int = 0,
        signing_secret: str | None = None,
        priority: Priority = URGENT,
    ) -> None:
        self.app = SlackASGI(bolt_app, signing_secret=signing_secret, priority=priority)
        self._host = host
        self._server = _server(self.app, host, port, log_level="warning")
        self._thread = threading.Thread(target=self._run, daemon=True, name="slack-http")
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.port = 0

    def _run(self) -> None:
        # uvicorn's own choice of event loop (uvloop where installed), as ``serve_forever`` gets.
        loop_factory = self._server.config.get_loop_factory()
        try:
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                runner.run(self._serve())
        except BaseException as exc:  # reported to start()
            self._failure = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        task = asyncio.ensure_future(self._server.serve())
        while not self._server.started and not task.done():
            await asyncio.sleep(0.005)
        if self._server.started:
            self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        self._ready.set()
        await task

    def start(self) -> BackgroundServer:
        self._thread.start()
        self._ready.wait(10)
        if not self.port:
            raise RuntimeError(f"the HTTP server did not start: {self._failure or 'timed out'}")
        return self

    @property
    def dispatcher(self) -> Dispatcher:
        return self.app.dispatcher

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every acknowledged event has been handed to the app."""
        self.dispatcher.wait_idle(timeout)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def stop(self) -> None:
        """Stop serving; acknowledged events are handed to the app first. Safe to repeat."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(40)
