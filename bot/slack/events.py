"""Messages to the bot: mentions in channels, direct messages, follow-ups in joined threads.

A listener only decides whether a message is for the bot and what it is owed (an answer, the
help for a mention with nothing in it, one offer for shared files), claims it durably (the
event id and the message's ``channel:ts``, so Slack's retries and the ``message`` +
``app_mention`` double delivery of one mention yield one reply, also after a restart) and
queues it (``bot/slack/turns.py``); Slack's delivery is acknowledged once it returns. Only what
a person wrote counts: edits, joins, bot posts and thread broadcasts (the channel copy of a
thread reply, already delivered as that reply) are ignored. The reply always goes in the
message's thread, and each thread is one conversation.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import App, BoltContext

from bot.events import Inbound
from bot.slack import files, turns
from bot.slack.surface import Surface

# Message subtypes a person produces; everything else (edits, joins, bot posts, broadcasts of
# thread replies) is ignored.
_PERSON_SUBTYPES = {None, "file_share"}


def register(app: App, surface: Surface) -> None:
    """Attach the message listeners to ``app``."""

    @app.event("app_mention")
    def on_mention(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        on_message_event(surface, body, event, context.bot_user_id, mentioned=True)

    @app.event("message")
    def on_message(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        on_message_event(surface, body, event, context.bot_user_id, mentioned=False)


def on_message_event(
    surface: Surface,
    body: dict[str, Any],
    event: dict[str, Any],
    bot_user: str | None,
    mentioned: bool,
) -> None:
    """Handle one delivered message event: filter, claim what it is owed, queue."""
    if not _from_a_person(event, bot_user):
        return
    channel, ts = event.get("channel", ""), event.get("ts", "")
    thread = event.get("thread_ts") or ts
    text = event.get("text") or ""
    mentioned = mentioned or bool(bot_user and f"<@{bot_user}>" in text)
    direct = event.get("channel_type") == "im"
    follow_up = event.get("thread_ts") is not None and (
        surface.threads.contains(channel, thread) or turns.joining(channel, thread)
    )
    if not (mentioned or direct or follow_up):
        return
    question = _strip_mention(text, bot_user)
    shared = files.shared(event)
    kind: turns.Kind = "turn" if question else "help"
    if shared and (surface.add_document is not None or not question):
        kind = "files"
    inbound = Inbound(
        user=event["user"],
        channel=channel,
        thread=thread,
        text=question,
        surface="slack",
        event_id=body.get("event_id"),
    )
    team = str(body.get("team_id") or event.get("team") or "")
    key = f"msg:{channel}:{ts}"
    turns.accept(surface, key, body.get("event_id"), inbound, kind, shared, team)


def _from_a_person(event: dict[str, Any], bot_user: str | None) -> bool:
    if event.get("bot_id") or event.get("subtype") not in _PERSON_SUBTYPES:
        return False
    user = event.get("user")
    return bool(user) and user != bot_user


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(\|[^>]*)?>")


def _strip_mention(text: str, bot_user: str | None) -> str:
    """The message without the bot's own mention (other people's mentions stay)."""
    if not bot_user:
        return text.strip()
    return _MENTION.sub(lambda m: "" if m.group(1) == bot_user else m.group(0), text).strip()
