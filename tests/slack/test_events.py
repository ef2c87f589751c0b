"""Conversations: mentions, DMs, thread follow-ups, what is ignored, de-duplication, failures."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from bot.events import Citation, CitationEvent, Error, Final, TextDelta
from tests.fakes.slack_api import BOT_ID, BOT_USER, MockSlackApi
from tests.slack.conftest import Rig, build_rig, make_settings, mention, message


def _texts(rig: Rig, method: str) -> list[str]:
    return [c.payload.get("text", "") for c in rig.api.calls_to(method)]


def test_a_mention_gets_a_working_message_then_the_answer_in_its_thread(rig: Rig) -> None:
    rig.event(mention("how do I file expenses?", ts="111.1"))
    update = rig.api.wait_for("chat.update")[0]
    placeholder = rig.api.calls_to("chat.postMessage")[0]
    assert placeholder.payload["thread_ts"] == "111.1"
    assert placeholder.payload["channel"] == "C100"
    assert "Working" in placeholder.payload["text"]
    assert update.payload["text"] == "You said: how do I file expenses?"
    inbound = rig.service.calls_to("handle")[0].args[0]
    assert (inbound.user, inbound.channel, inbound.thread, inbound.surface) == (
        "U100",
        "C100",
        "111.1",
        "slack",
    )
    assert inbound.conversation_id == "C100:111.1"


def test_a_mention_inside_a_thread_answers_in_that_thread(rig: Rig) -> None:
    rig.event(mention("and then?", ts="222.2", thread_ts="200.0"))
    rig.api.wait_for("chat.update")
    assert rig.api.calls_to("chat.postMessage")[0].payload["thread_ts"] == "200.0"
    assert rig.service.calls_to("handle")[0].args[0].thread == "200.0"


def test_a_direct_message_is_answered_without_a_mention(rig: Rig) -> None:
    rig.event(message("hi there", ts="333.3", channel="D100", channel_type="im"))
    rig.api.wait_for("chat.update")
    assert rig.api.calls_to("chat.postMessage")[0].payload["channel"] == "D100"
    assert rig.service.calls_to("handle")[0].args[0].text == "hi there"


def test_follow_ups_in_a_joined_thread_need_no_mention(rig: Rig) -> None:
    rig.event(mention("first", ts="400.0"), event_id="Ev1")
    rig.api.wait_for("chat.update")
    rig.event(message("second", ts="401.0", thread_ts="400.0"), event_id="Ev2")
    rig.api.wait_for("chat.update", count=2)
    calls = rig.service.calls_to("handle")
    assert [c.args[0].text for c in calls] == ["first", "second"]
    assert {c.args[0].conversation_id for c in calls} == {"C100:400.0"}


def test_channel_chatter_and_unjoined_threads_are_ignored(rig: Rig) -> None:
    rig.event(message("lunch?", ts="500.0"), event_id="Ev1")
    rig.event(message("in some thread", ts="501.0", thread_ts="499.0"), event_id="Ev2")
    rig.drain()
    assert rig.service.calls == []
    assert rig.api.calls_to("chat.postMessage") == []


def test_own_and_other_bots_messages_are_ignored(rig: Rig) -> None:
    rig.event(
        message("I am the bot", ts="600.0", channel_type="im", user=BOT_USER, bot_id=BOT_ID),
        event_id="Ev1",
    )
    rig.event(
        message("another bot", ts="601.0", channel_type="im", user="U999", bot_id="B999"),
        event_id="Ev2",
    )
    rig.event(
        message("bot post", ts="602.0", channel_type="im", subtype="bot_message", bot_id="B9"),
        event_id="Ev3",
    )
    rig.event(
        message("edit", ts="603.0", channel_type="im", subtype="message_changed"), event_id="Ev4"
    )
    rig.drain()
    assert rig.service.calls == []


def test_slack_retries_of_one_event_produce_one_reply(rig: Rig) -> None:
    for retry in (None, 1, 2):
        status, _ = rig.event(mention("once", ts="700.0"), event_id="EvRetry", retry=retry)
        assert status == 200
    rig.drain()
    assert len(rig.service.calls_to("handle")) == 1
    assert len(rig.api.calls_to("chat.postMessage")) == 1


def test_message_plus_app_mention_double_delivery_produces_one_reply(rig: Rig) -> None:
    text = f"<@{BOT_USER}> double"
    rig.event(message(text, ts="800.0"), event_id="EvMsg")
    rig.event(mention("double", ts="800.0"), event_id="EvMention")
    rig.drain()
    assert len(rig.service.calls_to("handle")) == 1
    assert len(rig.api.calls_to("chat.postMessage")) == 1


def test_deduplication_holds_across_a_restart(
    api: MockSlackApi, workspace: Path, data_dir: Path
) -> None:
    settings = make_settings(workspace, data_dir, api)
    first = build_rig(api, settings)
    first.event(mention("before restart", ts="900.0"), event_id="EvR")
    first.drain()
    first.server.stop()
    second = build_rig(api, settings)  # a new process over the same data dir
    try:
        second.event(mention("before restart", ts="900.0"), event_id="EvR", retry=1)
        second.event(message("follow-up", ts="901.0", thread_ts="900.0"), event_id="EvR2")
        second.drain()
    finally:
        second.server.stop()
    assert (
        second.service.calls_to("handle")[0].args[0].text == "follow-up"
    )  # the thread is remembered
    assert len(second.service.calls_to("handle")) == 1


def test_acknowledgement_never_waits_for_the_service(rig: Rig) -> None:
    rig.service.gate = threading.Event()
    status, _ = rig.event(mention("slow one", ts="1000.0"))
    assert status == 200  # answered while the service is still held at the gate
    assert not rig.service.gate.is_set()
    rig.service.gate.set()
    rig.api.wait_for("chat.update")


def test_at_most_workers_conversations_run_at_once(rig: Rig) -> None:
    rig.service.gate = threading.Event()
    for n in range(3):
        rig.event(mention(f"q{n}", ts=f"11{n}0.0"), event_id=f"EvW{n}")
    rig.service.wait_active(2)
    rig.service.gate.set()
    rig.api.wait_for("chat.update", count=3)
    assert rig.service.max_active == 2  # Settings.workers


def test_a_service_failure_ends_with_an_error_id_in_the_thread(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.service.raise_in.add("handle")
    rig.service.script["handle"] = [TextDelta("partial ")]
    with caplog.at_level(logging.ERROR, logger="bot.slack"):
        rig.event(mention("break", ts="1200.0"))
        rig.drain()
    notes = [
        t for t in _texts(rig, "chat.postMessage") + _texts(rig, "chat.update") if "error id" in t
    ]
    assert len(notes) == 1
    error_id = notes[0].split("`")[1]
    assert error_id.startswith("E-")
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback is in the log under that id


def test_an_error_event_is_shown_with_its_id(rig: Rig) -> None:
    rig.service.script["handle"] = [Error("The model is not available.", "E-abc123")]
    rig.event(mention("anything", ts="1300.0"))
    update = rig.api.wait_for("chat.update")[0]
    assert "E-abc123" in update.payload["text"]
    assert "model is not available" in update.payload["text"]


def test_citations_are_a_compact_context_block(rig: Rig) -> None:
    cites = (
        Citation("Expense policy", "docs/expenses.md", "Receipts"),
        Citation("Travel", "docs/travel.md", page=2),
    )
    rig.service.script["handle"] = [
        CitationEvent(cites[:1]),
        Final("Receipts above 25 EUR.", citations=cites[1:]),
    ]
    rig.event(mention("receipts?", ts="1400.0"))
    blocks = rig.api.wait_for("chat.update")[0].payload["blocks"]
    context = [b for b in blocks if b["type"] == "context"]
    assert len(context) == 1
    labels = [e["text"] for e in context[0]["elements"]]
    assert any("Expense policy › Receipts" in t for t in labels)
    assert any("Travel (p. 2)" in t for t in labels)


def test_a_long_answer_is_split_across_messages_in_the_thread(rig: Rig) -> None:
    long = "\n\n".join(f"Paragraph {n}: " + "word " * 150 for n in range(12))  # ~9,000 characters
    rig.service.script["handle"] = [Final(long)]
    rig.event(mention("tell me everything", ts="1500.0"))
    rig.drain()
    posts = rig.api.calls_to("chat.postMessage")
    assert len(posts) >= 3  # the placeholder and at least two continuations
    assert all(p.payload["thread_ts"] == "1500.0" for p in posts)
    shown = [
        c.payload["blocks"][0]["text"]["text"] for c in rig.api.calls_to("chat.update") + posts[1:]
    ]
    assert all(len(t) <= 3000 for t in shown)
    assert "Paragraph 0:" in shown[0] and any("Paragraph 11:" in t for t in shown)
