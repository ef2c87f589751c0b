"""What each message is owed: broadcasts and other non-human subtypes nothing, an empty mention
the help (no model), and a signed request no listener takes a 200 and a warning, never an
error shown to the person and never its content in the log."""

from __future__ import annotations

import json
import logging

import pytest

from tests.fakes.slack_api import BOT_USER
from tests.slack.conftest import Rig, mention, message


def test_a_thread_broadcast_is_not_answered(rig: Rig) -> None:
    rig.event(mention("first", ts="400.0"), event_id="Ev1")
    rig.api.wait_for("chat.update")
    # A reply in the joined thread that was also sent to the channel.
    rig.event(message("also to the channel", ts="401.0", thread_ts="400.0",
                      subtype="thread_broadcast"), event_id="Ev2")  # fmt: skip
    rig.drain()
    assert [c.args[0].text for c in rig.service.calls_to("handle")] == ["first"]
    assert len(rig.api.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize(
    "subtype", ["channel_join", "message_deleted", "bot_message", "me_message"]
)
def test_other_subtypes_are_ignored(rig: Rig, subtype: str) -> None:
    rig.event(message(f"<@{BOT_USER}> x", ts="402.0", channel_type="im", subtype=subtype))
    rig.drain()
    assert rig.service.calls == []
    assert rig.api.calls_to("chat.postMessage") == []


def test_an_empty_mention_gets_the_help_without_the_model(rig: Rig) -> None:
    rig.event({"type": "app_mention", "user": "U100", "text": f"<@{BOT_USER}>  ", "ts": "403.0",
               "channel": "C100"})  # fmt: skip
    (post,) = rig.api.wait_for("chat.postMessage")
    rig.drain()
    assert post.payload["thread_ts"] == "403.0"
    assert "/rpa docs QUERY" in post.payload["text"]
    assert rig.service.calls == []


def test_an_unknown_button_is_acknowledged_and_logged_without_its_content(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.slack"):
        status, _ = rig.click("rpa_retired_button", "secret-value-42", user="U100")
    assert status == 200
    warning = [r.getMessage() for r in caplog.records if "no listener" in r.getMessage()]
    assert warning == ["acknowledged a Slack request no listener takes: block_actions "
                       "['rpa_retired_button']"]  # fmt: skip
    assert "secret-value-42" not in caplog.text
    rig.drain()
    assert rig.service.calls == []


def test_an_unknown_modal_submission_is_acknowledged(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    view = {
        "id": "V9",
        "type": "modal",
        "callback_id": "old_modal",
        "private_metadata": "{}",
        "state": {"values": {"b": {"a": {"type": "plain_text_input", "value": "salary 90k"}}}},
    }
    with caplog.at_level(logging.WARNING, logger="bot.slack"):
        status, body = rig.interact({"type": "view_submission", "user": {"id": "U100"},
                                     "view": view})  # fmt: skip
    assert status == 200 and body == ""
    assert "callback_id 'old_modal'" in caplog.text
    assert "salary" not in caplog.text


def test_an_event_the_bot_does_not_handle_is_acknowledged(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.slack"):
        rig.event({"type": "reaction_added", "user": "U100", "reaction": "tada",
                   "item": {"type": "message", "channel": "C100", "ts": "1.0"}})  # fmt: skip
        rig.drain()
    assert "event 'reaction_added'" in caplog.text
    assert "tada" not in caplog.text
    assert json.dumps(rig.service.calls) == "[]"
