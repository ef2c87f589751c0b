"""A Slack rig per test: the mock Web API, the real bolt app over a fake service, served over
real HTTP with signed requests, exactly as Slack would call it in HTTP mode."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import App
from slack_sdk import WebClient

from bot.config import Settings
from bot.slack.app import create_app, surface_of
from bot.slack.http import BackgroundServer
from tests.fakes.fake_service import FakeService
from tests.fakes.slack_api import BOT_USER, MockSlackApi, validate_block_kit

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token-0000"


def sign(body: str, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signing: ``v0=HMAC-SHA256(secret, "v0:{ts}:{body}")``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Added:
    """What ``add_document`` received."""

    calls: list[tuple[Path, str, bytes]] = field(default_factory=list)

    def __call__(self, path: Path, user: str) -> str:
        self.calls.append((path, user, path.read_bytes()))
        return f"{path.name}: 3 chunks indexed."


@dataclass
class Rig:
    api: MockSlackApi
    service: FakeService
    app: App
    server: BackgroundServer
    settings: Settings
    added: Added

    def post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """POST to the app's one Slack path; returns (status, body)."""
        request = urllib.request.Request(
            f"{self.server.url}/slack/events",
            data=body.encode(),
            headers={"Content-Type": content_type, **(sign(body) if headers is None else headers)},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def event(
        self, event: dict[str, Any], event_id: str = "Ev001", retry: int | None = None
    ) -> tuple[int, str]:
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": "T0001",
                "api_app_id": "A0001",
                "event_id": event_id,
                "event": event,
            }
        )
        headers = sign(body)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post(body, "application/json", headers)

    def command(
        self, text: str, user: str = "U100", channel: str = "C100", trigger: str = "T-1"
    ) -> tuple[int, str]:
        form = {
            "command": "/rpa",
            "text": text,
            "user_id": user,
            "channel_id": channel,
            "team_id": "T0001",
            "trigger_id": trigger,
            "response_url": f"{self.api.url}/response/{trigger}",
        }
        return self.post(urlencode(form), "application/x-www-form-urlencoded")

    def interact(self, payload: dict[str, Any]) -> tuple[int, str]:
        payload = {"team": {"id": "T0001"}, "api_app_id": "A0001", **payload}
        return self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    def click(
        self, action_id: str, value: str, user: str, channel: str = "C100", ts: str = "1.1"
    ) -> tuple[int, str]:
        return self.interact(
            {
                "type": "block_actions",
                "user": {"id": user},
                "channel": {"id": channel},
                "container": {"type": "message", "channel_id": channel, "message_ts": ts},
                "message": {"ts": ts},
                "trigger_id": f"trig-{action_id}-{user}",
                "response_url": f"{self.api.url}/response/act",
                "actions": [
                    {"action_id": action_id, "block_id": "b", "type": "button", "value": value}
                ],
            }
        )

    def drain(self) -> None:
        """Let every queued job finish (the queue is closed; the rig is done)."""
        self.server.wait_idle()
        surface = surface_of(self.app)
        assert surface.queue.wait_idle(30), "queued jobs did not finish"
        surface.close()


def make_settings(workspace: Path, data_dir: Path, api: MockSlackApi, **extra: Any) -> Settings:
    """Settings for a rig; Slack's agent features are off unless ``slack_agent=True`` (the
    classic chat.update path: tests/slack/test_assistant.py drives the agent one)."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        workspace=workspace,
        data_dir=data_dir,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        slack_api_url=api.base_url,
        **{"workers": 2, "slack_agent": False, **extra},
    )


@pytest.fixture
def api() -> Iterator[MockSlackApi]:
    server = MockSlackApi().start()
    yield server
    server.stop()
    validate_block_kit(server.calls)  # every payload the bot sent is valid Block Kit


def build_rig(api: MockSlackApi, settings: Settings, service: FakeService | None = None) -> Rig:
    service = service or FakeService()
    added = Added()
    client = WebClient(token=BOT_TOKEN, base_url=api.base_url)
    app = create_app(settings, service, client=client, add_document=added)
    server = BackgroundServer(app, signing_secret=SECRET, spool=surface_of(app).spool).start()
    return Rig(api, service, app, server, settings, added)


@pytest.fixture
def rig(api: MockSlackApi, workspace: Path, data_dir: Path) -> Iterator[Rig]:
    built = build_rig(api, make_settings(workspace, data_dir, api))
    yield built
    built.drain()
    built.server.stop()


def mention(
    text: str,
    ts: str = "1700000001.000100",
    channel: str = "C100",
    user: str = "U100",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "channel": channel,
        **extra,
    }


def message(
    text: str,
    ts: str = "1700000002.000100",
    channel: str = "C100",
    user: str = "U100",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "channel_type": "channel",
        **extra,
    }
