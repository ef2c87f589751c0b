"""The conversation service end to end, driven by a scripted tool-calling model.

Real SQLite, real Chroma (the demo documents), real xlsx files and the .eml outbox: only the
model is scripted, so each scenario proves the wiring from message to side effect.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from bot.config import DEFAULT_WORKSPACE, Settings
from bot.service import VisibleStream
from bot.wiring import App, build_app
from tests.bot.conftest import collect, inbound, of_kind
from tests.fakes.chat_model import ScriptedChatModel, tool_call
from tools.forms import load_forms

CLAIM = {
    "expense_date": "2026-11-20",
    "category": "transport",
    "amount": "42.00",
    "description": "Taxi from Lyon airport to the customer",
    "receipt_attached": True,
}


def submissions(app: App) -> list[Any]:
    with app.db.reading() as conn:
        return conn.execute("SELECT * FROM form_submissions").fetchall()


def last_tool_text(messages: list[BaseMessage]) -> str:
    return next(str(m.content) for m in reversed(messages) if isinstance(m, ToolMessage))


async def test_question_is_answered_with_citations(app: App, model: ScriptedChatModel) -> None:
    model.enqueue(
        tool_call("search_process_docs", query="expense claim manager approval threshold"),
        lambda msgs: (
            "Above 500 EUR your manager approves [1]." if "500" in last_tool_text(msgs) else "?"
        ),
    )
    events = await collect(app.service.handle(inbound("Who approves an expense claim of 800 EUR?")))
    final = of_kind(events, "final")[-1]
    assert final.text == "Above 500 EUR your manager approves [1]."
    assert of_kind(events, "tool_activity")[0].tool == "search_process_docs"
    assert any("xpense" in c.title for c in final.citations)
    assert of_kind(events, "citation")


async def test_proposal_waits_then_runs_exactly_once(app: App, model: ScriptedChatModel) -> None:
    model.enqueue(
        tool_call("submit_form", form="expense_claim", values=CLAIM), "Waiting for your approval."
    )
    events = await collect(app.service.handle(inbound("File my taxi receipt, 42 EUR")))
    request = of_kind(events, "approval_request")[0]
    assert request.tool == "submit_form" and request.arguments["values"]["amount"] == 42.0
    assert submissions(app) == []  # nothing happens before a person approves

    decided = await collect(app.service.decide(request.action_id, "U1", "approve"))
    assert of_kind(decided, "final")[0].text.startswith("Done")
    assert len(submissions(app)) == 1

    replay = await collect(app.service.decide(request.action_id, "U1", "approve"))
    assert "already" in of_kind(replay, "error")[0].message
    assert len(submissions(app)) == 1


async def test_a_proposal_without_a_written_reply_says_what_waits(
    app: App, model: ScriptedChatModel
) -> None:
    model.enqueue(tool_call("submit_form", form="expense_claim", values=CLAIM), " ")
    events = await collect(app.service.handle(inbound("File my taxi receipt, 42 EUR")))
    request = of_kind(events, "approval_request")[0]
    final = of_kind(events, "final")[-1]
    assert final.text.startswith(f"Ready for approval: {request.summary}.")
    assert "could not write" not in final.text
    assert submissions(app) == []


async def test_result_goes_back_into_the_thread(app: App, model: ScriptedChatModel) -> None:
    model.enqueue(tool_call("submit_form", form="expense_claim", values=CLAIM), "Please approve.")
    request = of_kind(await collect(app.service.handle(inbound("file it"))), "approval_request")[0]
    await collect(app.service.decide(request.action_id, "U1", "approve"))
    model.enqueue(
        lambda msgs: "seen" if any(request.action_id in str(m.content) for m in msgs) else "lost"
    )
    events = await collect(app.service.handle(inbound("did it go through?")))
    assert of_kind(events, "final")[0].text == "seen"


async def test_edit_then_approve_runs_the_edited_arguments(
    app: App, model: ScriptedChatModel
) -> None:
    model.enqueue(tool_call("submit_form", form="expense_claim", values=CLAIM), "ok")
    request = of_kind(await collect(app.service.handle(inbound("file it"))), "approval_request")[0]
    edited = {"form": "expense_claim", "values": {**CLAIM, "amount": "24.00"}}
    await collect(app.service.decide(request.action_id, "U1", "approve", edited))
    rows = submissions(app)
    assert len(rows) == 1
    assert float(json.loads(rows[0]["values"])["amount"]) == 24.0


async def test_invalid_edit_is_refused_and_stays_pending(
    app: App, model: ScriptedChatModel
) -> None:
    model.enqueue(tool_call("submit_form", form="expense_claim", values=CLAIM), "ok")
    request = of_kind(await collect(app.service.handle(inbound("file it"))), "approval_request")[0]
    events = await collect(app.service.decide(request.action_id, "U1", "approve", {"form": 3}))
    assert of_kind(events, "error")
    assert app.approvals.get(request.action_id).status == "pending"


async def test_reject_does_nothing(app: App, model: ScriptedChatModel) -> None:
    model.enqueue(tool_call("submit_form", form="expense_claim", values=CLAIM), "ok")
    request = of_kind(await collect(app.service.handle(inbound("file it"))), "approval_request")[0]
    events = await collect(app.service.decide(request.action_id, "U1", "reject"))
    assert "Rejected" in of_kind(events, "final")[0].text
    assert submissions(app) == []
    assert app.approvals.get(request.action_id).status == "rejected"


async def test_foreign_approver_is_refused(app: App, model: ScriptedChatModel) -> None:
    model.enqueue(tool_call("submit_form", form="expense_claim", values=CLAIM), "ok")
    request = of_kind(await collect(app.service.handle(inbound("file it"))), "approval_request")[0]
    events = await collect(app.service.decide(request.action_id, "U2", "approve"))
    assert "may not decide" in of_kind(events, "error")[0].message
    assert submissions(app) == []
    assert app.approvals.decisions(request.action_id)[0]["accepted"] == 0


async def test_expired_action_is_refused(app: App, model: ScriptedChatModel) -> None:
    app.approvals.ttl = timedelta(seconds=-1)
    model.enqueue(tool_call("submit_form", form="expense_claim", values=CLAIM), "ok")
    request = of_kind(await collect(app.service.handle(inbound("file it"))), "approval_request")[0]
    events = await collect(app.service.decide(request.action_id, "U1", "approve"))
    assert "expired" in of_kind(events, "error")[0].message
    assert submissions(app) == []


async def test_process_run_branches_to_the_manager(app: App, model: ScriptedChatModel) -> None:
    inputs = {
        **CLAIM,
        "amount": "800.00",
        "category": "lodging",
        "description": "Hotel in Madrid, 4 nights",
    }
    start = AIMessage(
        content="",
        tool_calls=[
            {
                "name": "start_process",
                "args": {"name": "expense_reimbursement", "inputs": inputs},
                "id": "c1",
            }
        ],
    )
    model.enqueue(start, "Waiting.")
    request = of_kind(
        await collect(app.service.handle(inbound("claim my hotel, 800 EUR"))), "approval_request"
    )[0]
    started = await collect(app.service.decide(request.action_id, "U1", "approve"))
    assert of_kind(started, "final"), started
    waiting = [a for a in app.approvals.list(status=("pending",)) if a.role == "manager"]
    assert len(waiting) == 1, "an amount above 500 EUR needs the manager"
    refused = await collect(app.service.decide(waiting[0].id, "U1", "approve"))
    assert of_kind(refused, "error")  # the requester is not their own manager
    done = await collect(app.service.decide(waiting[0].id, "M1", "approve"))
    run = app.engine.get_run(waiting[0].run_id) if hasattr(app.engine, "get_run") else None
    assert "Approved" in of_kind(done, "final")[0].text
    if run is not None:
        assert run.status == "done"


async def test_memory_survives_a_restart(
    app_settings: Settings, app: App, model: ScriptedChatModel
) -> None:
    model.enqueue("Noted: your cost center is CC-123.")
    await collect(app.service.handle(inbound("My cost center is CC-123.")))
    app.service.close()

    again = ScriptedChatModel()
    again.enqueue(
        lambda msgs: "CC-123" if any("CC-123" in str(m.content) for m in msgs) else "forgotten"
    )
    restarted = build_app(app_settings, chat_model=again)
    try:
        events = await collect(restarted.service.handle(inbound("What is my cost center?")))
    finally:
        restarted.service.close()
    assert of_kind(events, "final")[0].text == "CC-123"


async def test_threads_are_separate_conversations(app: App, model: ScriptedChatModel) -> None:
    model.enqueue("first")
    await collect(app.service.handle(inbound("secret word is plum", thread="T1")))
    model.enqueue(lambda msgs: "leak" if any("plum" in str(m.content) for m in msgs) else "clean")
    events = await collect(app.service.handle(inbound("what is the secret word?", thread="T2")))
    assert of_kind(events, "final")[0].text == "clean"


async def test_model_failure_becomes_an_error_event_with_an_id(
    app: App, model: ScriptedChatModel
) -> None:
    def explode(_msgs: list[BaseMessage]) -> str:
        raise RuntimeError("boom")

    model.enqueue(explode)
    events = await collect(app.service.handle(inbound("hello")))
    error = of_kind(events, "error")[0]
    assert error.error_id.startswith("E-") and "boom" not in error.message


async def test_a_question_is_searched_for_before_the_model_answers(
    app: App, model: ScriptedChatModel
) -> None:
    model.enqueue(
        lambda msgs: (
            "saw docs"
            if isinstance(msgs[-1], ToolMessage) and "EUR" in str(msgs[-1].content)
            else "no docs"
        )
    )
    events = await collect(
        app.service.handle(inbound("How much can I spend on a hotel night in Madrid?"))
    )
    final = of_kind(events, "final")[0]
    assert final.text == "saw docs"
    assert final.citations and of_kind(events, "tool_activity")[0].tool == "search_process_docs"


async def test_a_request_is_not_searched_for(app: App, model: ScriptedChatModel) -> None:
    model.enqueue(
        lambda msgs: "plain" if not any(isinstance(m, ToolMessage) for m in msgs) else "searched"
    )
    events = await collect(app.service.handle(inbound("File my taxi receipt, 42 EUR")))
    assert of_kind(events, "final")[0].text == "plain"


def test_question_heuristic() -> None:
    from bot.service import looks_like_question

    assert looks_like_question("how do I book a flight")
    assert looks_like_question("Leave rules for part-time staff?")
    assert not looks_like_question("File my taxi receipt, 42 EUR")
    assert not looks_like_question("")


async def test_a_model_that_keeps_calling_tools_is_made_to_answer(
    app: App, model: ScriptedChatModel
) -> None:
    model.enqueue(*(tool_call("search_process_docs", query=q) for q in ("travel", "trips", "fly")))
    model.enqueue("the travel rules are ...")
    events = await collect(app.service.handle(inbound("Find the travel rules for me")))
    assert not of_kind(events, "error")
    assert of_kind(events, "final")[0].text == "the travel rules are ..."
    assert [bool(t) for t in model.tools_per_call] == [True, True, True, False]


async def test_a_call_repeated_exactly_takes_the_tools_away_at_once(
    app: App, model: ScriptedChatModel
) -> None:
    refused = tool_call("submit_form", form="expense_claim", values={"amount": "lots"})
    model.enqueue(refused, refused, "I need the amount as a number.")
    events = await collect(app.service.handle(inbound("File my taxi receipt")))
    assert not of_kind(events, "approval_request")
    assert of_kind(events, "final")[-1].text == "I need the amount as a number."
    assert [bool(t) for t in model.tools_per_call] == [True, True, False]
    assert model.remaining == 0


async def test_an_unusable_answer_falls_back_to_the_best_passage(
    app: App, model: ScriptedChatModel
) -> None:
    model.enqueue('<tool_call>{"name": "search_process_docs", "arguments": {"query": "x"')
    events = await collect(
        app.service.handle(inbound("What is the hotel limit per night in a capital city?"))
    )
    final = of_kind(events, "final")[0]
    assert final.text.startswith("From the process documents") and "[1]" in final.text
    assert "<tool_call>" not in final.text and final.citations
    # Nothing of the markup was streamed either (the terminal and Slack show deltas as they come).
    assert not of_kind(events, "text_delta")


def test_streamed_text_never_shows_tool_call_markup() -> None:
    raw = 'Sure. <tool_call>{"name": "x"}</tool_call> The cap is 150 EUR <b>per</b> night.'
    for size in (1, 3, 4, 7, len(raw)):
        stream = VisibleStream()
        shown = "".join(stream.feed(raw[i : i + size]) for i in range(0, len(raw), size))
        assert shown == "Sure.  The cap is 150 EUR <b>per</b> night."
    unclosed = VisibleStream()
    assert unclosed.feed("Answer: <tool") == "Answer: "
    assert unclosed.feed('_call>{"name": "search_process_docs"') == ""
    assert unclosed.feed(" and more") == ""


@pytest.mark.parametrize("company", ["acme", "harbourline"])
async def test_a_refused_request_with_no_answer_tells_the_person_what_was_wrong(
    company: str, tmp_path: Path
) -> None:
    """The model sent values the form refused and wrote nothing: the person reads what the
    form's checks found, in words for people (never the text meant for the model)."""
    workspace = shutil.copytree(DEFAULT_WORKSPACE.parent / company, tmp_path / company)
    form = sorted(load_forms(workspace).values(), key=lambda f: f.name)[0]
    settings = Settings(_env_file=None, workspace=workspace, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    model = ScriptedChatModel()
    refused = tool_call("submit_form", form=form.name, values={"no_such_field": "x"})
    model.enqueue(refused, refused, " ")  # a blank reply: nothing usable
    app = build_app(settings, chat_model=model)
    try:
        events = await collect(app.service.handle(inbound("please file this for me")))
    finally:
        app.service.close()
    assert not of_kind(events, "approval_request")
    text = of_kind(events, "final")[-1].text
    assert text.startswith("I could not turn that into a request: ")
    assert f"'no_such_field' is not a field of the {form.title} form" in text
    required = [f.label for f in form.fields if f.required and f.default is None]
    assert required and all(f"{label} is required" in text for label in required)
    assert "Invalid arguments" not in text and "submit_form" not in text
    assert "`/forms` lists the forms" in text  # this surface's command (Slack's is /rpa forms)
