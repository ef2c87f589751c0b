"""What every Slack listener shares: settings, the service, the Web API client, the work queue
and the durable stores (de-duplication, joined threads, approval cards).

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
from bot.slack.worker import WorkQueue
from memory.dedupe import Dedupe
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
    listeners: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(8, "slack-listener")
    )
    add_document: AddDocument | None = None
    min_update_interval: float = 1.0  # seconds between updates of one streamed message

    def close(self) -> None:
        """Let running listeners and then running conversations finish; stop both."""
        self.listeners.shutdown(wait=True)
        self.queue.close()
