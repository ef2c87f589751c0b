"""Answering requests comes before decoding, and a request nobody waits for any more stops.

The model pauses between layers while requests are answered (below); a request whose answer
was stopped (a person pressed stop, its deadline passed, the bot is shutting down) ends at the
scheduler's next step boundary (``stop_scope``, at the end).

The bot and its model share one process and, on the target machine, two cores. A decode step
keeps both cores busy (torch's intra-op threads) for tens of milliseconds, and while it runs,
a burst of Slack requests waits for CPU time and for the GIL: with 200 signed events at once,
the acknowledgement p99 rose from 40-48 ms to 56-58 ms while a reply decoded
(``rpa-agent bench slack``). Slack retries an event it has not seen acknowledged within 3
seconds; a reply a few milliseconds later is not noticed.

So the HTTP server marks each request it answers with ``URGENT.work()``, and each connection
and request's bytes as they come in with ``URGENT.touch()``; Socket Mode marks each envelope
it handles. The model's forward passes call a ``Budget``'s ``checkpoint()`` between decoder
layers (a layer takes 1-2 ms here). While a request is being answered, or one arrived or was
answered within ``linger`` seconds (so that the gaps inside a burst do not restart the model
for one layer), the checkpoint waits. A forward pass waits ``pause_budget`` seconds at most in
all, so a steady stream of requests slows decoding down but never stops it.

The checkpoint's cost when nothing is being answered is an integer test and a clock read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Longest pause of one forward pass (seconds): a decode step takes 40-60 ms on the 2-core CPU,
# a burst of 200 requests 50-70 ms.
PAUSE_BUDGET = 0.1
# How long after the last answer the model keeps waiting for the next request of a burst.
LINGER = 0.005


class Priority:
    """Tracks urgent work (requests being answered) that model forward passes yield to."""

    def __init__(
        self,
        linger: float = LINGER,
        pause_budget: float = PAUSE_BUDGET,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.linger = linger
        self.pause_budget = pause_budget
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._urgent = 0  # pieces of urgent work running now
        self._last = float("-inf")  # when the last one ended
        self.paused_seconds = 0.0  # total time forward passes waited (for benchmarks)
        self.pauses = 0
        self.works = 0  # pieces of urgent work begun

    @contextmanager
    def work(self) -> Iterator[None]:
        """Marks urgent work: forward passes pause at their next checkpoint meanwhile.

        Nothing is woken when it ends: a waiting checkpoint looks again every ``linger``
        seconds, so a burst of requests does not hand the GIL to the model after each one.
        """
        with self._lock:
            self._urgent += 1
            self.works += 1
        try:
            yield
        finally:
            with self._lock:
                self._urgent -= 1
                self._last = self._clock()

    def touch(self) -> None:
        """Urgent work is arriving (a connection opened, a request's bytes came in).

        Forward passes pause for ``linger`` seconds from now: a burst's connections are
        accepted and parsed before any request reaches the application.
        """
        self._last = self._clock()

    def idle_for(self) -> float:
        """Seconds since urgent work last ended or arrived; ``-inf`` while some runs."""
        return float("-inf") if self._urgent > 0 else self._clock() - self._last

    def pressing(self) -> bool:
        """Whether urgent work runs now or ended less than ``linger`` seconds ago."""
        return self.idle_for() < self.linger

    def wait(self, limit: float) -> float:
        """Wait while urgent work is pressing, ``limit`` seconds at most; returns the wait."""
        if limit <= 0 or not self.pressing():
            return 0.0
        start = self._clock()
        waited = 0.0
        while waited < limit and self.pressing():
            # While work runs, look again every ``linger``; after, once ``linger`` has passed.
            step = min(self.linger, self.linger - self.idle_for())
            self._sleep(max(min(step, limit - waited), 0.0005))  # releases the GIL
            waited = self._clock() - start
        with self._lock:
            self.paused_seconds += waited
            self.pauses += 1
        return waited

    def budget(self) -> Budget:
        """A pause allowance of ``pause_budget`` seconds for one forward pass."""
        return Budget(self, self.pause_budget)


class Budget:
    """One forward pass's allowance: ``checkpoint()`` between layers waits out urgent work."""

    __slots__ = ("left", "priority")

    def __init__(self, priority: Priority, seconds: float) -> None:
        self.priority = priority
        self.left = seconds

    def checkpoint(self) -> None:
        if self.left > 0 and self.priority.pressing():
            self.left -= self.priority.wait(self.left)


# The process's one tracker: the HTTP server marks work on it, the model scheduler yields to it.
URGENT = Priority()


# ---- stopping a request ---------------------------------------------------------------------
# The stop of the work running in this context: the conversation service sets it around a turn,
# LangGraph hands the context on to the threads that run the model, and the scheduler reads it
# when a request is submitted (bot/llm/engine/scheduler.py).
_STOP: ContextVar[threading.Event | None] = ContextVar("rpa_stop", default=None)


@contextmanager
def stop_scope(stop: threading.Event) -> Iterator[None]:
    """Model requests submitted inside the block end at their next step once ``stop`` is set."""
    token = _STOP.set(stop)
    try:
        yield
    finally:
        _STOP.reset(token)


def current_stop() -> threading.Event | None:
    """The stop of the enclosing ``stop_scope``, if any."""
    return _STOP.get()


def stopped() -> bool:
    """Whether the enclosing ``stop_scope``'s work was stopped."""
    stop = _STOP.get()
    return stop is not None and stop.is_set()
