"""The /rpa command: help in the acknowledgement, routing to the service, privacy of replies."""

from __future__ import annotations

import json

from bot.events import ApprovalRequest, Citation, Final
from tests.slack.conftest import Rig


def _approval(action_id: str = "PA-1", approvers: tuple[str, ...] = ("U200",)) -> ApprovalRequest:
    return ApprovalRequest(
        action_id=action_id,
        tool="run_process",
        summary="Start the vendor onboarding process for Globex GmbH.",
        arguments={"process": "vendor_onboarding", "legal_name": "Globex GmbH"},
        requester="U100",
        expires_at="2026-12-01T10:00:00Z",
        approvers=approvers,
    )


def test_help_comes_in_the_acknowledgement_itself(rig: Rig) -> None:
    status, body = rig.command("help")
    assert status == 200
    reply = json.loads(body)
    assert reply["response_type"] == "ephemeral"
    assert "/rpa docs QUERY" in reply["text"]
    rig.drain()
    assert rig.service.calls == []


def test_an_unknown_subcommand_gets_help(rig: Rig) -> None:
    _, body = rig.command("frobnicate now")
    reply = json.loads(body)
    assert "I don't know `/rpa frobnicate`" in reply["text"]
    assert "/rpa forms" in reply["text"]


def test_a_missing_argument_gets_the_usage(rig: Rig) -> None:
    _, body = rig.command("docs")
    assert "Usage: `/rpa docs QUERY`" in json.loads(body)["text"]


def test_docs_answers_privately_with_citations(rig: Rig) -> None:
    cite = Citation("Expense policy", "docs/expenses.md", "Receipts")
    rig.service.script["command"] = [
        Final("Receipts are required above 25 EUR.", citations=(cite,))
    ]
    status, body = rig.command("docs receipts", trigger="T-docs")
    assert status == 200 and body == ""
    sent = rig.api.wait_for("response_url")[0]
    assert sent.payload["response_type"] == "ephemeral"
    assert "25 EUR" in sent.payload["text"]
    assert any(
        b["type"] == "context" and "Expense policy" in json.dumps(b) for b in sent.payload["blocks"]
    )
    call = rig.service.calls_to("command")[0]
    assert call.args[1:] == ("docs", "receipts")
    assert (call.args[0].user, call.args[0].channel) == ("U100", "C100")


def test_forms_status_and_approvals_route_to_the_service(rig: Rig) -> None:
    rig.command("forms", trigger="T-a")
    rig.command("status EXP-01001", trigger="T-b")
    rig.command("approvals", trigger="T-c")
    rig.api.wait_for("response_url", count=3)
    names = sorted((c.args[1], c.args[2]) for c in rig.service.calls_to("command"))
    assert names == [("approvals", ""), ("forms", ""), ("status", "EXP-01001")]


def test_run_answers_in_the_channel_and_posts_the_approval_card(rig: Rig) -> None:
    rig.service.script["command"] = [_approval(), Final("Vendor onboarding waits for approval.")]
    rig.command('run vendor_onboarding {"legal_name": "Globex GmbH"}', trigger="T-run")
    sent = rig.api.wait_for("response_url")[0]
    assert sent.payload["response_type"] == "in_channel"
    card = rig.api.wait_for("chat.postMessage")[0]
    assert card.payload["channel"] == "C100"
    assert [e["action_id"] for e in card.payload["blocks"][-1]["elements"]] == [
        "rpa_approve",
        "rpa_edit",
        "rpa_reject",
    ]


def test_approvals_waiting_for_me_come_as_cards_in_my_direct_messages(rig: Rig) -> None:
    rig.service.script["command"] = [_approval("PA-9"), Final("1 request waits for you.")]
    rig.command("approvals", user="U200", trigger="T-ap")
    card = rig.api.wait_for("chat.postMessage")[0]
    assert card.payload["channel"] == "U200"


def test_an_approval_card_goes_to_direct_messages_when_the_bot_is_not_in_the_channel(
    rig: Rig,
) -> None:
    rig.api.reply(
        "chat.postMessage",
        lambda p: (
            {"ok": False, "error": "not_in_channel"}
            if p["channel"] == "C100"
            else {"ok": True, "channel": "D1", "ts": "5.5"}
        ),
    )
    rig.service.script["command"] = [_approval("PA-2"), Final("Waiting for approval.")]
    rig.command('run vendor_onboarding {"legal_name": "Globex GmbH"}', trigger="T-dm")
    posts = rig.api.wait_for("chat.postMessage", count=2)
    assert [p.payload["channel"] for p in posts] == ["C100", "U100"]


def test_a_replayed_command_runs_once(rig: Rig) -> None:
    rig.command("forms", trigger="T-same")
    rig.command("forms", trigger="T-same")
    rig.drain()
    assert len(rig.service.calls_to("command")) == 1


def test_ask_posts_the_question_and_streams_the_answer_in_its_thread(rig: Rig) -> None:
    rig.command("ask how do I onboard a vendor?", trigger="T-ask")
    rig.api.wait_for("chat.update")
    question, placeholder = rig.api.calls_to("chat.postMessage")[:2]
    assert question.payload["channel"] == "C100"
    assert "how do I onboard a vendor?" in question.payload["text"]
    assert "thread_ts" not in question.payload
    inbound = rig.service.calls_to("handle")[0].args[0]
    assert inbound.text == "how do I onboard a vendor?"
    assert placeholder.payload["thread_ts"] == inbound.thread


def test_ask_answers_privately_where_the_bot_is_not_a_member(rig: Rig) -> None:
    rig.api.fail("chat.postMessage", "not_in_channel")
    rig.command("ask what is the meal cap?", trigger="T-ask2")
    sent = rig.api.wait_for("response_url")[0]
    assert sent.payload["response_type"] == "ephemeral"
    assert sent.payload["text"] == "You said: what is the meal cap?"


def test_run_opens_the_process_form_whose_submission_starts_the_run(rig: Rig) -> None:
    rig.command("run expense_reimbursement", trigger="T-proc")
    opened = rig.api.wait_for("views.open")[0]
    meta = json.loads(opened.payload["view"]["private_metadata"])
    assert meta["form"] == "process:expense_reimbursement"
    blocks = {b["block_id"] for b in opened.payload["view"]["blocks"] if b["type"] == "input"}
    assert {"expense_date", "amount", "category"} <= blocks
    assert rig.service.calls_to("command") == []


def test_form_opens_a_modal_built_from_the_definition(rig: Rig) -> None:
    rig.command("form expense_claim", trigger="T-form")
    opened = rig.api.wait_for("views.open")[0]
    assert opened.payload["trigger_id"] == "T-form"
    view = opened.payload["view"]
    inputs = {b["block_id"]: b["element"]["type"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["expense_date"] == "datepicker"
    assert inputs["category"] == "static_select"
    assert inputs["amount"] == "number_input"
    assert inputs["receipt_attached"] == "checkboxes"
    meta = json.loads(view["private_metadata"])
    assert meta["form"] == "expense_claim" and meta["channel"] == "C100"


def test_an_unknown_form_is_named_in_the_reply(rig: Rig) -> None:
    rig.command("form no_such_form", trigger="T-nf")
    sent = rig.api.wait_for("response_url")[0]
    assert "'no_such_form'" in sent.payload["text"]
    assert rig.api.calls_to("views.open") == []


def test_a_failing_command_names_an_error_id(rig: Rig) -> None:
    rig.service.raise_in.add("command")
    rig.command("status", trigger="T-err")
    sent = rig.api.wait_for("response_url")[0]
    assert "error id `E-" in sent.payload["text"]
