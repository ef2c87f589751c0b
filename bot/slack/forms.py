"""Forms in Slack: find a form's definition, and take its modal's submission.

The submission is handed to ``service.submit_form``; the listener waits (briefly, inside
Slack's 3 seconds) for the service's verdict so that validation errors can be shown on the
fields of the still-open modal (``response_action: errors``). A verdict that takes longer
closes the modal and arrives as a message instead. Results go to the person privately
(the command's ``response_url``, else a direct message); approval cards go to the channel.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.config import Settings
from bot.events import Inbound
from bot.slack.blocks import escape
from bot.slack.replies import Outcome, failure_text, post_card, safe_collect
from bot.slack.surface import Surface, log
from bot.slack.views import FORM_CALLBACK, read_values
from memory.errors import ConfigError

VERDICT_WAIT = 2.0  # seconds the listener waits for validation; Slack allows 3 in all


class FormUnavailable(Exception):
    """No usable form by that name; the message says which, for the person who asked."""


def load_form(settings: Settings, name: str) -> Any:
    """The ``tools.forms.FormDefinition`` called ``name`` in the workspace."""
    from tools.forms import load_forms

    try:
        forms = load_forms(settings.workspace)
    except ConfigError as exc:
        log.error("the workspace's forms cannot be read: %s", exc)
        raise FormUnavailable("the forms cannot be read right now") from exc
    if name not in forms:
        raise FormUnavailable(f"there is no form {name!r}")
    return forms[name]


def register(app: App, surface: Surface) -> None:
    @app.view(FORM_CALLBACK)
    def on_form_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submit(surface, ack, body, view)


def submit(surface: Surface, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    """Hand the values to the service; show its field errors on the modal when it has any."""
    meta = json.loads(view.get("private_metadata") or "{}")
    user = body["user"]["id"]
    inbound = Inbound(
        user=user,
        channel=meta.get("channel") or user,
        thread="",
        text=f"form {meta.get('form')}",
        surface="slack",
        event_id=f"view:{view.get('id')}",
    )
    values = {k: v for k, v in read_values(view).items() if v is not None}
    future = surface.queue.submit(
        lambda: safe_collect(lambda: surface.service.submit_form(inbound, meta["form"], values))
    )
    try:
        outcome = future.result(timeout=VERDICT_WAIT)
    except concurrent.futures.TimeoutError:
        ack()  # the verdict will come as a message
        future.add_done_callback(
            lambda f: surface.queue.submit(lambda: deliver(surface, inbound, meta, f.result()))
        )
        return
    errors = outcome.data.get("errors") if isinstance(outcome.data, dict) else None
    if errors and isinstance(errors, dict):
        ack(response_action="errors", errors=_on_blocks(errors, view))
        return
    ack()
    surface.queue.submit(lambda: deliver(surface, inbound, meta, outcome))


def _on_blocks(errors: dict[str, Any], view: dict[str, Any]) -> dict[str, str]:
    """Errors keyed by the modal's block ids; an error about no field goes on the first input."""
    inputs = [b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"]
    shown: dict[str, str] = {}
    for name, message in errors.items():
        target = name if name in inputs else (inputs[0] if inputs else name)
        text = str(message) if target == name else f"{name}: {message}"
        shown[target] = f"{shown[target]}; {text}" if target in shown else text
    return {k: v[:150] for k, v in shown.items()}  # Slack shows short field errors


async def deliver(
    surface: Surface, inbound: Inbound, meta: dict[str, Any], outcome: Outcome
) -> None:
    """Tell the person what came of the submission; post its approval cards in the channel."""
    if outcome.error is not None:
        await _tell(
            surface, inbound, meta, failure_text(outcome.error.error_id, outcome.error.message)
        )
        return
    errors = outcome.data.get("errors")
    if isinstance(errors, dict) and errors:
        details = "; ".join(f"{k}: {v}" for k, v in errors.items())
        await _tell(
            surface, inbound, meta, f":warning: The form was not accepted: {escape(details)}"
        )
        return
    await _tell(surface, inbound, meta, escape(outcome.text or "Submitted."))
    for request in outcome.approvals:
        try:
            await post_card(surface, inbound.channel, None, request)
        except SlackApiError:  # not a member of that channel: the requester's DMs always work
            log.info("approval card for %s goes to a direct message", request.action_id)
            await post_card(surface, inbound.user, None, request)


async def _tell(surface: Surface, inbound: Inbound, meta: dict[str, Any], text: str) -> None:
    url = meta.get("response_url")
    if url:
        webhook = WebhookClient(url)
        await asyncio.to_thread(webhook.send, text=text, response_type="ephemeral")
        return
    await asyncio.to_thread(surface.client.chat_postMessage, channel=inbound.user, text=text)
