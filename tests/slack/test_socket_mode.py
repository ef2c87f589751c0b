"""Socket Mode end to end: the real slack_sdk client against a local websocket server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.config import Settings
from bot.priority import Priority
from bot.slack.app import create_app, socket_mode_handler, surface_of
from tests.fakes.fake_service import FakeService
from tests.fakes.slack_api import BOT_USER, MockSlackApi
from tests.fakes.socket_mode import FakeSocketMode
from tests.slack.conftest import BOT_TOKEN

APP_TOKEN = "xapp-1-test-0000"


@pytest.fixture
def socket_server(api: MockSlackApi) -> Iterator[FakeSocketMode]:
    server = FakeSocketMode().start()
    api.socket_url = server.url
    yield server
    server.stop()


def _mention(event_id: str, text: str, ts: str) -> dict[str, object]:
    return {
        "type": "event_callback",
        "team_id": "T0001",
        "event_id": event_id,
        "event": {
            "type": "app_mention",
            "user": "U100",
            "text": f"<@{BOT_USER}> {text}",
            "ts": ts,
            "channel": "C100",
        },
    }


def test_socket_mode_acks_answers_reconnects_and_ignores_a_replay(
    api: MockSlackApi, socket_server: FakeSocketMode, workspace: Path, data_dir: Path
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        workspace=workspace,
        data_dir=data_dir,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        slack_api_url=api.base_url,
        slack_agent=False,  # the classic replies (the agent ones: tests/slack/test_assistant.py)
    )
    assert settings.slack_mode == "socket"
    service = FakeService()
    app = create_app(settings, service, client=WebClient(token=BOT_TOKEN, base_url=api.base_url))
    urgent = Priority()
    handler = socket_mode_handler(app, APP_TOKEN, urgent, ping_interval=0.5)
    handler.connect()
    try:
        socket_server.wait_connections(1)
        first = socket_server.send_envelope(
            "events_api", _mention("EvS1", "hello over sockets", "70.0")
        )
        assert socket_server.wait_ack(first)["envelope_id"] == first
        reply = api.wait_for("chat.update")[0]
        assert reply.payload["text"] == "You said: hello over sockets"
        # The model pauses while an envelope is handled (bot/priority.py).
        assert urgent.works == 1

        socket_server.disconnect()  # Slack asks the client to move to a new connection
        socket_server.wait_connections(2)
        socket_server.close_connection(0)
        assert len(api.calls_to("apps.connections.open")) >= 2
        assert (
            api.calls_to("apps.connections.open")[0].headers["Authorization"]
            == f"Bearer {APP_TOKEN}"
        )

        replay = socket_server.send_envelope(
            "events_api", _mention("EvS1", "hello over sockets", "70.0"), retry_attempt=1
        )
        socket_server.wait_ack(replay)

        command = socket_server.send_envelope(
            "slash_commands",
            {
                "command": "/rpa",
                "text": "help",
                "user_id": "U100",
                "channel_id": "C100",
                "trigger_id": "T-s",
            },
        )
        ack = socket_server.wait_ack(command)
        assert "/rpa docs QUERY" in ack["payload"]["text"]
    finally:
        handler.close()
        surface_of(app).close()
    assert len(service.calls_to("handle")) == 1  # the replayed envelope produced no second reply
    assert len(api.calls_to("chat.postMessage")) == 1
