"""Form modals: values read per field type, validation errors shown on the modal's fields."""

from __future__ import annotations

import json
from typing import Any

from bot.events import ApprovalRequest, Final
from bot.slack.forms import load_form
from bot.slack.views import form_modal
from tests.slack.conftest import Rig


def _submission(rig: Rig, state: dict[str, Any], view_id: str = "V1") -> tuple[int, str]:
    form = load_form(rig.settings, "expense_claim")
    view = form_modal(form, {"channel": "C100", "response_url": f"{rig.api.url}/response/form"})
    view.update(id=view_id, state={"values": state})
    return rig.interact({"type": "view_submission", "user": {"id": "U100"}, "view": view})


STATE = {
    "expense_date": {"value": {"type": "datepicker", "selected_date": "2026-03-14"}},
    "category": {"value": {"type": "static_select", "selected_option": {"value": "meals"}}},
    "amount": {"value": {"type": "number_input", "value": "42.5"}},
    "description": {"value": {"type": "plain_text_input", "value": "Team lunch"}},
    "project_code": {"value": {"type": "plain_text_input", "value": None}},
    "receipt_attached": {"value": {"type": "checkboxes", "selected_options": [{"value": "yes"}]}},
}


def test_values_reach_the_service_as_plain_values(rig: Rig) -> None:
    status, body = _submission(rig, STATE)
    assert status == 200 and body == ""
    call = rig.service.wait_calls("submit_form")[0]
    inbound, form, values = call.args
    assert form == "expense_claim"
    assert values == {
        "expense_date": "2026-03-14",
        "category": "meals",
        "amount": 42.5,
        "description": "Team lunch",
        "receipt_attached": True,
    }
    assert (inbound.user, inbound.channel) == ("U100", "C100")
    sent = rig.api.wait_for("response_url")[0]
    assert sent.payload == {"text": "Form expense_claim submitted.", "response_type": "ephemeral"}


def test_validation_errors_are_shown_on_the_fields(rig: Rig) -> None:
    errors = {
        "amount": "must be at most 100000",
        "expense_date": "is more than 30 days ago",
        "other": "bad",
    }
    rig.service.script["submit_form"] = [Final("Please correct the form.", data={"errors": errors})]
    status, body = _submission(rig, STATE)
    assert status == 200
    reply = json.loads(body)
    assert reply["response_action"] == "errors"
    assert reply["errors"]["amount"] == "must be at most 100000"
    assert reply["errors"]["expense_date"].startswith("is more than 30 days ago")
    assert "other: bad" in reply["errors"]["expense_date"]  # no such field: shown on the first one
    rig.drain()
    assert rig.api.calls_to("response_url") == []


def test_a_submission_that_needs_approval_posts_the_card(rig: Rig) -> None:
    request = ApprovalRequest(
        action_id="PA-form",
        tool="submit_form",
        summary="File expense claim of 620.00 EUR for U100.",
        arguments={"form": "expense_claim", "amount": 620.0},
        requester="U100",
        expires_at="2026-12-01T10:00:00Z",
        role="manager",
    )
    rig.service.script["submit_form"] = [request, Final("Sent to your manager for approval.")]
    _submission(rig, STATE)
    card = rig.api.wait_for("chat.postMessage")[0]
    assert card.payload["channel"] == "C100"
    assert "620.00 EUR" in card.payload["text"]
    assert (
        rig.api.wait_for("response_url")[0].payload["text"] == "Sent to your manager for approval."
    )


def test_a_failing_submission_still_closes_the_modal_with_an_error_id(rig: Rig) -> None:
    rig.service.raise_in.add("submit_form")
    status, body = _submission(rig, STATE)
    assert status == 200 and body == ""
    assert "error id `E-" in rig.api.wait_for("response_url")[0].payload["text"]


def test_every_demo_form_builds_a_valid_modal(rig: Rig) -> None:
    from slack_sdk.models.views import View

    from tools.forms import load_forms

    for form in load_forms(rig.settings.workspace).values():
        view = form_modal(form, {"channel": "C1"})
        View(**view).to_dict()  # validates sizes and required fields
        assert {b["block_id"] for b in view["blocks"] if b["type"] == "input"} == {
            f.name for f in form.fields
        }
