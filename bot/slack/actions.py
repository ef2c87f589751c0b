"""Buttons and the edit modal: approve / edit / reject an approval card, add a shared file.

The service's ``decide`` is the authority on who may decide; the surface also refuses people
not named in the card's ``approvers`` (ephemerally) before asking it. A decision is claimed on
the card in one SQLite transaction before the service is called, so a double click or a
replayed action does nothing twice; a decision the service refuses reopens the card. The card
is then updated to show who decided and what came of it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot.slack import files
from bot.slack.blocks import (
    APPROVE,
    EDIT,
    FILE_ADD,
    FILE_SKIP,
    REJECT,
    approval_from_dict,
    decided_card,
    escape,
    note_blocks,
)
from bot.slack.replies import failure_text, safe_collect
from bot.slack.surface import Surface, log
from bot.slack.views import EDIT_CALLBACK, edit_modal, read_edited_arguments
from memory.errors import new_error_id
from memory.slack_state import DecisionCard

Decision = Literal["approve", "reject"]


def register(app: App, surface: Surface) -> None:
    @app.action(APPROVE)
    def on_approve(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        decide(surface, *_who_where(body), action["value"], "approve")

    @app.action(REJECT)
    def on_reject(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        decide(surface, *_who_where(body), action["value"], "reject")

    @app.action(EDIT)
    def on_edit(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        open_editor(surface, body, action["value"])

    @app.view(EDIT_CALLBACK)
    def on_edited(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        arguments, errors = read_edited_arguments(view)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        meta = _metadata(view)
        user = body["user"]["id"]
        decide(surface, user, meta.get("channel") or user, meta["action_id"], "approve", arguments)

    @app.action(FILE_ADD)
    def on_file_add(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        add_file(surface, body, action["value"])

    @app.action(FILE_SKIP)
    def on_file_skip(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        skip_file(surface, body, action["value"])


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(view.get("private_metadata") or "{}"))


def _who_where(body: dict[str, Any]) -> tuple[str, str]:
    """The acting user and the channel to answer them in."""
    user = body["user"]["id"]
    return user, (body.get("channel") or {}).get("id") or user


def _refuse(surface: Surface, channel: str, user: str, text: str) -> None:
    """A note only ``user`` sees."""
    try:
        surface.client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError:  # an ephemeral note cannot go to a closed DM; the log keeps it
        log.info("could not show %s a note: %s", user, text)


def _permitted(card: DecisionCard, user: str) -> bool:
    approvers = card.request.get("approvers") or []
    return not approvers or user in approvers


def _checked_card(surface: Surface, user: str, action_id: str, channel: str) -> DecisionCard | None:
    card = surface.cards.get(action_id)
    if card is None:
        _refuse(surface, channel, user, "I don't know this request any more.")
        return None
    if not _permitted(card, user):
        _refuse(surface, channel, user, "You are not one of the approvers of this request.")
        return None
    return card


def decide(
    surface: Surface,
    user: str,
    channel: str,
    action_id: str,
    decision: Decision,
    arguments: dict[str, Any] | None = None,
) -> None:
    """Check, claim and queue one decision on a card (``channel``: where to answer ``user``)."""
    card = _checked_card(surface, user, action_id, channel)
    if card is None:
        return
    if not surface.cards.claim(action_id, user, decision):
        log.info("decision on %s already taken; ignoring a repeat by %s", action_id, user)
        return
    surface.queue.submit(lambda: _run_decision(surface, card, user, decision, arguments))


async def _run_decision(
    surface: Surface,
    card: DecisionCard,
    user: str,
    decision: Decision,
    arguments: dict[str, Any] | None,
) -> None:
    outcome = await safe_collect(
        lambda: surface.service.decide(card.action_id, user, decision, arguments)
    )
    if outcome.error is not None:
        surface.cards.release(card.action_id)  # the decision did not happen: the card stays open
        text = failure_text(outcome.error.error_id, outcome.error.message)
        await asyncio.to_thread(_refuse, surface, card.channel, user, text)
        return
    result = outcome.text or ("Done." if decision == "approve" else "")
    surface.cards.finish(card.action_id, result)
    request = approval_from_dict(card.request)
    blocks = decided_card(request, user, decision, result)
    verb = "approved" if decision == "approve" else "rejected"
    try:
        await asyncio.to_thread(
            surface.client.chat_update,
            channel=card.channel,
            ts=card.ts,
            text=f"{request.summary} — {verb} by <@{user}>"[:3000],
            blocks=blocks,
        )
    except SlackApiError:
        error_id = new_error_id()
        log.exception("card %s could not be updated [%s]", card.action_id, error_id)
        await asyncio.to_thread(
            _refuse,
            surface,
            card.channel,
            user,
            f"The request was {verb}; the card could not be updated (error id `{error_id}`).",
        )


def open_editor(surface: Surface, body: dict[str, Any], action_id: str) -> None:
    """Open the edit modal, prefilled with the card's exact arguments."""
    user, channel = _who_where(body)
    card = _checked_card(surface, user, action_id, channel)
    if card is None:
        return
    if card.decided_by:
        _refuse(
            surface, channel, user, f"This request was already decided by <@{card.decided_by}>."
        )
        return
    view = edit_modal(action_id, dict(card.request.get("arguments") or {}), {"channel": channel})
    surface.client.views_open(trigger_id=body["trigger_id"], view=view)


def _message_place(body: dict[str, Any]) -> tuple[str, str]:
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    return str(channel), str(ts)


def add_file(surface: Surface, body: dict[str, Any], file_id: str) -> None:
    """A person agreed to add a shared file: check, claim once, ingest on the queue."""
    user = body["user"]["id"]
    channel, ts = _message_place(body)
    if not files.may_add_documents(surface, user):
        _refuse(surface, channel, user, "You may not add documents to the knowledge base.")
        return
    if not surface.dedupe.claim(f"file:{file_id}"):
        return
    surface.queue.submit(lambda: _ingest(surface, channel, ts, file_id, user))


async def _ingest(surface: Surface, channel: str, ts: str, file_id: str, user: str) -> None:
    try:
        note = await asyncio.to_thread(files.ingest, surface, file_id, user)
        text = f":white_check_mark: <@{user}> added this file to the knowledge base. {escape(note)}"
    except files.FileRefused as exc:
        surface.dedupe.release(f"file:{file_id}")
        text = f":warning: Not added: {escape(str(exc))}."
    except Exception:  # the surface's catch-all for ingestion: log under an id, tell the thread
        surface.dedupe.release(f"file:{file_id}")
        error_id = new_error_id()
        log.exception("adding file %s failed [%s]", file_id, error_id)
        text = failure_text(error_id, "The file could not be added.")
    await asyncio.to_thread(
        surface.client.chat_update, channel=channel, ts=ts, text=text, blocks=note_blocks(text)
    )


def skip_file(surface: Surface, body: dict[str, Any], file_id: str) -> None:
    channel, ts = _message_place(body)
    if not surface.dedupe.claim(f"file:{file_id}"):
        return
    text = f"Not added to the knowledge base (<@{body['user']['id']}> said no thanks)."
    surface.client.chat_update(channel=channel, ts=ts, text=text, blocks=note_blocks(text))
