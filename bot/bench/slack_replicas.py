"""``rpa-agent bench slack``'s two-replica row: two bot processes in HTTP mode on one state.

Each replica is the real bolt app in HTTP mode, in a process of its own
(``python -m bot.bench.slack_replicas``), over a service that answers at once (the row
measures the surface and the shared state, not a model). Both open one state: an empty
PostgreSQL database when one is given, else a SQLite file both processes open (WAL: one host).
The load generator (another process) sends the signed events alternately to the two, every
tenth one to both (Slack's retry of a delivery reaching the other replica through the load
balancer); the stand-in Slack Web API (``bot/bench/slack.py``) counts each thread's messages.
The row gives the acknowledgement latency of every delivery and how many events were answered
exactly once, not at all, or twice.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bot.bench.slack import BusyService, SlackStub, first_update_ms, latency_figures
from bot.bench.slack_load import SECRET, THREAD, fire_from_another_process
from bot.config import Settings

ALSO_EVERY = 10  # every tenth event is delivered to both replicas
START_SECONDS = 120.0


def run_replicas_bench(
    settings: Settings,
    events: int = 200,
    concurrency: int = 200,
    database_url: str | None = None,
    workdir: Path | None = None,
    answer_timeout: float = 300.0,
) -> dict[str, Any]:
    """Start two replicas on one state, send ``events`` (``concurrency`` in flight), measure.

    ``database_url``: an empty PostgreSQL database for the state (it is written to); None: a
    SQLite file in the work directory.
    """
    stub = SlackStub().start()
    root = Path(workdir or tempfile.mkdtemp(prefix="rpa-bench-replicas-"))
    state = database_url or str(root / "state.db")
    api = f"http://127.0.0.1:{stub.port}/api/"
    replicas = [_Replica(root / name, state, api, settings.workers) for name in ("a", "b")]
    try:
        for replica in replicas:
            replica.wait_ready()
        started = time.perf_counter()
        latencies, sent_at = fire_from_another_process(
            [r.events_url for r in replicas], events, concurrency, also_every=ALSO_EVERY
        )
        settled = _wait_answered(state, stub, events, answer_timeout)
        answered_s = time.perf_counter() - started
        answers = _answers(state, stub, events)
    finally:
        for replica in replicas:
            replica.stop()
        stub.stop()
    first = first_update_ms(stub, sent_at, events)
    return {
        "replicas": len(replicas),
        "state": "postgresql" if database_url else "sqlite",
        "events": events,
        "deliveries": len(latencies),
        "concurrency": concurrency,
        **latency_figures(latencies, first),
        **answers,
        "all_answered_s": round(answered_s, 1) if settled else None,
        "workers": settings.workers,
    }


class _Replica:
    """One replica process on a port of its own, its log in its data dir."""

    def __init__(self, data: Path, state: str, api: str, workers: int) -> None:
        import socket

        data.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.log = data / "replica.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.bench.slack_replicas", str(data), state, api,
                 str(self.port), str(workers)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def wait_ready(self) -> None:
        end = time.monotonic() + START_SECONDS
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"a replica exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise RuntimeError(f"a replica did not start serving in {START_SECONDS:g} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _stores(state: str) -> tuple[Any, Any]:
    from memory.db import Database
    from memory.slack_inbox import Inbox, Spool

    db = Database(state)
    return Inbox(db), Spool(db)


def _wait_answered(state: str, stub: SlackStub, events: int, timeout: float) -> bool:
    """Until both replicas handled every delivery (the shared spool is empty), answered every
    turn they accepted (the shared inbox owes none) and every thread has its message; False
    when ``timeout`` ran out first (the figures then count what is missing)."""
    inbox, spool = _stores(state)
    end = time.monotonic() + timeout
    while spool.pending() or inbox.open_turns() or len(stub.posts) < events:
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def _answers(state: str, stub: SlackStub, events: int) -> dict[str, int]:
    inbox, _ = _stores(state)
    owed = {turn.payload["inbound"]["thread"] for turn in inbox.open_turns()}
    threads = [THREAD.format(n=n) for n in range(events)]
    return {
        "answered_once": sum(1 for t in threads if stub.posts.get(t) == 1 and t not in owed),
        "unanswered": sum(1 for t in threads if t in owed or t not in stub.posts),
        "duplicate_replies": sum(1 for t in threads if stub.posts.get(t, 0) > 1),
    }


def _serve(data: Path, state: str, api: str, port: int, workers: int) -> None:
    """A replica's process: the real app over an always-ready service, until SIGTERM."""
    from pydantic import SecretStr
    from slack_sdk import WebClient

    from bot.slack.app import create_app, surface_of
    from bot.slack.http import serve_forever
    from memory.sql import is_url

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data,
        database_url=state if is_url(state) else None,
        slack_api_url=api,
        slack_bot_token=SecretStr("xoxb-bench"),
        slack_signing_secret=SecretStr(SECRET),
        slack_agent=False,  # the stand-in counts chat.postMessage as a thread's messages
        workers=workers,
    )
    if not is_url(state):  # the shared SQLite file, not one per data dir
        settings = settings.model_copy(update={"data_dir": Path(state).parent})
    service = BusyService()
    service.released.set()  # answers at once
    app = create_app(settings, service, client=WebClient(token="xoxb-bench", base_url=api))
    try:
        serve_forever(app, "127.0.0.1", port, signing_secret=SECRET, spool=surface_of(app).spool)
    finally:
        surface_of(app).close()


if __name__ == "__main__":  # a replica (see _Replica)
    _data, _state, _api, _port, _workers = sys.argv[1:6]
    _serve(Path(_data), _state, _api, int(_port), int(_workers))
