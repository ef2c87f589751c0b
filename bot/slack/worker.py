"""The work queue: what the Slack surface does runs here, never on bolt's listener threads.

Listeners only acknowledge and enqueue. Every job is a coroutine on one event loop in a
background thread, in one of two lanes:

- **Turns** (conversations, the model's work): a turn's job starts at once, so it can show its
  first message (a queued note with its position when the model is busy) within moments of
  being accepted, and then waits for one of ``workers`` slots (``Ticket.slot``). Slots go round
  robin over conversations and a conversation holds one slot at most, so one conversation
  cannot take the others' share, however many messages it sends.
- **Quick work** (model-free commands, approvals, files, forms): up to ``quick`` jobs at once,
  never behind a turn.

Blocking Slack Web API calls inside a job go through ``asyncio.to_thread``. ``close`` stops
intake, lets running turns finish for a grace period and then cancels what is left: each job
sees ``CancelledError`` and says so in its thread (``bot/slack/replies.py``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from memory.errors import new_error_id

T = TypeVar("T")
log = logging.getLogger(__name__)
NOTE_SECONDS = 3.0  # how long cancelled jobs get to post their note at shutdown
IO_THREADS = 16  # threads for the jobs' blocking calls


class Ticket:
    """A turn's place in the queue: how many were ahead of it, and its slot once granted."""

    def __init__(self, lane: _Lane, key: str) -> None:
        self._lane = lane
        self.key = key
        self.ahead = lane.waiting_count()
        self._grant: asyncio.Future[None] = lane.join(key)
        self.held = False

    @property
    def queued(self) -> bool:
        """Whether the turn has to wait for a slot (known at once, when it was accepted)."""
        return not self._grant.done()

    async def slot(self) -> None:
        """Wait for this turn's slot (round robin over conversations)."""
        await self._grant
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._lane.leave(self.key)
        elif not self._grant.done():
            self._grant.cancel()
        elif not self._grant.cancelled():  # granted, never taken: hand it on
            self._lane.leave(self.key)


class _Lane:
    """Slots for turns: ``slots`` at once, one per conversation, granted round robin."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.running: set[str] = set()
        self.waiting: dict[str, deque[asyncio.Future[None]]] = {}
        self.order: deque[str] = deque()  # conversations with turns waiting, oldest first

    def waiting_count(self) -> int:
        return sum(1 for q in self.waiting.values() for f in q if not f.done())

    def join(self, key: str) -> asyncio.Future[None]:
        grant: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(key, deque()).append(grant)
        if key not in self.order:
            self.order.append(key)
        self._grant()
        return grant

    def leave(self, key: str) -> None:
        self.running.discard(key)
        self._grant()

    def _grant(self) -> None:
        while len(self.running) < self.slots:
            key = next((k for k in self.order if k not in self.running), None)
            if key is None:
                return
            self.order.remove(key)
            queue = self.waiting[key]
            while queue and queue[0].done():  # cancelled while waiting
                queue.popleft()
            if not queue:
                del self.waiting[key]
                continue
            queue.popleft().set_result(None)
            self.running.add(key)
            if queue:
                self.order.append(key)  # its next turn waits behind the others
            else:
                del self.waiting[key]


class WorkQueue:
    """Runs submitted coroutines on a private event loop, in the two lanes described above."""

    def __init__(self, workers: int, quick: int = 16, name: str = "slack-work") -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers!r}")
        self.workers = workers
        self._loop = asyncio.new_event_loop()
        self._lane = _Lane(workers)
        self._quick: asyncio.Semaphore | None = None
        self._quick_size = quick
        self._io = ThreadPoolExecutor(IO_THREADS, f"{name}-io")
        # The jobs' writes to the state database, one at a time: sixteen threads taking the
        # write lock in turn spent most of a burst in SQLite's busy waits.
        self._store = ThreadPoolExecutor(1, f"{name}-store")
        self._turns: dict[asyncio.Task[object], Ticket] = {}
        self._periodic: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        self._closed = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        # Blocking Web API and database calls of every job: a burst posts hundreds of first
        # messages at once, and asyncio's default pool has cores + 4 threads.
        self._loop.set_default_executor(self._io)
        self._quick = asyncio.Semaphore(self._quick_size)
        self._ready.set()
        self._loop.run_forever()

    # ---- submitting ----------------------------------------------------------------------
    def submit(self, job: Callable[[], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Queue quick work ``job()``; returns at once with a future of its result."""
        self._check_open()
        return asyncio.run_coroutine_threadsafe(self._quickly(job), self._loop)

    def submit_turn(
        self, key: str, job: Callable[[Ticket], Awaitable[T]]
    ) -> concurrent.futures.Future[T]:
        """Queue a turn of conversation ``key``: ``job(ticket)`` starts now, its slot comes later."""
        self._check_open()
        return asyncio.run_coroutine_threadsafe(self._turn(key, job), self._loop)

    async def store(self, write: Callable[..., T], *args: object) -> T:
        """Run a blocking database ``write(*args)`` on the queue's one writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._store, write, *args)

    def every(self, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        """Run ``job()`` every ``seconds`` until the queue closes (a failure is logged)."""

        async def repeat() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await job()
                except Exception:
                    log.exception("a periodic job failed [%s]", new_error_id())

        def begin() -> None:
            self._periodic.add(self._loop.create_task(repeat()))

        self._loop.call_soon_threadsafe(begin)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the work queue is closed")

    async def _quickly(self, job: Callable[[], Awaitable[T]]) -> T:
        assert self._quick is not None
        async with self._quick:
            return await _logged(job())

    async def _turn(self, key: str, job: Callable[[Ticket], Awaitable[T]]) -> T:
        task = asyncio.current_task()
        assert task is not None
        ticket = self._turns[task] = Ticket(self._lane, key)
        try:
            return await _logged(job(ticket))
        finally:
            ticket.release()
            del self._turns[task]

    # ---- figures and shutdown ----------------------------------------------------------------
    def waiting(self) -> int:
        """Turns accepted and waiting for a slot (read from any thread; approximate)."""
        return self._lane.waiting_count()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted job has ended; False on timeout."""
        if self._closed:
            return True

        async def idle() -> None:
            while busy := self._jobs():
                await asyncio.wait(busy)

        try:
            asyncio.run_coroutine_threadsafe(idle(), self._loop).result(timeout)
        except concurrent.futures.TimeoutError:
            return False
        return True

    def _jobs(self) -> list[asyncio.Task[object]]:
        current = asyncio.current_task()
        return [
            t
            for t in asyncio.all_tasks()
            if t is not current and t not in self._periodic and not t.done()
        ]

    def close(self, grace: float = 10.0) -> None:
        """Stop intake; waiting turns are cancelled now, running ones after ``grace`` seconds.

        Cancelled jobs get ``NOTE_SECONDS`` to tell their thread; then the loop stops.
        """
        if self._closed:
            return
        self._closed = True
        try:
            future = asyncio.run_coroutine_threadsafe(self._drain(grace), self._loop)
            future.result(grace + NOTE_SECONDS + 5)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("work queue closed with jobs still running")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._io.shutdown(wait=False)
        self._store.shutdown(wait=True)

    async def _drain(self, grace: float) -> None:
        for repeating in self._periodic:
            repeating.cancel()
        waiting = [t for t, ticket in self._turns.items() if ticket.queued]
        if waiting:
            log.info("shutting down: %d queued turns wait for the next start", len(waiting))
        for task in waiting:
            task.cancel()
        running = [t for t in self._jobs() if t not in waiting]
        if running:
            log.info("shutting down: %d jobs get %g s to finish", len(running), grace)
            _, late = await asyncio.wait(running, timeout=grace)
            if late:
                log.warning("shutting down: stopping %d unfinished jobs", len(late))
                for unfinished in late:
                    unfinished.cancel()
        left = self._jobs()
        if left:
            await asyncio.wait(left, timeout=NOTE_SECONDS)


async def _logged(job: Awaitable[T]) -> T:
    try:
        return await job
    except asyncio.CancelledError:
        raise
    except Exception:  # a job's own handler failed too: never lose it silently
        log.exception("a queued job failed [%s]", new_error_id())
        raise
