"""The load generator of ``rpa-agent bench slack``: signed Events API requests, raw HTTP.

Every request is signed and serialised before the burst, and one thread drives all connections
with non-blocking sockets and a selector, in a process of its own (as Slack is another
machine): a client library on the same two cores as the server would be the bottleneck.
Event ``huge_at`` carries a message of ``huge_tokens`` words (about one token each). Given
several URLs (replicas behind a load balancer), event ``n`` goes to URL ``n % len(urls)``, and
with ``also_every`` every such event is delivered again to the next URL, as Slack's retry of a
delivery whose acknowledgement it did not see reaches another replica.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import selectors
import socket
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

SECRET = "bench-signing-secret"
THREAD = "1700000000.{n:06d}"  # the ts (and so the thread) of event n


def signed(body: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/json",
    }


def event_body(n: int, text: str = "hi") -> str:
    """Event ``n``: a mention with ``text`` in thread ``THREAD``, as Slack's Events API sends it."""
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": "T1",
            "api_app_id": "A1",
            "event_id": f"EvBench{n:05d}",
            "event": {
                "type": "app_mention",
                "user": "U1",
                "text": f"<@UBOT> {text}",
                "ts": THREAD.format(n=n),
                "channel": "C1",
            },
        }
    )


_SENTENCE = (
    "Please check every line of the attached travel expense report against the policy and "
    "tell me which items need a receipt or a manager approval before I submit it today. "
)


def huge_text(tokens: int) -> str:
    """A message of about ``tokens`` tokens: plain words, most of them one token each."""
    words = _SENTENCE.split()
    return " ".join(words[n % len(words)] for n in range(tokens))


def request_bytes(host: str, port: int, path: str, n: int, text: str = "hi") -> bytes:
    """Event ``n`` as the raw bytes of one signed HTTP/1.1 request (built before the burst)."""
    body = event_body(n, text)
    headers = {"Host": f"{host}:{port}", **signed(body), "Content-Length": str(len(body))}
    lines = [f"POST {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join([*lines, "Connection: close", "", body])).encode()


class _Exchange:
    """One request on its own non-blocking connection: bytes left to send, bytes received."""

    def __init__(self, n: int, request: bytes, started: float) -> None:
        self.n, self.unsent, self.received, self.started = n, request, b"", started

    def complete(self, closed: bool) -> bool:
        """Whether the whole response is in (headers and ``Content-Length`` bytes of body)."""
        head, sep, body = self.received.partition(b"\r\n\r\n")
        if not sep:
            return closed
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        return closed or len(body) >= (int(length.group(1)) if length else 0)

    def status(self) -> int:
        return int(self.received.split(b" ", 2)[1]) if self.received else 0


def fire(
    url: str | Sequence[str],
    events: int,
    concurrency: int,
    huge_at: int = -1,
    huge_tokens: int = 0,
    also_every: int = 0,
) -> tuple[list[float], dict[int, float]]:
    """Send ``events`` signed mentions, ``concurrency`` at a time; latencies in ms (one per
    delivery), and each event's first send time.

    The load generator works like ``wrk``: every request is signed and serialised before the
    burst, and one thread drives all connections with non-blocking sockets and a selector.
    A client library (aiohttp's, or even plain asyncio streams) costs a few hundred
    microseconds of CPU per request, on the same two cores as the server: with 200 requests at
    once that alone put a no-op server's p99 at 80-105 ms. The clock starts before the
    connection opens, so connecting counts as Slack's would.
    """
    targets = [urlsplit(u) for u in ([url] if isinstance(url, str) else url)]
    huge = huge_text(huge_tokens) if huge_at >= 0 else ""
    deliveries = _deliveries(events, len(targets), also_every)
    requests = [
        request_bytes(
            targets[t].hostname or "127.0.0.1", targets[t].port or 80, targets[t].path, n,
            huge if n == huge_at else "hi",
        )
        for n, t in deliveries
    ]  # fmt: skip
    latencies: list[float] = []
    sent_at: dict[int, float] = {}
    waiting = list(range(len(deliveries) - 1, -1, -1))
    live: dict[socket.socket, _Exchange] = {}
    with selectors.DefaultSelector() as selector:

        def start(i: int) -> None:
            n, target = deliveries[i][0], targets[deliveries[i][1]]
            began = time.perf_counter()  # the clock starts before the connection opens
            sent_at.setdefault(n, began)
            conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            conn.setblocking(False)
            conn.connect_ex((target.hostname or "127.0.0.1", target.port or 80))
            live[conn] = _Exchange(n, requests[i], began)
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
                latencies.append((time.perf_counter() - exchange.started) * 1000)
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


def _deliveries(events: int, targets: int, also_every: int) -> list[tuple[int, int]]:
    """``(event, target)`` in sending order: event n to target n % targets, and with
    ``also_every`` each such event again, right after, to the next target."""
    plan = []
    for n in range(events):
        plan.append((n, n % targets))
        if also_every and targets > 1 and n % also_every == 0:
            plan.append((n, (n + 1) % targets))
    return plan


def fire_from_another_process(
    url: str | Sequence[str],
    events: int,
    concurrency: int,
    huge_at: int = -1,
    huge_tokens: int = 0,
    also_every: int = 0,
) -> tuple[list[float], dict[int, float]]:
    """Run the load from a separate process (as Slack is another machine): no shared GIL.

    ``time.perf_counter`` is system-wide (CLOCK_MONOTONIC), so send times from the child
    compare with the stand-in API's receive times in this process.
    """
    import subprocess
    import sys

    urls = ",".join([url] if isinstance(url, str) else url)
    out = subprocess.run(
        [sys.executable, "-m", "bot.bench.slack_load", urls, str(events), str(concurrency),
         str(huge_at), str(huge_tokens), str(also_every)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["latencies"], {int(k): v for k, v in result["sent_at"].items()}


if __name__ == "__main__":  # the load generator's process (see _fire_from_another_process)
    import sys

    _urls, _events, _concurrency, _huge_at, _huge_tokens, _also = sys.argv[1:7]
    _lat, _sent = fire(
        _urls.split(","), int(_events), int(_concurrency), int(_huge_at), int(_huge_tokens),
        int(_also),
    )  # fmt: skip
    print(json.dumps({"latencies": _lat, "sent_at": _sent}))
