"""HTTP mode: uvicorn (httptools parser, uvloop event loop where installed) in front of the bolt app.

One path (``/slack/events``) takes the Events API, slash commands and interactivity; bolt
verifies every request's signature (``v0=HMAC-SHA256``, timestamps older than 5 minutes
refused) before any listener runs, so an unsigned request gets 401 and reaches nothing.
``/healthz`` answers load balancers. bolt's dispatch blocks, so it runs on a thread and the
server keeps accepting requests meanwhile. Events API callbacks are acknowledged as soon as
their signature checks out and they are on disk, and handed to bolt right after
(``bot/slack/dispatch.py``); ``BackgroundServer.wait_idle`` waits for that hand-over.

The server is uvicorn serving a small ASGI application, through uvicorn's public API only
(``uvicorn.Config``/``Server``), rather than aiohttp's web framework: with 200 signed events at
once on the 2-core machine (``rpa-agent bench slack``), a no-op aiohttp handler alone put the
acknowledgement p99 at 45-70 ms, uvicorn with httptools and uvloop at 26-30 ms. On SIGTERM or
Ctrl-C it stops accepting connections, answers the requests it has (5 s at most), and hands
the acknowledged events to the app for up to 5 s more; the spool keeps the rest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier

from bot.priority import URGENT, Priority
from bot.slack.dispatch import Dispatcher, SpoolWriter, bolt_headers
from memory.slack_inbox import Spool

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# Seconds uvicorn gives open connections at shutdown, and the dispatcher its queue.
SHUTDOWN_SECONDS = 5


def _is_event_callback(content_type: bytes, body: str) -> bool:
    media = content_type.split(b";")[0].strip().lower()
    return media == b"application/json" and '"event_callback"' in body[:2000]


def _signed(verifier: SignatureVerifier, body: str, headers: dict[bytes, bytes]) -> bool:
    """Whether ``body`` carries a valid Slack signature (a malformed timestamp is invalid)."""
    stamp = headers.get(b"x-slack-request-timestamp")
    signature = headers.get(b"x-slack-signature")
    if stamp is None or signature is None:
        return False
    try:
        return verifier.is_valid(body, stamp.decode("latin-1"), signature.decode("latin-1"))
    except ValueError:  # a timestamp that is not a number
        return False


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

    With ``signing_secret``, Events API callbacks are acknowledged as soon as their signature
    is verified and they are in ``spool`` (when given), and handed to bolt afterwards (bolt
    verifies again). Lifespan events start the dispatcher and, once the server answers no more
    requests, hand the acknowledged events to bolt before the server goes away.
    """

    def __init__(
        self,
        bolt_app: App,
        path: str = EVENTS_PATH,
        signing_secret: str | None = None,
        priority: Priority = URGENT,
        spool: Spool | None = None,
    ) -> None:
        self.bolt_app = bolt_app
        self.path = path
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self.dispatcher = Dispatcher(bolt_app, priority=priority, spool=spool)
        self.writer = SpoolWriter(spool) if spool is not None else None
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
                await asyncio.to_thread(self.dispatcher.start)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                log.info("HTTP mode: handing acknowledged events to the app before stopping")
                await asyncio.to_thread(self.dispatcher.close, SHUTDOWN_SECONDS)
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
                return await self._acknowledge(body, query, scope["headers"], headers)
            request = BoltRequest(body=body, query=query, headers=bolt_headers(scope["headers"]))
            return _from_bolt(await asyncio.to_thread(self.bolt_app.dispatch, request))

    async def _acknowledge(
        self, body: str, query: str, raw_headers: Any, headers: dict[bytes, bytes]
    ) -> _Answer:
        """The fast path of an Events API callback: verify, store, queue, 200."""
        assert self.verifier is not None
        if not _signed(self.verifier, body, headers):
            return _json(401, {"error": "invalid request"})
        spool_id = None
        if self.writer is not None:
            try:
                spool_id = await self.writer.put(body)
            except Exception:  # not stored: not acknowledged, so Slack delivers it again
                return _json(500, {"error": "could not store the event"})
        self.dispatcher.put(body, query, raw_headers, spool_id)
        return _Answer(200)


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


def _server(app: SlackASGI, host: str, port: int, log_level: str = "info") -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http="httptools",
        loop="auto",  # uvloop where installed
        lifespan="on",
        access_log=False,
        log_config=None,  # the bot's own logging configuration stays
        log_level=log_level,
        backlog=1024,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
        proxy_headers=False,  # the client address is not used
        server_header=False,
    )
    return uvicorn.Server(config)


def serve_forever(
    bolt_app: App,
    host: str,
    port: int,
    signing_secret: str | None = None,
    spool: Spool | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM), then return after a graceful shutdown.

    uvicorn shuts down on SIGINT/SIGTERM and then raises the signal again for the handler it
    found installed; for SIGTERM that is the default one, which would kill the process before
    the caller's cleanup (the reply queue, the model) runs. While serving, both signals are
    noted instead, so this returns normally and the caller's ``finally`` blocks run.
    """
    app = SlackASGI(bolt_app, signing_secret=signing_secret, spool=spool)
    server = _server(app, host, port)
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
    log.info("HTTP mode: stopped taking requests")


class BackgroundServer:
    """The same server on a background thread (an ephemeral port when ``port`` is 0)."""

    def __init__(
        self,
        bolt_app: App,
        host: str = "127.0.0.1",
        port: int = 0,
        signing_secret: str | None = None,
        priority: Priority = URGENT,
        spool: Spool | None = None,
    ) -> None:
        self.app = SlackASGI(
            bolt_app, signing_secret=signing_secret, priority=priority, spool=spool
        )
        self._host = host
        self._socket = socket.create_server((host, port), backlog=1024)
        self.port = int(self._socket.getsockname()[1])
        self._server = _server(self.app, host, self.port, log_level="warning")
        self._thread = threading.Thread(target=self._run, daemon=True, name="slack-http")
        self._ready = threading.Event()
        self._failure: BaseException | None = None

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
        task = asyncio.ensure_future(self._server.serve(sockets=[self._socket]))
        while not self._server.started and not task.done():
            await asyncio.sleep(0.005)
        self._ready.set()
        await task

    def start(self) -> BackgroundServer:
        self._thread.start()
        self._ready.wait(10)
        if not self._server.started:
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
        self._socket.close()
