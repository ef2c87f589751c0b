"""Housekeeping that runs beside a surface: deliver queued mail, follow it up, expire approvals.

One daemon thread wakes every ``interval`` seconds (or when stopped). ``housekeeping_chores``
names what it does, in order: the outbox settles sends a dead process left mid-way and retries
queued mail with its own backoff; approved actions and process runs whose mail was waiting are
settled once the outbox has delivered it (and their people are told); process runs whose
replica died are taken over once their lease lapsed; overdue approvals expire. Nothing here decides anything a person must decide.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.wiring import App

log = logging.getLogger(__name__)


def housekeeping_chores(app: App) -> list[Callable[[], object]]:
    """The chores of one housekeeping pass over ``app``, in the order they must run."""
    chores: list[Callable[[], object]] = []
    if app.engine.outbox is not None:
        chores.append(app.engine.outbox.deliver_pending)
    # recover: runs whose replica died or let its lease lapse are taken over here, and
    # queued mail that has gone out moves its run on (what resume_deliveries alone did).
    chores += [app.actions.follow_up, app.engine.recover, app.approvals.expire_overdue]
    return chores


class Housekeeper:
    """Runs ``chores`` every ``interval`` seconds on a daemon thread until ``stop``."""

    def __init__(self, chores: list[Callable[[], object]], interval: float = 30.0) -> None:
        self.chores = chores
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rpa-housekeeping", daemon=True)

    def start(self) -> Housekeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def run_once(self) -> None:
        for chore in self.chores:
            try:
                chore()
            except Exception:  # one failing chore must not stop the others or the loop
                log.exception("housekeeping chore %r failed", getattr(chore, "__name__", chore))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()
