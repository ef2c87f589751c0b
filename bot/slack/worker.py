"""The work queue: conversations run here, never on bolt's small listener pool.

Listeners only acknowledge and enqueue; each job is a coroutine run on one event loop in a
background thread, at most ``workers`` at a time (an ``asyncio.Semaphore``), so Slack's
3-second acknowledgement never waits on the model however busy it is. Blocking Slack Web API
calls inside a job go through ``asyncio.to_thread`` so they do not stall other conversations.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from memory.errors import new_error_id

T = TypeVar("T")
log = logging.getLogger(__name__)


class WorkQueue:
    """Runs submitted coroutines on a private event loop, ``workers`` at a time."""

    def __init__(self, workers: int, name: str = "slack-work") -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers!r}")
        self.workers = workers
        self._loop = asyncio.new_event_loop()
        self._semaphore: asyncio.Semaphore | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        self._closed = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._semaphore = asyncio.Semaphore(self.workers)
        self._ready.set()
        self._loop.run_forever()

    def submit(self, job: Callable[[], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Queue ``job()``; returns at once with a future of its result."""
        if self._closed:
            raise RuntimeError("the work queue is closed")
        return asyncio.run_coroutine_threadsafe(self._bounded(job), self._loop)

    async def _bounded(self, job: Callable[[], Awaitable[T]]) -> T:
        assert self._semaphore is not None
        async with self._semaphore:
            try:
                return await job()
            except Exception:  # a job's own handler failed too: never lose it silently
                log.exception("a queued job failed [%s]", new_error_id())
                raise

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking work, let running jobs end (up to ``timeout`` s), stop the loop."""
        if self._closed:
            return
        self._closed = True

        async def _drain() -> None:
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            if pending:
                await asyncio.wait(pending, timeout=timeout)

        try:
            asyncio.run_coroutine_threadsafe(_drain(), self._loop).result(timeout + 1)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("work queue closed with jobs still running")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
