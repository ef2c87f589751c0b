"""The feedback buttons under every answer: a press is stored with the answer it rates.

The answer was kept with its thread, its turn and the model (and adapter) that wrote it before
its buttons were shown (``bot/slack/replies.py``); a press adds the person's rating, their
latest press counting (``memory/slack_feedback.py``). ``rpa-agent feedback`` lists them and
``rpa-agent train data --from-feedback`` learns from the good ones.
"""

from __future__ import annotations

import asyncio
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import FEEDBACK, parse_feedback
from bot.slack.surface import Surface, log

THANKS = {
    "positive": "Thanks! Glad it helped.",
    "negative": "Thanks for saying so: this answer will be reviewed.",
}


def register(app: App, surface: Surface) -> None:
    @app.action(FEEDBACK)
    def on_feedback(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        press(surface, body, action)


def press(surface: Surface, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Queue the storing of one press (and a thank-you only the person sees)."""
    parsed = parse_feedback(str(action.get("value") or ""))
    user = str((body.get("user") or {}).get("id") or "")
    if parsed is None or not user:
        log.warning("a feedback press without a rating or a person: %r", action.get("value"))
        return
    rating, answer_id = parsed
    channel = str((body.get("channel") or {}).get("id") or user)
    surface.queue.submit(lambda: _store(surface, answer_id, user, rating, channel))


async def _store(surface: Surface, answer_id: str, user: str, rating: str, channel: str) -> None:
    known = await surface.queue.store(surface.answers.rate, answer_id, user, rating)
    if not known:
        log.warning("feedback on answer %s, which this state does not hold", answer_id)
        return
    log.info("feedback on answer %s: %s", answer_id, rating)
    try:
        await asyncio.to_thread(
            surface.client.chat_postEphemeral, channel=channel, user=user, text=THANKS[rating]
        )
    except SlackApiError:  # a thank-you is a courtesy; the rating is stored
        log.info("could not thank %s for their feedback", user)
