"""What every Slack listener shares: settings, the service, the Web API client, the work queue,
the durable stores (owed turns, de-duplication, joined threads, approval cards, answers and
their feedback) and which of Slack's agent features this workspace takes.

``create_app`` builds one ``Surface``; listeners receive it as an argument, never as a global.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from slack_sdk import WebClient

from bot.config import Settings
from bot.events import ConversationService
from bot.slack.agent import Capabilities
from bot.slack.worker import WorkQueue
from memory.dedupe import Dedupe
from memory.slack_feedback import Answers
from memory.slack_inbox import Inbox, Spool
from memory.slack_state import DecisionCards, JoinedThreads

AddDocument = Callable[[Path, str], str]
log = logging.getLogger("bot.slack")


@dataclass
class Surface:
    """The Slack surface's collaborators."""

    settings: Settings
    service: ConversationService
    client: WebClient
    queue: WorkQueue
    dedupe: Dedupe
    threads: JoinedThreads
    cards: DecisionCards
    inbox: Inbox
    spool: Spool
    answers: Answers
    caps: Capabilities
    listeners: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(8, "slack-listener")
    )
    add_document: AddDocument | None = None
    min_update_interval: float = 1.0  # seconds between updates of one streamed message
    answered_by: tuple[str, str] = ("", "")  # the model and the adapter, kept with each answer

    def close(self, grace: float | None = None) -> None:
        """Stop taking work; answers being written get ``grace`` seconds, then each thread is
        told and its turn is left for the next start (``Settings.shutdown_grace`` by default)."""
        self.listeners.shutdown(wait=True)
        self.queue.close(self.settings.shutdown_grace if grace is None else grace)
        released = self.inbox.release()
        if released:
            log.info("%d accepted turns are left for the next start to answer", released)
