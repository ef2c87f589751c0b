"""The manifest uses only keys Slack's app manifest reference documents (slack_sdk has no
manifest model), declares the app an agent, and subscribes to every event the app listens to,
each with the scope it needs."""

from __future__ import annotations

from typing import Any

import yaml

from bot.slack.app import MANIFEST

# From Slack's app manifest reference (docs.slack.dev/reference/app-manifest) and its agent pages.
DOCUMENTED: dict[str, Any] = {
    "_metadata": {"major_version": None, "minor_version": None},
    "display_information": {
        "name": None, "description": None, "long_description": None, "background_color": None,
    },
    "features": {
        "app_home": {
            "home_tab_enabled": None, "messages_tab_enabled": None,
            "messages_tab_read_only_enabled": None,
        },
        "bot_user": {"display_name": None, "always_online": None},
        "agent_view": {"agent_description": None, "suggested_prompts": None},
        "assistant_view": {"assistant_description": None, "suggested_prompts": None},
        "shortcuts": None, "slash_commands": None, "unfurl_domains": None, "rich_previews": None,
    },
    "oauth_config": {
        "scopes": {"bot": None, "user": None, "bot_optional": None, "user_optional": None},
        "redirect_urls": None, "token_management_enabled": None,
    },
    "settings": {
        "event_subscriptions": {
            "request_url": None, "bot_events": None, "user_events": None,
            "metadata_subscriptions": None,
        },
        "interactivity": {
            "is_enabled": None, "request_url": None, "message_menu_options_url": None,
        },
        "org_deploy_enabled": None, "socket_mode_enabled": None, "token_rotation_enabled": None,
        "allowed_ip_address_ranges": None, "is_hosted": None, "function_runtime": None,
        "incoming_webhooks": None, "siws_links": None,
    },
}  # fmt: skip
SLASH_COMMAND_KEYS = {"command", "url", "description", "usage_hint", "should_escape"}
# The scope each event needs.
EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "assistant_thread_started": "assistant:write",
    "assistant_thread_context_changed": "assistant:write",
    "agent_session_stopped": "assistant:write",
}
LIMITS = {("display_information", "name"): 35, ("display_information", "description"): 140,
          ("features", "bot_user", "display_name"): 80}  # fmt: skip


def _unknown(value: Any, documented: Any, path: str = "") -> list[str]:
    if documented is None or not isinstance(value, dict):
        return []
    found = []
    for key, inner in value.items():
        if key not in documented:
            found.append(f"{path}{key}")
        else:
            found += _unknown(inner, documented[key], f"{path}{key}.")
    return found


def _manifest() -> dict[str, Any]:
    return dict(yaml.safe_load(MANIFEST.read_text(encoding="utf-8")))


def test_the_manifest_uses_only_documented_keys_within_their_limits() -> None:
    manifest = _manifest()
    assert _unknown(manifest, DOCUMENTED) == []
    for command in manifest["features"]["slash_commands"]:
        assert set(command) <= SLASH_COMMAND_KEYS
    for path, limit in LIMITS.items():
        value: Any = manifest
        for key in path:
            value = value[key]
        assert len(value) <= limit, path


def test_the_app_is_an_agent_with_the_events_it_listens_to_and_their_scopes() -> None:
    manifest = _manifest()
    assert manifest["features"]["agent_view"]["agent_description"]
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {EVENT_SCOPES[e] for e in events} <= scopes
    # Every event type a listener of bot/slack waits for is subscribed.
    listened = {"app_mention", "message", "assistant_thread_started",
                "assistant_thread_context_changed", "agent_session_stopped"}  # fmt: skip
    subscribed = {e.split(".")[0] for e in events}
    assert listened <= subscribed
