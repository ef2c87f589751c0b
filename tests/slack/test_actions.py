"""Approval cards: who may act, decided once, the card updated; the edit modal."""

from __future__ import annotations

import json

import pytest

from bot.events import ApprovalRequest, Citation, Error, Final
from bot.slack.views import edit_modal
from tests.fakes.slack_api import Call
from tests.slack.conftest import Rig, mention

REQUEST = ApprovalRequest(
    action_id="PA-42",
    tool="send_email",
    summary="Send the welcome email to anna@globex.example.",
    arguments={
        "to": "anna@globex.example",
        "template": "vendor_welcome",
        "cc": ["procurement@acme.example"],
    },
    requester="U100",
    expires_at="2026-12-01T10:00:00Z",
    approvers=("U200", "U201"),
    citations=(Citation("Vendor onboarding", "docs/vendor_onboarding.md", "Welcome email"),),
)


@pytest.fixture
def card(rig: Rig) -> Call:
    """An approval card shown in a thread, as a conversation produces it."""
    rig.service.script["handle"] = [REQUEST, Final("I need an approval to send it.")]
    rig.event(mention("onboard Globex", ts="50.0"))
    rig.api.wait_for("chat.update")  # the turn has ended: the card is shown and remembered
    return rig.api.calls_to("chat.postMessage")[1]


def test_the_card_shows_what_how_why_and_the_buttons(card: Call) -> None:
    assert card.payload["thread_ts"] == "50.0"
    text = json.dumps(card.payload["blocks"], ensure_ascii=False)
    assert "Send the welcome email to anna@globex.example." in text
    assert "vendor_welcome" in text and "procurement@acme.example" in text  # the exact arguments
    assert "Vendor onboarding › Welcome email" in text  # the documents that justified it
    buttons = card.payload["blocks"][-1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("rpa_approve", "PA-42"),
        ("rpa_edit", "PA-42"),
        ("rpa_reject", "PA-42"),
    ]


def test_an_approver_approves_and_the_card_shows_who_and_the_result(rig: Rig, card: Call) -> None:
    rig.service.script["decide"] = [Final("Email sent (message id 17).")]
    rig.click("rpa_approve", "PA-42", user="U200", ts="1700000000.000002")
    update = rig.api.wait_for(
        "chat.update", where=lambda c: c.payload["ts"] == "1700000000.000002"
    )[0]
    assert rig.service.calls_to("decide")[0].args == ("PA-42", "U200", "approve", None)
    text = json.dumps(update.payload["blocks"])
    assert "Approved by <@U200>" in text and "Email sent (message id 17)." in text
    assert all(b["type"] != "actions" for b in update.payload["blocks"])  # no more buttons


def test_a_double_click_decides_once(rig: Rig, card: Call) -> None:
    rig.click("rpa_approve", "PA-42", user="U200")
    rig.click("rpa_approve", "PA-42", user="U200")
    rig.click("rpa_reject", "PA-42", user="U201")
    rig.drain()
    assert len(rig.service.calls_to("decide")) == 1
    assert (
        len([c for c in rig.api.calls_to("chat.update") if "Approved by" in json.dumps(c.payload)])
        == 1
    )


def test_someone_not_among_the_approvers_is_refused_privately(rig: Rig, card: Call) -> None:
    rig.click("rpa_approve", "PA-42", user="U999")
    refusal = rig.api.wait_for("chat.postEphemeral")[0]
    assert refusal.payload["user"] == "U999"
    assert "not one of the approvers" in refusal.payload["text"]
    rig.drain()
    assert rig.service.calls_to("decide") == []


def test_a_refusal_by_the_service_keeps_the_card_open(rig: Rig, card: Call) -> None:
    rig.service.script["decide"] = [Error("This request expired.", "E-exp001")]
    rig.click("rpa_approve", "PA-42", user="U200")
    note = rig.api.wait_for("chat.postEphemeral")[0]
    assert "E-exp001" in note.payload["text"]
    rig.service.script["decide"] = [Final("Sent.")]
    rig.click("rpa_approve", "PA-42", user="U201")  # the card is open again for a real decision
    rig.api.wait_for("chat.update", where=lambda c: "Approved by <@U201>" in json.dumps(c.payload))
    assert len(rig.service.calls_to("decide")) == 2


def test_reject(rig: Rig, card: Call) -> None:
    rig.service.script["decide"] = [Final("Rejected; nothing was sent.")]
    rig.click("rpa_reject", "PA-42", user="U201")
    update = rig.api.wait_for(
        "chat.update", where=lambda c: "Rejected by" in json.dumps(c.payload)
    )[0]
    assert rig.service.calls_to("decide")[0].args[2] == "reject"
    assert "nothing was sent" in json.dumps(update.payload["blocks"])


def test_edit_opens_a_modal_prefilled_with_the_arguments(rig: Rig, card: Call) -> None:
    rig.click("rpa_edit", "PA-42", user="U200")
    view = rig.api.wait_for("views.open")[0].payload["view"]
    prefilled = {b["block_id"]: b["element"]["initial_value"] for b in view["blocks"]}
    assert prefilled == {
        "arg:to": "anna@globex.example",
        "arg:template": "vendor_welcome",
        "arg:cc": '["procurement@acme.example"]',
    }


def _edited(rig: Rig, values: dict[str, str], user: str = "U200") -> tuple[int, str]:
    view = edit_modal("PA-42", dict(REQUEST.arguments), {"channel": "C100"})
    view["state"] = {
        "values": {
            k: {"value": {"type": "plain_text_input", "value": v}} for k, v in values.items()
        }
    }
    return rig.interact({"type": "view_submission", "user": {"id": user}, "view": view})


def test_edited_arguments_are_approved(rig: Rig, card: Call) -> None:
    status, _ = _edited(
        rig, {"arg:to": "anna.b@globex.example", "arg:template": "vendor_welcome", "arg:cc": "[]"}
    )
    assert status == 200
    call = rig.service.wait_calls("decide")[0]
    assert call.args == (
        "PA-42",
        "U200",
        "approve",
        {"to": "anna.b@globex.example", "template": "vendor_welcome", "cc": []},
    )


def test_an_edit_that_is_not_valid_json_is_shown_on_the_field(rig: Rig, card: Call) -> None:
    _, body = _edited(rig, {"arg:to": "x@acme.example", "arg:template": "t", "arg:cc": "[oops"})
    reply = json.loads(body)
    assert reply["response_action"] == "errors"
    assert "arg:cc" in reply["errors"]
    rig.drain()
    assert rig.service.calls_to("decide") == []
