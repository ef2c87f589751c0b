"""Slack's agent features for one thread: the loading status and the agent session.

While a turn works, the thread shows what is happening (``assistant.threads.setStatus`` with
loading messages such as "searching the process documents…" or "waiting for your manager's
approval"), cleared when the answer lands; the first request of an assistant (DM) thread
becomes its title. The thread's agent session
(``agents.sessions.setStatus``) is ``processing`` while the bot works (Slack shows a stop
button then; its title is the thread's first request), ``suspended`` while an approval is
pending, and ``active`` once the answer is there.

None of this may cost a person their answer: a refused call is logged once per feature and
error, and a refusal that holds for the whole workspace (the app is not declared an agent, a
scope is missing, an older workspace) turns that feature off for this process.
``Capabilities`` keeps that state, shared by every thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger("bot.slack")

Feature = Literal["native", "status", "sessions", "title", "prompts"]
FEATURES: tuple[Feature, ...] = ("native", "status", "sessions", "title", "prompts")
# Errors that say the workspace or the app refuses a feature altogether (not this one call).
WORKSPACE_REFUSALS = {
    "not_allowed_token_type", "missing_scope", "unknown_method", "method_deprecated",
    "feature_not_enabled", "team_not_enabled", "invalid_auth", "not_authed",
}  # fmt: skip
FALLBACK = {
    "native": "messages updated as the answer comes", "status": "no status line",
    "sessions": "no session", "title": "no thread title", "prompts": "no suggested prompts",
}  # fmt: skip
WORKING = "is working…"  # the status line; the loading messages say what exactly


class Capabilities:
    """Which agent features this process still uses, and which refusals were logged."""

    def __init__(self, enabled: bool = True) -> None:
        self.on: dict[Feature, bool] = dict.fromkeys(FEATURES, enabled)
        self._logged: set[tuple[Feature, str]] = set()
        self._lock = threading.Lock()

    def refused(self, feature: Feature, exc: SlackApiError) -> None:
        """Note a refusal: logged once per feature and error; a workspace-wide one turns the
        feature off."""
        error = str(exc.response.get("error") or "unknown")
        with self._lock:
            first = (feature, error) not in self._logged
            self._logged.add((feature, error))
            if error in WORKSPACE_REFUSALS:
                self.on[feature] = False
        if first:
            where = "from now on" if error in WORKSPACE_REFUSALS else "where it refuses it"
            log.warning("Slack refused %s (%s): %s %s", feature, error, FALLBACK[feature], where)


class ThreadStatus:
    """The status line and the agent session of one thread (every call best effort)."""

    def __init__(
        self, client: WebClient, caps: Capabilities, channel: str, thread: str, user: str
    ) -> None:
        self.client, self.caps = client, caps
        self.channel, self.thread, self.user = channel, thread, user

    async def working(self, request: str, first: bool = False) -> None:
        """The bot starts on ``request`` (``first``: the thread's first one, which names it)."""
        await self.session("processing", title=request[:200] or None)
        if first and self.channel.startswith("D") and request:  # an assistant (DM) thread
            await self._call(
                "title",
                self.client.assistant_threads_setTitle,
                channel_id=self.channel,
                thread_ts=self.thread,
                title=request[:200],
            )
        await self.show("thinking about your request…")

    async def show(self, loading: str) -> None:
        """Say what is happening now (empty: clear the status)."""
        await self._call(
            "status",
            self.client.assistant_threads_setStatus,
            channel_id=self.channel,
            thread_ts=self.thread,
            status=WORKING if loading else "",
            loading_messages=[loading[:100]] if loading else None,
        )

    async def session(self, status: str, title: str | None = None) -> None:
        await self._call(
            "sessions",
            self.client.agents_sessions_setStatus,
            channel_id=self.channel,
            thread_ts=self.thread,
            status=status,
            title=title,
            initiator_user_id=self.user if title else None,
        )

    async def done(self, waiting: bool = False) -> None:
        """The answer is there: clear the status; the session waits for an approval or for
        the person (``suspended`` or ``active``, never left ``processing``)."""
        await self.show("")
        await self.session("suspended" if waiting else "active")

    async def idle(self) -> None:
        """Nothing runs in the thread any more (a stop with no answer being written)."""
        await self.session("active")

    async def _call(self, feature: Feature, method: Callable[..., Any], **kwargs: Any) -> None:
        if not self.caps.on[feature]:
            return
        try:
            await asyncio.to_thread(method, **kwargs)
        except SlackApiError as exc:
            self.caps.refused(feature, exc)
        except (SlackClientError, OSError) as exc:  # Slack unreachable: the answer still goes on
            log.warning("could not reach Slack for the %s (%s)", feature, type(exc).__name__)


def waiting_text(role: str | None, approvers: tuple[str, ...]) -> str:
    """The loading message while an approval is pending."""
    if role:
        return f"waiting for your {role.replace('_', ' ')}'s approval"
    if approvers:
        return "waiting for an approval"
    return "waiting for your approval"
