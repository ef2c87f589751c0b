"""Streaming: throttled message updates within Slack's rate limit, splitting, no-op updates skipped."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.slack.blocks import split_text
from bot.slack.streaming import ReplyStream
from tests.fakes.slack_api import MockSlackApi


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(api: MockSlackApi) -> Iterator[WebClient]:
    yield WebClient(token="xoxb-test", base_url=api.base_url)


def test_updates_stay_within_one_per_interval(api: MockSlackApi, client: WebClient) -> None:
    clock = FakeClock()
    stream = ReplyStream(client, "C1", "10.0", min_interval=1.0, clock=clock)

    async def scenario() -> None:
        await stream.start()
        for n in range(50):  # 50 deltas over 5 simulated seconds
            clock.now = n * 0.1
            await stream.delta(f"w{n} ")
        await stream.finish()

    asyncio.run(scenario())
    updates = api.calls_to("chat.update")
    elapsed = 4.9
    assert len(updates) <= math.ceil(elapsed / 1.0) + 1  # throttled, plus the final update
    assert len(updates) >= 2  # but it did stream, not only at the end
    assert updates[-1].payload["text"] == " ".join(f"w{n}" for n in range(50))


def test_every_delta_updates_when_they_are_slow(api: MockSlackApi, client: WebClient) -> None:
    clock = FakeClock()
    stream = ReplyStream(client, "C1", "10.0", min_interval=1.0, clock=clock)

    async def scenario() -> None:
        await stream.start()
        for n in range(3):
            clock.now = 2.0 * (n + 1)
            await stream.delta(f"part{n} ")
        await stream.finish()

    asyncio.run(scenario())
    texts = [c.payload["text"] for c in api.calls_to("chat.update")]
    assert texts == ["part0 …", "part0 part1 …", "part0 part1 part2 …", "part0 part1 part2"]


def test_a_final_text_replaces_the_deltas_and_no_op_updates_are_skipped(
    api: MockSlackApi, client: WebClient
) -> None:
    stream = ReplyStream(client, "C1", "10.0", min_interval=1000.0)

    async def scenario() -> None:
        await stream.start()
        await stream.delta("draft")
        await stream.finish("The answer.")
        await stream.finish("The answer.")

    asyncio.run(scenario())
    assert [c.payload["text"] for c in api.calls_to("chat.update")] == ["The answer."]


def test_split_text_respects_the_limit_and_keeps_the_words() -> None:
    text = " ".join(f"word{n}" for n in range(2000))
    parts = split_text(text, 3000)
    assert all(len(p) <= 3000 for p in parts)
    assert " ".join(parts).split() == text.split()
    assert split_text("x" * 7000, 3000) == ["x" * 3000, "x" * 3000, "x" * 1000]
    assert split_text("") == [""]
