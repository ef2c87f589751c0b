"""The ``/rpa`` slash command: a small router over the conversation service.

``help`` (and anything unknown) is answered in the acknowledgement itself. ``form NAME`` opens
its modal at once (Slack's trigger id lives 3 seconds). ``ask`` posts the question in the
channel and streams the answer into its thread. The other subcommands run on the work queue
and answer through the command's ``response_url``: visible only to the caller, except ``run``,
whose result belongs in the channel. Approval cards are posted where approvers can act.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk.errors import SlackApiError

from bot.events import Inbound
from bot.slack import turns
from bot.slack.blocks import (
    HELP_TEXT,
    answer_blocks,
    citation_context,
    escape,
    help_blocks,
    split_text,
)
from bot.slack.forms import FormUnavailable, load_form
from bot.slack.replies import Outcome, failure_text, post_card, safe_collect
from bot.slack.surface import Surface
from bot.slack.views import form_modal
from memory.errors import ConfigError

SERVICE_COMMANDS = {"docs", "forms", "run", "status", "approvals"}
NEEDS_ARGUMENT = {"ask": "QUESTION", "docs": "QUERY", "form": "NAME", "run": "PROCESS"}
IN_CHANNEL = {"run"}


def register(app: App, surface: Surface) -> None:
    @app.command("/rpa")
    def on_rpa(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        route(surface, ack, command, respond)


def route(surface: Surface, ack: Ack, command: dict[str, Any], respond: Respond) -> None:
    """Dispatch one ``/rpa`` invocation."""
    name, _, argument = (command.get("text") or "").strip().partition(" ")
    name, argument = name.lower(), argument.strip()
    if name in ("", "help") or (name not in SERVICE_COMMANDS and name not in NEEDS_ARGUMENT):
        prefix = f"I don't know `/rpa {escape(name)}`.\n\n" if name not in ("", "help") else ""
        ack(text=prefix + HELP_TEXT, blocks=_with_prefix(prefix), response_type="ephemeral")
        return
    if name in NEEDS_ARGUMENT and not argument:
        ack(text=f"Usage: `/rpa {name} {NEEDS_ARGUMENT[name]}`", response_type="ephemeral")
        return
    if not surface.dedupe.claim(f"command:{command.get('trigger_id')}"):
        ack()  # a replayed delivery of a command already taken
        return
    ack()
    inbound = _inbound(command)
    if name == "form":
        _open_form(surface, command, argument, respond)
    elif name == "run" and " " not in argument and _open_process_form(surface, command, argument):
        pass  # the modal collects the inputs; its submission starts the run
    elif name == "ask":
        team = str(command.get("team_id") or "")
        surface.queue.submit(lambda: _ask(surface, inbound, argument, respond, team))
    else:
        surface.queue.submit(lambda: _service_command(surface, inbound, name, argument, respond))


def _with_prefix(prefix: str) -> list[dict[str, Any]]:
    blocks = help_blocks()
    if prefix:
        blocks.insert(0, answer_blocks(prefix.strip())[0])
    return blocks


def _inbound(command: dict[str, Any]) -> Inbound:
    return Inbound(
        user=command["user_id"],
        channel=command["channel_id"],
        thread="",
        text=(command.get("text") or "").strip(),
        surface="slack",
        event_id=f"command:{command.get('trigger_id')}",
    )


def _open_form(surface: Surface, command: dict[str, Any], name: str, respond: Respond) -> None:
    try:
        form = load_form(surface.settings, name)
    except FormUnavailable as exc:
        respond(text=f":warning: {escape(str(exc))}. Try `/rpa forms`.", response_type="ephemeral")
        return
    metadata = {"channel": command["channel_id"], "response_url": command.get("response_url")}
    surface.client.views_open(trigger_id=command["trigger_id"], view=form_modal(form, metadata))


def _open_process_form(surface: Surface, command: dict[str, Any], name: str) -> bool:
    """Open the form of process ``name``; False when it has none (the service answers then)."""
    from tools.process_defs import load_processes

    try:
        process = load_processes(surface.settings.workspace).get(name)
        form = load_form(surface.settings, process.form) if process and process.form else None
    except (FormUnavailable, ConfigError):
        return False
    if form is None:
        return False
    metadata = {
        "form": f"process:{name}",
        "channel": command["channel_id"],
        "response_url": command.get("response_url"),
    }
    surface.client.views_open(trigger_id=command["trigger_id"], view=form_modal(form, metadata))
    return True


async def _ask(
    surface: Surface, inbound: Inbound, question: str, respond: Respond, team: str = ""
) -> None:
    """Post the question in the channel and answer in its thread (privately if not a member)."""
    try:
        posted = await asyncio.to_thread(
            surface.client.chat_postMessage,
            channel=inbound.channel,
            text=f"<@{inbound.user}> asked: {escape(question)}"[:3000],
        )
    except SlackApiError as exc:
        if exc.response.get("error") not in ("not_in_channel", "channel_not_found"):
            raise
        private = dataclasses.replace(inbound, text=question)
        await _reply_privately(surface, respond, lambda: surface.service.handle(private))
        return
    thread = str(posted["ts"])
    turn = dataclasses.replace(inbound, thread=thread, text=question)
    turns.accept(surface, f"msg:{inbound.channel}:{thread}", None, turn, team=team)


async def _service_command(
    surface: Surface, inbound: Inbound, name: str, argument: str, respond: Respond
) -> None:
    public = name in IN_CHANNEL
    outcome = await _reply_privately(
        surface, respond, lambda: surface.service.command(inbound, name, argument), public=public
    )
    if outcome is None:
        return
    for request in outcome.approvals:
        await _post_card_where_seen(surface, inbound, request, private=name == "approvals")


async def _reply_privately(
    surface: Surface, respond: Respond, events: Callable[[], Any], public: bool = False
) -> Outcome | None:
    """Run a stream to its end and answer through the response_url; errors carry an id."""
    response_type = "in_channel" if public else "ephemeral"
    outcome = await safe_collect(events)
    if outcome.error is not None:
        text = failure_text(outcome.error.error_id, outcome.error.message)
        await asyncio.to_thread(respond, text=text, response_type="ephemeral")
        return None
    text = outcome.text or ("Sent for approval." if outcome.approvals else "Nothing to show.")
    await asyncio.to_thread(respond, **_result_message(text, outcome), response_type=response_type)
    return outcome


def _result_message(text: str, outcome: Outcome) -> dict[str, Any]:
    parts = split_text(escape(text))[:40]  # a response_url message holds up to 50 blocks
    blocks = [answer_blocks(p)[0] for p in parts]
    context = citation_context(outcome.citations)
    if context is not None:
        blocks.append(context.to_dict())
    return {"text": text[:3000], "blocks": blocks}


async def _post_card_where_seen(
    surface: Surface, inbound: Inbound, request: Any, private: bool
) -> None:
    """Cards go to the channel; to the caller's direct messages if private or not a member."""
    if not private:
        try:
            await post_card(surface, inbound.channel, None, request)
            return
        except SlackApiError as exc:
            if exc.response.get("error") not in ("not_in_channel", "channel_not_found"):
                raise
    await post_card(surface, inbound.user, None, request)
