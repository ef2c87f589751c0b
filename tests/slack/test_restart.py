"""The bot killed (SIGKILL) or stopped (SIGTERM) with replies in flight and turns queued: after
the restart every accepted event is answered exactly once, in the message it already had.

Each bot is the real Slack app served in HTTP mode in a process of its own
(``tests/slack/serve_driver.py``) against the local Slack Web API; the first one's answers
never end, so replies are in flight when it goes.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import pytest

from bot.slack.replies import RESTARTING, RESTARTING_QUEUED
from tests.fakes.slack_api import Call, MockSlackApi
from tests.slack.conftest import mention, sign

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 6  # workers=2: two replies in flight, four queued


class Bot:
    """One bot process on a port of its own."""

    def __init__(self, api: MockSlackApi, workspace: Path, data: Path, mode: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        args = [sys.executable, "-m", "tests.slack.serve_driver", str(workspace), str(data),
                api.base_url, str(self.port), mode]  # fmt: skip
        self.process = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.log = _until(self.process.stdout, "running on")

    def event(self, n: int, retry: int | None = None) -> int:
        import urllib.request

        body = json.dumps({"type": "event_callback", "team_id": "T0001", "event_id": f"EvK{n}",
                           "event": mention(f"q{n}", ts=f"1700000300.{n:06d}")})  # fmt: skip
        headers = {"Content-Type": "application/json", **sign(body)}
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/slack/events", body.encode(), headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)

    def stop(self, how: signal.Signals) -> str:
        self.process.send_signal(how)
        rest, _ = self.process.communicate(timeout=60)
        return self.log + rest

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _until(stream: IO[str] | None, marker: str) -> str:
    seen = []
    assert stream is not None
    for line in stream:
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"the bot never started: {''.join(seen)}")


@pytest.fixture
def bots(api: MockSlackApi, workspace: Path, data_dir: Path) -> Iterator[list[Bot]]:
    started: list[Bot] = []
    yield started
    for bot in started:
        bot.kill()


def _thread(n: int) -> str:
    return f"1700000300.{n:06d}"


def _in_flight(api: MockSlackApi) -> None:
    """Wait until two replies stream (their messages show parts) and the rest wait queued."""
    api.wait_for("chat.update", count=2, timeout=30, where=lambda c: "part" in _text(c))
    api.wait_for("chat.postMessage", count=EVENTS, timeout=30)


def _text(call: Call) -> str:
    return str(call.payload.get("text") or "")


def _answered_once(api: MockSlackApi, n: int) -> None:
    """Thread ``n`` has one message from the bot, and its last version is the answer."""
    posts = [
        c for c in api.calls_to("chat.postMessage") if c.payload.get("thread_ts") == _thread(n)
    ]
    assert len(posts) == 1, [_text(p) for p in posts]  # never a second reply message
    ts = posts[0].response["ts"]
    versions = [_text(posts[0])] + [_text(c) for c in api.calls_to("chat.update")
                                    if c.payload.get("ts") == ts]  # fmt: skip
    assert versions[-1] == f"You said: q{n}", versions
    assert versions.count(f"You said: q{n}") == 1, versions


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_every_accepted_event_is_answered_once_after_a_restart(
    api: MockSlackApi, workspace: Path, data_dir: Path, bots: list[Bot], how: signal.Signals
) -> None:
    first = Bot(api, workspace, data_dir, "slow")
    bots.append(first)
    assert [first.event(n) for n in range(EVENTS)] == [200] * EVENTS
    _in_flight(api)
    assert [first.event(n) for n in range(EVENTS, EVENTS + 2)] == [200, 200]  # just before it goes
    if how == signal.SIGKILL:
        first.kill()
    else:
        log = first.stop(how)
        assert first.process.returncode == 0, log
        assert "Traceback" not in log
        assert "left for the next start" in log
        notes = [_text(c) for c in api.calls_to("chat.update")]
        assert notes.count(RESTARTING) == 2  # each reply in flight says why it stopped
        assert RESTARTING_QUEUED in notes  # and the queued ones that they wait
    second = Bot(api, workspace, data_dir, "echo")
    bots.append(second)
    with ThreadPoolExecutor(8) as pool:  # Slack's retries, four copies at once
        statuses = list(pool.map(lambda r: second.event(0, retry=r), [1, 1, 2, 3]))
    assert statuses == [200] * 4
    for n in range(EVENTS + 2):
        api.wait_for("chat.update", timeout=30, where=lambda c, n=n: _text(c) == f"You said: q{n}")
    second.stop(signal.SIGTERM)
    for n in range(EVENTS + 2):
        _answered_once(api, n)
