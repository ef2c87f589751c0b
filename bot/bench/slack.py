"""``rpa-agent bench slack``: acknowledgement latency of HTTP mode while the model is busy.

The real bolt app serves signed Events API requests on loopback; a stand-in Slack Web API
(an aiohttp server answering ``ok``) records when the first streamed update arrives. The
conversation service is held busy (as a long generation would) until every event has been
acknowledged, so the figures show that acknowledgement never waits for the model. With
``decoding``, the configured model also decodes a long reply in the same process throughout
the burst, so the server shares the two cores (and the GIL) with a real decode loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import selectors
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.bench.report import percentile
from bot.config import Settings
from bot.events import Event, Final, Inbound, TextDelta

SECRET = "bench-signing-secret"


class BusyService:
    """Answers every message only after ``release``; counts what reached it."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.started = 0
        self._lock = threading.Lock()

    async def handle(self, inbound: Inbound) -> AsyncIterator[Event]:
        with self._lock:
            self.started += 1
        await asyncio.to_thread(self.released.wait, 120)
        yield TextDelta("Working on it")
        yield Final("Done.")

    async def command(self, inbound: Inbound, name: str, argument: str) -> AsyncIterator[Event]:
        yield Final("ok")

    async def decide(
        self, action_id: str, user: str, decision: Any, arguments: Any = None
    ) -> AsyncIterator[Event]:
        yield Final("ok")

    async def submit_form(
        self, inbound: Inbound, form: str, values: dict[str, Any]
    ) -> AsyncIterator[Event]:
        yield Final("ok")


class SlackStub:
    """A minimal Slack Web API on loopback: every method answers ok; post times are kept."""

    def __init__(self) -> None:
        self.first_post: dict[str, float] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    async def _method(self, request: web.Request) -> web.Response:
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
        if (
            method in ("chat.postMessage", "chat.update")
            and thread
            and thread not in self.first_post
        ):
            self.first_post[thread] = time.perf_counter()
        return web.json_response(
            {"ok": True, "ts": f"{time.time():.6f}", "channel": body.get("channel", "C1")}
        )

    def start(self) -> SlackStub:
        app = web.Application()
        app.router.add_post("/api/{method}", self._method)
        self._thread.start()

        async def serve() -> None:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


def _signed(body: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/json",
    }


def _event(n: int) -> str:
    ts = f"1700000000.{n:06d}"
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": "T1",
            "api_app_id": "A1",
            "event_id": f"EvBench{n:05d}",
            "event": {
                "type": "app_mention",
                "user": "U1",
                "text": "<@UBOT> hi",
                "ts": ts,
                "channel": "C1",
            },
        }
    )


def _request(host: str, port: int, path: str, n: int) -> bytes:
    """Event ``n`` as the raw bytes of one signed HTTP/1.1 request (built before the burst)."""
    body = _event(n)
    headers = {"Host": f"{host}:{port}", **_signed(body), "Content-Length": str(len(body))}
    lines = [f"POST {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join([*lines, "Connection: close", "", body])).encode()


class _Exchange:
    """One request on its own non-blocking connection: bytes left to send, bytes received."""

    def __init__(self, n: int, request: bytes) -> None:
        self.n, self.unsent, self.received = n, request, b""

    def complete(self, closed: bool) -> bool:
        """Whether the whole response is in (headers and ``Content-Length`` bytes of body)."""
        head, sep, body = self.received.partition(b"\r\n\r\n")
        if not sep:
            return closed
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        return closed or len(body) >= (int(length.group(1)) if length else 0)

    def status(self) -> int:
        return int(self.received.split(b" ", 2)[1]) if self.received else 0


def _fire(url: str, events: int, concurrency: int) -> tuple[list[float], dict[int, float]]:
    """Send ``events`` signed mentions, ``concurrency`` at a time; latencies in ms, send times.

    The load generator works like ``wrk``: every request is signed and serialised before the
    burst, and one thread drives all connections with non-blocking sockets and a selector.
    A client library (aiohttp's, or even plain asyncio streams) costs a few hundred
    microseconds of CPU per request, on the same two cores as the server: with 200 requests at
    once that alone put a no-op server's p99 at 80-105 ms. The clock starts before the
    connection opens, so connecting counts as Slack's would.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [_request(host, port, parts.path, n) for n in range(events)]
    latencies: list[float] = []
    sent_at: dict[int, float] = {}
    waiting = list(range(events - 1, -1, -1))
    live: dict[socket.socket, _Exchange] = {}
    with selectors.DefaultSelector() as selector:

        def start(n: int) -> None:
            conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            conn.setblocking(False)
            sent_at[n] = time.perf_counter()
            conn.connect_ex((host, port))
            live[conn] = _Exchange(n, requests[n])
            selector.register(conn, selectors.EVENT_WRITE)

        while waiting and len(live) < concurrency:
            start(waiting.pop())
        while live:
            for key, mask in selector.select(timeout=30):
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                exchange = live[conn]
                if mask & selectors.EVENT_WRITE:
                    exchange.unsent = exchange.unsent[conn.send(exchange.unsent) :]
                    if not exchange.unsent:
                        selector.modify(conn, selectors.EVENT_READ)
                    continue
                chunk = conn.recv(65536)
                exchange.received += chunk
                if not exchange.complete(closed=not chunk):
                    continue
                latencies.append((time.perf_counter() - sent_at[exchange.n]) * 1000)
                selector.unregister(conn)
                conn.close()
                del live[conn]
                if exchange.status() != 200:
                    for other in live:
                        other.close()
                    raise RuntimeError(f"event {exchange.n}: HTTP {exchange.status()}")
                if waiting:
                    start(waiting.pop())
    return latencies, sent_at


@contextmanager
def _model_decoding(loaded: Any) -> Iterator[dict[str, Any]]:
    """A long greedy reply decodes on ``loaded``'s scheduler while the block runs.

    Yields a dict that gets ``decoded_tokens`` (tokens of the reply when it was stopped),
    ``busy_throughout`` (False when the reply ended on its own before the block did) and
    ``paused_ms`` (how long the reply's forward passes waited for requests being answered).
    """
    from bot.llm.engine.options import DecodingOptions
    from bot.llm.engine.scheduler import scheduler_for
    from bot.priority import URGENT

    prompt = loaded.tokenizer("Travel expense policy, section by section. " * 8)["input_ids"]
    options = DecodingOptions(
        decoding="greedy", max_new_tokens=8192, draft_tokens=0, stop_on_loop=0
    )
    handle = scheduler_for(loaded).submit(prompt, options)
    pieces = iter(handle)
    next(pieces, None)  # the prompt is in and the reply is decoding
    figures: dict[str, Any] = {}
    paused = URGENT.paused_seconds
    try:
        yield figures
    finally:
        pieces.close()  # the reader leaves: the scheduler ends the reply at its next step
        finished = handle.result()
        figures["decoded_tokens"] = finished.tokens
        figures["busy_throughout"] = finished.reason == "cancelled"
        figures["paused_ms"] = round((URGENT.paused_seconds - paused) * 1000, 1)


def run_slack_bench(
    settings: Settings,
    events: int = 200,
    concurrency: int = 200,
    workdir: Path | None = None,
    fast_ack: bool = True,
    decoding: Any = None,
) -> dict[str, Any]:
    """Serve the real app, send ``events`` signed mentions at once, measure acks and first updates.

    ``decoding``: a loaded model that decodes a long reply in this process during the burst.
    """
    import tempfile

    from slack_sdk import WebClient

    from bot.slack.app import create_app, frozen_heap, surface_of
    from bot.slack.http import BackgroundServer

    stub = SlackStub().start()
    data = Path(workdir or tempfile.mkdtemp(prefix="rpa-bench-slack-"))
    bench_settings = settings.model_copy(
        update={
            "data_dir": data,
            "slack_api_url": f"http://127.0.0.1:{stub.port}/api/",
            "workers": settings.workers,
        }
    )
    service = BusyService()
    client = WebClient(token="xoxb-bench", base_url=bench_settings.slack_api_url)
    bench_settings = bench_settings.model_copy(update={"slack_signing_secret": _secret()})
    app = create_app(bench_settings, service, client=client)  # type: ignore[arg-type]
    server = BackgroundServer(app, signing_secret=SECRET if fast_ack else None).start()
    busy: AbstractContextManager[dict[str, Any]] = (
        _model_decoding(decoding) if decoding is not None else nullcontext({})
    )
    try:
        with frozen_heap(), busy as model:  # frozen as ``run_slack`` serves
            latencies, sent_at = _fire_from_another_process(
                f"{server.url}/slack/events", events, concurrency
            )
        service.released.set()
        server.wait_idle()
        surface_of(app).close()
    finally:
        server.stop()
        stub.stop()
    first = [
        (stub.first_post[f"1700000000.{n:06d}"] - sent_at[n]) * 1000
        for n in range(events)
        if f"1700000000.{n:06d}" in stub.first_post
    ]
    return {
        "events": events,
        "concurrency": concurrency,
        "fast_ack": fast_ack,
        "ack_ms_p50": round(percentile(latencies, 50), 2),
        "ack_ms_p99": round(percentile(latencies, 99), 2),
        "ack_ms_max": round(max(latencies), 2),
        "first_update_ms_p50": round(percentile(first, 50), 2),
        "first_update_ms_p99": round(percentile(first, 99), 2),
        "threads_with_an_update": len(first),
        "reached_service": service.started,
        "workers": bench_settings.workers,
        "model_decoding": decoding is not None,
        **{f"model_{k}": v for k, v in model.items()},
    }


def _fire_from_another_process(
    url: str, events: int, concurrency: int
) -> tuple[list[float], dict[int, float]]:
    """Run the load from a separate process (as Slack is another machine): no shared GIL.

    ``time.perf_counter`` is system-wide (CLOCK_MONOTONIC), so send times from the child
    compare with the stand-in API's receive times in this process.
    """
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "bot.bench.slack", url, str(events), str(concurrency)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["latencies"], {int(k): v for k, v in result["sent_at"].items()}


def _secret() -> Any:
    from pydantic import SecretStr

    return SecretStr(SECRET)


if __name__ == "__main__":  # the load generator's process (see _fire_from_another_process)
    import sys

    _url, _events, _concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    _lat, _sent = _fire(_url, _events, _concurrency)
    print(json.dumps({"latencies": _lat, "sent_at": _sent}))
