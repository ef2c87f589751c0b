"""The assistant surface: a person opens the bot's agent view (an assistant thread in a DM).

bolt's ``Assistant`` middleware takes the two events of the surface's life: on
``assistant_thread_started`` the thread gets a greeting and suggested prompts built from the
workspace (its processes and forms by title, and the two questions people ask most); on
``assistant_thread_context_changed`` (the person looks at another channel) the prompts are
set again. What people then write in the thread is an ordinary direct message
(``bot/slack/events.py``). ``agent_session_stopped`` (the stop button of a thread's agent
session) stops the answer being written there: the service ends its model request at the
scheduler's next step and nothing not yet proposed is proposed (``bot/service.py``).

Listeners only claim and queue; the Web API calls run on the work queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.middleware.assistant import Assistant
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.agent import ThreadStatus
from bot.slack.surface import Surface, log
from tools.forms import read_forms
from tools.process_defs import read_processes

GREETING = (
    "Hi! I can answer questions from the process documents, fill in forms and run processes "
    "for you; anything that changes something waits for an approval. What can I do for you?"
)
PROMPTS_TITLE = "Try one of these:"
MAX_PROMPTS = 4  # Slack shows four suggested prompts at most


def suggested_prompts(surface: Surface) -> list[dict[str, str]]:
    """Up to four prompts: a process, a form (by their titles), then the most asked questions."""
    workspace = surface.settings.workspace
    processes, _ = read_processes(workspace)
    forms, _ = read_forms(workspace)
    prompts = [
        {"title": f"Start: {p.title}"[:75], "message": f"I want to start {p.title.lower()}."}
        for p in list(processes.values())[:1]
    ]
    prompts += [
        {"title": f"Fill in: {f.title}"[:75], "message": f"Help me fill in the {f.title} form."}
        for f in list(forms.values())[:1]
    ]
    for question in surface.answers.frequent_questions(limit=2):
        prompts.append({"title": question[:75], "message": question[:1000]})
    if len(prompts) < 2:
        prompts.append({"title": "What can you do?", "message": "What can you help me with?"})
    return prompts[:MAX_PROMPTS]


def register(app: App, surface: Surface) -> None:
    """Attach the assistant middleware and the session-stopped listener to ``app``."""
    assistant = Assistant(app_name="rpa-agent")

    @assistant.thread_started
    def started(payload: dict[str, Any], say: Any, set_suggested_prompts: Any) -> None:
        thread = payload.get("assistant_thread") or {}
        key = f"greet:{thread.get('channel_id')}:{thread.get('thread_ts')}"
        if surface.dedupe.claim(key):  # Slack's retries greet once
            surface.queue.submit(lambda: _greet(surface, say, set_suggested_prompts))

    @assistant.thread_context_changed
    def context_changed(set_suggested_prompts: Any) -> None:
        surface.queue.submit(lambda: _set_prompts(surface, set_suggested_prompts))

    app.use(assistant)

    @app.event("agent_session_stopped")
    def on_stopped(event: dict[str, Any]) -> None:
        stop(surface, event)


async def _greet(
    surface: Surface, say: Callable[..., Any], set_prompts: Callable[..., Any]
) -> None:
    await asyncio.to_thread(say, text=GREETING)
    await _set_prompts(surface, set_prompts)


async def _set_prompts(surface: Surface, set_prompts: Callable[..., Any]) -> None:
    if not surface.caps.on["prompts"]:
        return
    prompts = await asyncio.to_thread(suggested_prompts, surface)
    try:
        await asyncio.to_thread(set_prompts, prompts=prompts, title=PROMPTS_TITLE)
    except SlackApiError as exc:
        surface.caps.refused("prompts", exc)
    except (SlackClientError, OSError) as exc:
        log.warning("could not set the suggested prompts (%s)", type(exc).__name__)


def stop(surface: Surface, event: dict[str, Any]) -> None:
    """The person pressed stop on the thread's session: end the answer being written."""
    channel, thread = str(event.get("channel") or ""), str(event.get("thread_ts") or "")
    if surface.service.stop(f"{channel}:{thread}"):
        log.info("stopping the answer in %s thread %s, as its person asked", channel, thread)
        return  # the turn says so in the thread and ends the session's processing
    log.info("a stop in %s thread %s found no answer being written", channel, thread)
    status = ThreadStatus(surface.client, surface.caps, channel, thread, str(event.get("user")))
    surface.queue.submit(status.idle)
