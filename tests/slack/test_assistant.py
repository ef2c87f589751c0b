"""The assistant surface end to end, through the real bolt app over HTTP against the Slack API
stand-in: a thread is started, gets a greeting and prompts from the workspace; a request shows
its status, streams natively with task updates and sources, ends with feedback buttons; a
press is stored with the thread, the turn and the model that answered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.events import Citation, CitationEvent, Final, TextDelta, ToolActivity
from bot.slack.app import surface_of
from tests.fakes.slack_api import Call, MockSlackApi
from tests.slack.conftest import Rig, build_rig, make_settings, mention
from tools.forms import read_forms
from tools.process_defs import read_processes

DM, THREAD, USER = "D100", "1700000100.000100", "U100"
POLICY = Citation("Travel policy", "travel/policy.md", "Hotels")
AGENT_CALLS = (
    "chat.postMessage", "chat.update", "chat.startStream", "chat.appendStream", "chat.stopStream",
    "assistant.threads.setStatus", "assistant.threads.setSuggestedPrompts",
    "assistant.threads.setTitle", "agents.sessions.setStatus", "chat.postEphemeral",
)  # fmt: skip


@pytest.fixture
def agent(api: MockSlackApi, workspace: Path, data_dir: Path) -> Iterator[Rig]:
    settings = make_settings(
        workspace, data_dir, api, slack_agent=True, docs_url="https://docs.example.com/process"
    )
    rig = build_rig(api, settings)
    surface_of(rig.app).min_update_interval = 1000.0  # the first piece, then the rest at the end
    yield rig
    rig.drain()
    rig.server.stop()


def started(channel: str = DM, thread: str = THREAD) -> dict[str, Any]:
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": USER,
            "context": {"channel_id": "C100", "team_id": "T0001", "enterprise_id": None},
            "channel_id": channel,
            "thread_ts": thread,
        },
        "event_ts": "1700000100.000200",
    }


def dm(text: str, ts: str = "1700000101.000100") -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "channel": DM,
        "user": USER,
        "text": text,
        "ts": ts,
        "thread_ts": THREAD,
    }


def agent_calls(api: MockSlackApi) -> list[Call]:
    return [c for c in api.calls if c.method in AGENT_CALLS]


def answer_script(inbound: Any) -> list[Any]:
    return [
        ToolActivity("search_process_docs", "searching the process documents..."),
        CitationEvent((POLICY,)),
        TextDelta("Hotels: 150 EUR "),
        TextDelta("per night [1]."),
        Final("Hotels: 150 EUR per night [1].", (POLICY,)),
    ]


def test_a_conversation_through_the_assistant_surface(agent: Rig, workspace: Path) -> None:
    api = agent.api
    # 1. The person opens the agent view: a greeting and prompts from the workspace.
    assert agent.event(started(), event_id="Ev-start")[0] == 200
    prompts = api.wait_for("assistant.threads.setSuggestedPrompts")[0].payload
    greeting = api.calls_to("chat.postMessage")[0].payload
    assert (greeting["channel"], greeting["thread_ts"]) == (DM, THREAD)
    process = next(iter(read_processes(workspace)[0].values()))
    form = next(iter(read_forms(workspace)[0].values()))
    assert prompts["channel_id"] == DM and prompts["thread_ts"] == THREAD
    assert [p["title"] for p in prompts["prompts"]][:2] == [
        f"Start: {process.title}",
        f"Fill in: {form.title}",
    ]
    agent.event(started(), event_id="Ev-start", retry=1)  # Slack's retry: no second greeting

    # 2. A request: status, session, a streamed answer with task updates and sources.
    agent.service.script["handle"] = answer_script
    agent.event(dm("what is the hotel cap per night?"), event_id="Ev-ask")
    api.wait_for("agents.sessions.setStatus", count=2)
    calls = agent_calls(api)[2:]
    assert [c.method for c in calls] == [
        "chat.startStream",
        "agents.sessions.setStatus",
        "assistant.threads.setTitle",
        "assistant.threads.setStatus",
        "chat.appendStream",  # the search starts
        "assistant.threads.setStatus",
        "chat.appendStream",  # it found the policy
        "chat.appendStream",  # the answer's first piece
        "chat.appendStream",  # the rest
        "chat.stopStream",  # sources and feedback buttons
        "assistant.threads.setStatus",  # cleared
        "agents.sessions.setStatus",  # active again
    ]
    start, session, title, thinking, search, searching, found, first, rest, stop, clear, active = (
        c.payload for c in calls
    )
    assert start == {
        "channel": DM, "thread_ts": THREAD, "recipient_team_id": "T0001",
        "recipient_user_id": USER, "task_display_mode": "timeline",
        "chunks": [{"type": "task_update", "id": "task_1", "title": "Working…",
                    "status": "in_progress"}],
    }  # fmt: skip
    assert session == {
        "channel_id": DM, "thread_ts": THREAD, "status": "processing",
        "title": "what is the hotel cap per night?", "initiator_user_id": USER,
    }  # fmt: skip
    assert title == {
        "channel_id": DM,
        "thread_ts": THREAD,
        "title": "what is the hotel cap per night?",
    }
    assert thinking["loading_messages"] == ["thinking about your request…"]
    assert search["chunks"] == [
        {"type": "task_update", "id": "task_1", "title": "Working…", "status": "complete"},
        {"type": "task_update", "id": "task_2", "title": "searching the process documents...",
         "status": "in_progress"},
    ]  # fmt: skip
    assert searching["loading_messages"] == ["searching the process documents..."]
    assert found["chunks"] == [
        {"type": "task_update", "id": "task_2", "title": "searching the process documents...",
         "status": "complete", "sources": [{"type": "url", "text": "Travel policy › Hotels",
         "url": "https://docs.example.com/process/travel/policy.md"}]},
    ]  # fmt: skip
    assert first["chunks"] == [{"type": "markdown_text", "text": "Hotels: 150 EUR "}]
    assert rest["chunks"] == [{"type": "markdown_text", "text": "per night [1]."}]
    assert {first["ts"], rest["ts"], stop["ts"]} == {
        api.calls_to("chat.startStream")[0].response["ts"]
    }
    sources, buttons = stop["blocks"]
    assert sources["type"] == "context" and "Travel policy › Hotels" in str(sources)
    assert buttons["type"] == "context_actions"
    assert buttons["elements"][0]["type"] == "feedback_buttons"
    assert (clear["status"], active["status"]) == ("", "active")
    assert not api.calls_to("chat.update")  # nothing went the classic way

    # 3. Feedback: a press is stored with the thread, the turn and the model.
    value = buttons["elements"][0]["positive_button"]["value"]
    agent.interact(
        {
            "type": "block_actions",
            "user": {"id": USER},
            "channel": {"id": DM},
            "container": {"type": "message", "channel_id": DM, "message_ts": stop["ts"]},
            "message": {"ts": stop["ts"]},
            "trigger_id": "trig-feedback",
            "actions": [
                {"type": "feedback_buttons", "action_id": "rpa_feedback", "block_id": buttons["block_id"],
                 "value": value},
            ],
        }
    )  # fmt: skip
    api.wait_for("chat.postEphemeral")
    (rated,) = surface_of(agent.app).answers.rated()
    assert (rated.channel, rated.thread, rated.turn, rated.rating) == (DM, THREAD, 1, "positive")
    assert rated.question == "what is the hotel cap per night?"
    assert rated.answer == "Hotels: 150 EUR per night [1]."
    assert rated.model == agent.settings.model and rated.user == USER


def test_a_workspace_without_native_streaming_gets_the_classic_reply(agent: Rig) -> None:
    api = agent.api
    api.fail("chat.startStream", "team_not_enabled")  # an older workspace
    agent.event(mention("what is the hotel cap?"), event_id="Ev-old-1")
    api.wait_for(
        "chat.update", where=lambda c: c.payload["text"] == "You said: what is the hotel cap?"
    )
    agent.event(mention("and for trains?", ts="1700000009.000100"), event_id="Ev-old-2")
    agent.drain()
    assert len(api.calls_to("chat.startStream")) == 1  # refused once, then classic at once
    finals = [c.payload["text"] for c in api.calls_to("chat.update")]
    assert "You said: what is the hotel cap?" in finals and "You said: and for trains?" in finals
    assert "rpa_feedback" in str(api.calls_to("chat.update")[-1].payload["blocks"])


def test_a_stream_into_a_channel_without_a_recipient_falls_back(agent: Rig) -> None:
    body = mention("what is the hotel cap?")
    agent.api.reply("chat.update", lambda p: {"ok": True, "channel": p["channel"], "ts": p["ts"]})
    # A delivery without the team (an old turn resumed, a payload without team_id).
    from bot.events import Inbound
    from bot.slack import turns

    inbound = Inbound(USER, "C100", body["ts"], "what is the hotel cap?", "slack")
    turns.accept(surface_of(agent.app), f"msg:C100:{body['ts']}", None, inbound)
    agent.drain()
    (start,) = agent.api.calls_to("chat.startStream")
    assert start.response == {"ok": False, "error": "missing_recipient_team_id"}
    posted = agent.api.calls_to("chat.postMessage")
    assert posted and posted[0].payload["thread_ts"] == body["ts"]
    assert (
        agent.api.calls_to("chat.update")[-1].payload["text"] == "You said: what is the hotel cap?"
    )


def test_a_pending_approval_shows_the_session_as_waiting(agent: Rig) -> None:
    from bot.events import ApprovalRequest

    request = ApprovalRequest(
        action_id="act-1", tool="submit_form", summary="Submit the expense claim (42 EUR)",
        arguments={"amount": "42"}, requester=USER, expires_at="2026-12-31T00:00:00Z",
        role="manager",
    )  # fmt: skip
    agent.service.script["handle"] = [request, Final("This needs your manager's approval.")]
    agent.event(mention("file my taxi receipt, 42 EUR"), event_id="Ev-approve")
    agent.drain()
    statuses = [c.payload for c in agent.api.calls_to("assistant.threads.setStatus")]
    assert ["waiting for your manager's approval"] in [s.get("loading_messages") for s in statuses]
    sessions = [c.payload["status"] for c in agent.api.calls_to("agents.sessions.setStatus")]
    assert sessions == ["processing", "suspended"]
