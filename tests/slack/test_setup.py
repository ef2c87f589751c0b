"""Set-up: the manifest asks for least privilege; check_tokens asks Slack and never leaks a token."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from bot.config import Settings
from bot.slack.app import MANIFEST, check_tokens
from tests.fakes.slack_api import MockSlackApi


def test_the_manifest_declares_least_privilege_and_socket_mode() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == {
        "app_mentions:read", "assistant:write", "channels:history", "groups:history",
        "im:history", "chat:write", "commands", "files:read",
    }  # fmt: skip
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/rpa"]
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.channels", "message.groups", "message.im",
        "assistant_thread_started", "assistant_thread_context_changed", "agent_session_stopped",
    }  # fmt: skip


def _settings(api: MockSlackApi, tmp_path: Path, **tokens: str) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, slack_api_url=api.base_url, **tokens)  # type: ignore[call-arg, arg-type]


def test_good_tokens_have_no_problems(api: MockSlackApi, tmp_path: Path) -> None:
    settings = _settings(api, tmp_path, SLACK_BOT_TOKEN="xoxb-good", SLACK_APP_TOKEN="xapp-good")
    assert check_tokens(settings) == []
    assert api.calls_to("auth.test")[0].headers["Authorization"] == "Bearer xoxb-good"
    assert api.calls_to("apps.connections.open")[0].headers["Authorization"] == "Bearer xapp-good"


def test_a_refused_token_is_named_without_being_shown(api: MockSlackApi, tmp_path: Path) -> None:
    api.fail("auth.test", "invalid_auth")
    settings = _settings(
        api, tmp_path, SLACK_BOT_TOKEN="xoxb-secret-value-123", SLACK_SIGNING_SECRET="s"
    )
    problems = check_tokens(settings)
    assert problems == ["SLACK_BOT_TOKEN was refused by Slack: 'invalid_auth'"]
    assert "secret-value" not in " ".join(problems)


def test_missing_and_malformed_tokens(api: MockSlackApi, tmp_path: Path) -> None:
    assert check_tokens(_settings(api, tmp_path)) == [
        "SLACK_BOT_TOKEN is not set (the bot token, xoxb-...)"
    ]
    problems = check_tokens(_settings(api, tmp_path, SLACK_BOT_TOKEN="xoxp-user"))
    assert any("set SLACK_APP_TOKEN" in p for p in problems)
    assert any("should start with xoxb-" in p for p in problems)


def test_an_unreachable_slack_is_reported(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        slack_api_url="http://127.0.0.1:9/api/",
        SLACK_BOT_TOKEN="xoxb-x",
        SLACK_SIGNING_SECRET="s",
    )
    assert check_tokens(settings) == [
        "SLACK_BOT_TOKEN could not be checked: Slack is unreachable (URLError)"
    ]


def test_start_up_logs_no_warning_about_the_token_from_the_environment(
    api: MockSlackApi,
    workspace: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.slack.app import create_app, surface_of
    from tests.fakes.fake_service import FakeService
    from tests.slack.conftest import BOT_TOKEN, make_settings

    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)  # as a deployment sets it; bolt reads it too
    with caplog.at_level(logging.WARNING):
        app = create_app(make_settings(workspace, data_dir, api), FakeService())
    surface_of(app).close()
    assert app.client.token == BOT_TOKEN
    assert [r.getMessage() for r in caplog.records if r.name.startswith("slack_bolt")] == []
