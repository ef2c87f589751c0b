"""Native streaming against the Slack API stand-in: long answers keep within the methods' text
limits and continue in a further streamed message; a stream Slack ends midway is continued
with chat.update in the same message."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.slack.agent import Capabilities
from bot.slack.native import MESSAGE_CHARS, NativeStream
from tests.fakes.slack_api import TEXT_LIMIT, MockSlackApi


@pytest.fixture
def client(api: MockSlackApi) -> Iterator[WebClient]:
    yield WebClient(token="xoxb-test", base_url=api.base_url)


def _stream(client: WebClient, caps: Capabilities | None = None) -> NativeStream:
    return NativeStream(
        client, "C1", "10.0", team="T1", user="U1", caps=caps or Capabilities(), min_interval=0.0
    )


def test_a_long_answer_continues_in_a_further_streamed_message(
    api: MockSlackApi, client: WebClient
) -> None:
    stream = _stream(client)
    answer = "word & more " * 2500  # 30,000 characters; each & escapes to five

    async def scenario() -> None:
        await stream.start()
        await stream.delta(answer)
        await stream.finish(answer, feedback="A1")

    asyncio.run(scenario())
    calls = api.calls_to("chat.startStream") + api.calls_to("chat.appendStream")
    texts = [c["text"] for call in calls for c in call.payload.get("chunks") or [] if "text" in c]
    assert all(len(t) <= TEXT_LIMIT for t in texts)
    assert all(call.response["ok"] for call in calls + api.calls_to("chat.stopStream"))
    assert len(api.calls_to("chat.startStream")) == 3 == len(stream.messages)  # 12,000 each
    assert "".join(texts).replace("&amp;", "&") == answer
    assert len(answer) > 2 * MESSAGE_CHARS
    assert "rpa_feedback" in str(api.calls_to("chat.stopStream")[-1].payload["blocks"])


def test_a_stream_that_expires_midway_goes_on_in_the_same_message(
    api: MockSlackApi, client: WebClient
) -> None:
    caps = Capabilities()
    stream = _stream(client, caps)

    async def scenario() -> None:
        await stream.start()
        await stream.delta("first part, ")
        api.stop_streams("C1", "10.0")  # Slack expired it
        await stream.delta("second part.")
        await stream.finish("first part, second part.")

    asyncio.run(scenario())
    (ts,) = stream.messages
    refused = [c for c in api.calls_to("chat.appendStream") if not c.response["ok"]]
    assert refused[0].response["error"] == "message_not_in_streaming_state"
    updates = api.calls_to("chat.update")
    assert {u.payload["ts"] for u in updates} == {ts}
    assert updates[-1].payload["text"] == "first part, second part."
    assert caps.on["native"]  # one message's trouble: the next reply streams natively again
