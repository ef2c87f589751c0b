"""Housekeeping that runs beside a surface: deliver queued mail, expire stale approvals.

One daemon thread wakes every ``interval`` seconds (or when stopped). Mail queued while the
SMTP server was down is retried with the outbox's own backoff; nothing here decides anything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


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
