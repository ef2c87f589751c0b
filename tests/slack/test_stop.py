"""The stop button of a thread's agent session ends the answer being written, down to the
serving engine: the real bolt app over HTTP, the real conversation service and the real
scheduler decoding on a tiny random model (no weights to load)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.llm.engine.options import DecodingOptions
from bot.llm.engine.scheduler import scheduler_for
from bot.service import STOPPED_TEXT
from bot.slack.app import surface_of
from bot.wiring import App, build_app
from tests.fakes.scheduler_model import PROMPT, EngineChatModel
from tests.fakes.slack_api import MockSlackApi
from tests.llm.engine.test_scheduler_tiny import tiny_loaded
from tests.slack.conftest import Rig, build_rig, make_settings, mention

THREAD = "1700000001.000100"


@pytest.fixture
def engine_model() -> Iterator[EngineChatModel]:
    model = EngineChatModel(loaded=tiny_loaded(2))
    yield model
    model.gate.set()
    scheduler_for(model.loaded).close()


@pytest.fixture
def stopping(
    api: MockSlackApi, workspace: Path, data_dir: Path, engine_model: EngineChatModel
) -> Iterator[tuple[Rig, App]]:
    settings = make_settings(workspace, data_dir, api, slack_agent=True)
    app = build_app(settings, chat_model=engine_model)
    rig = build_rig(api, settings, app.service)  # type: ignore[arg-type]
    surface_of(rig.app).min_update_interval = 0.0  # every piece goes out as it comes
    yield rig, app
    rig.drain()
    rig.server.stop()
    app.service.close()


def test_stopping_an_answer_mid_stream_frees_its_request_in_the_scheduler(
    stopping: tuple[Rig, App], engine_model: EngineChatModel
) -> None:
    rig, app = stopping
    api = rig.api
    rig.event(mention("write the travel rules out in full"), event_id="Ev-long")
    assert engine_model.held.wait(30), "the reply never started decoding"
    api.wait_for("chat.appendStream", where=lambda c: "markdown_text" in json.dumps(c.payload))
    (handle,) = engine_model.handles
    assert handle.finished is None  # mid-reply

    # The person presses stop: Slack ends the stream and tells the app.
    stopped = api.stop_streams("C100", THREAD)
    event = {
        "type": "agent_session_stopped", "channel": "C100", "thread_ts": THREAD, "user": "U100",
        "streaming_message_ts": stopped, "event_ts": "1700000002.000100",
    }  # fmt: skip
    assert rig.event(event, event_id="Ev-stop")[0] == 200
    note = api.wait_for("chat.postMessage", where=lambda c: c.payload.get("text") == STOPPED_TEXT)
    assert note[0].payload["thread_ts"] == THREAD  # the thread says so, under what came
    api.wait_for("agents.sessions.setStatus", where=lambda c: c.payload["status"] == "active")

    engine_model.gate.set()  # the decode step that was under way ends
    finished = handle.result()
    assert finished.reason == "cancelled"  # freed at the next step, not run to its limit
    assert finished.tokens < engine_model.max_new_tokens
    scheduler = scheduler_for(engine_model.loaded)
    rows_before = dict(scheduler.step_counts)
    after = scheduler.submit(PROMPT, DecodingOptions(max_new_tokens=4, draft_tokens=0))
    assert after.result().tokens == 4
    new_rows = {rows for rows, n in scheduler.step_counts.items() if n > rows_before.get(rows, 0)}
    assert new_rows == {1}  # the next request decodes alone: the stopped one holds no row

    rig.drain()
    assert app.approvals.list() == []  # nothing half-done was proposed, let alone run
