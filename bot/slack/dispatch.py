"""HTTP mode's hand-over of acknowledged events to bolt, durably.

Events API callbacks take a fast path: their acknowledgement carries no body, so once the
signature checks out the event is written to the spool (``memory/slack_inbox.py``) and the
server answers 200. ``SpoolWriter`` batches those writes, so a burst costs one commit per batch
rather than one per event, and an event is acknowledged only once it is on disk. One
``Dispatcher`` thread then hands the queued events to bolt (which verifies again and runs the
listener, which claims what the message is owed), in arrival order and up to ``CLAIM_BATCH`` at
a time, the batch's claims stored in one transaction when it ends (``turns.claiming``: one
transaction per event made a 500-event burst's first messages p99 1.8-2.1 s, batched 1.0-1.2
s), and removes them from the spool; whatever is still there at the next start (a crash, a
shutdown before the queue emptied) is handed over again then, as an already verified delivery.

Acknowledgements come first: the dispatcher takes the next event only when no request on the
Slack path is being answered and none has been for ``quiet`` seconds (10 ms), and while one
is, it gives the event loop the GIL after each event (``time.sleep(0)``; done after every
event, that cost 1.3 ms of waiting for the GIL per event, a third of a 500-event burst's
hand-over: its first messages' p99 went from 2.1-2.6 s to 1.6-1.8 s without it). An event
and its listener cost a millisecond or more of CPU; started on a thread each as they arrived,
a burst's events fought every pending acknowledgement for the GIL. So that a steady stream of
requests cannot starve handling, an event that has waited ``patience`` seconds (0.1 s) is
handed over anyway. An event whose handling fails is logged and the next one goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from slack_bolt import App, BoltRequest

from bot.priority import URGENT, Priority
from bot.slack.turns import claiming
from memory.slack_inbox import Spool

log = logging.getLogger(__name__)

# Shortest wait between the dispatcher's looks at a held-back event (seconds).
MIN_POLL = 0.001
# Handed-over events are removed from the spool in batches of this many (or when idle).
REMOVE_BATCH = 32
# Events handed over together, their messages claimed in one transaction (bot/slack/turns.py).
CLAIM_BATCH = 16

# A request's headers: a mapping, or ASGI's (name, value) byte pairs.
Headers = Mapping[str, str] | Sequence[tuple[bytes, bytes]]


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def bolt_headers(headers: Headers) -> dict[str, str | Sequence[str]]:
    """Headers as bolt takes them: lower-case names, every value of each."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(_text(key).lower(), []).append(_text(value))
    return dict(out)


@dataclass(frozen=True)
class _Delivery:
    """An acknowledged event as it came: bolt builds its request on the dispatcher thread."""

    body: str
    query: str
    headers: Headers
    queued_at: float
    spool_id: str | None = None
    replayed: bool = False  # from the spool at start: verified when it first came


class SpoolWriter:
    """Writes acknowledged deliveries to the spool in batches, before their 200 goes out."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._queue: queue.SimpleQueue[tuple[str, Callable[[str | BaseException], None]]]
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="slack-spool", daemon=True)
        self._thread.start()

    async def put(self, body: str) -> str:
        """Store ``body``; returns its spool id once it is committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str] = loop.create_future()

        def settle(result: str | BaseException) -> None:
            if isinstance(result, BaseException):
                loop.call_soon_threadsafe(done.set_exception, result)
            else:
                loop.call_soon_threadsafe(done.set_result, result)

        self._queue.put((body, settle))
        return await done

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < 256:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                ids: list[str | BaseException] = list(self.spool.put_many(b for b, _ in batch))
            except Exception as exc:  # the requests get 500: Slack delivers them again
                log.exception("could not store %d acknowledged events", len(batch))
                ids = [exc] * len(batch)
            for (_, settle), result in zip(batch, ids, strict=True):
                settle(result)


class Dispatcher:
    """Hands acknowledged events to bolt on one thread, after pending acknowledgements.

    The event loop marks the answering of each request on ``priority`` (``work()``, as the
    model's forward passes see it) and queues verified events with ``put``; the thread takes
    the oldest event once nothing has been answered for ``quiet`` seconds, or once it has
    waited ``patience`` seconds. With a ``spool``, ``start`` first queues what an earlier
    process left there, and handed-over events are removed from it.
    """

    def __init__(
        self,
        bolt_app: App,
        quiet: float = 0.01,
        patience: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        priority: Priority = URGENT,
        spool: Spool | None = None,
    ) -> None:
        self.bolt_app = bolt_app
        self.quiet = quiet
        self.patience = patience
        self.priority = priority
        self.spool = spool
        self._clock = clock
        self._queue: deque[_Delivery] = deque()
        self._changed = threading.Condition()
        self._unfinished = 0  # queued or being handled
        self._closed = False
        self._thread: threading.Thread | None = None
        self._handled: list[str] = []  # spool ids handed over, not yet removed

    def start(self) -> None:
        with self._changed:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="slack-dispatch", daemon=True)
        self._replay()
        self._thread.start()

    def _replay(self) -> None:
        left = self.spool.pending() if self.spool is not None else []
        if left:
            log.info("handing over %d events acknowledged before the last stop", len(left))
        with self._changed:
            for spool_id, body in left:
                self._queue.append(_Delivery(body, "", {}, self._clock(), spool_id, True))
                self._unfinished += 1

    def put(self, body: str, query: str, headers: Headers, spool_id: str | None = None) -> None:
        """Queue a verified event (before it is acknowledged); refused once closed."""
        with self._changed:
            if self._closed:
                raise RuntimeError("the dispatcher is closed")
            self._queue.append(_Delivery(body, query, headers, self._clock(), spool_id))
            self._unfinished += 1
            if len(self._queue) == 1:  # the dispatcher may be waiting for work: wake it
                self._changed.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued event has been handed to bolt; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._unfinished == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Hand over what is queued (up to ``timeout`` s; the spool keeps the rest), then stop."""
        if not self.wait_idle(timeout):
            kept = "they stay in the spool for the next start" if self.spool else "they are lost"
            log.warning("%d acknowledged events were not handled before shutdown: %s",
                        self._unfinished, kept)  # fmt: skip
        with self._changed:
            self._closed = True
            if self.spool is not None:
                self._queue.clear()  # the spool keeps them for the next start
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._forget_handled()

    def _next(self) -> _Delivery | None:
        """The oldest event, once it may go; None once closed and empty."""
        with self._changed:
            while True:
                if self._queue:
                    waited = self._clock() - self._queue[0].queued_at
                    idle = self.priority.idle_for()
                    if idle >= self.quiet or waited >= self.patience or self._closed:
                        return self._queue.popleft()
                    # Answers do not wake this thread (a burst would wake it once per request,
                    # and each wake takes the GIL from the event loop): it looks again once
                    # the server may have gone quiet, or when the oldest event's patience ends.
                    until_quiet = min(self.quiet, self.quiet - idle)
                    self._changed.wait(max(min(self.patience - waited, until_quiet), MIN_POLL))
                elif self._closed:
                    return None
                else:
                    self._changed.wait()

    def _more(self, most: int) -> list[_Delivery]:
        """Up to ``most`` more queued events that may go now, taken at once (the oldest one
        just went): all of them while the server is quiet, else those whose patience ran out."""
        with self._changed:
            quiet = self.priority.idle_for() >= self.quiet or self._closed
            taken: list[_Delivery] = []
            while (
                self._queue
                and len(taken) < most
                and (quiet or self._clock() - self._queue[0].queued_at >= self.patience)
            ):
                taken.append(self._queue.popleft())
            return taken

    def _run(self) -> None:
        while (first := self._next()) is not None:
            batch = [first, *self._more(CLAIM_BATCH - 1)]
            try:
                with claiming():  # the batch's messages are claimed in one transaction
                    for delivery in batch:
                        _dispatch_later(self.bolt_app, delivery)
            finally:
                self._handled.extend(d.spool_id for d in batch if d.spool_id is not None)
                with self._changed:
                    self._unfinished -= len(batch)
                    idle = not self._queue
                    self._changed.notify_all()
            if idle or len(self._handled) >= REMOVE_BATCH:
                self._forget_handled()
            if self.priority.idle_for() < self.quiet:
                time.sleep(0)  # a request is being answered: let the event loop take the GIL

    def _forget_handled(self) -> None:
        handled, self._handled = self._handled, []
        if handled and self.spool is not None:
            try:
                self.spool.remove(handled)
            except Exception:  # they are handed over again at the next start: claims dedupe
                log.exception("could not clear %d handled events from the spool", len(handled))


def _dispatch_later(bolt_app: App, delivery: _Delivery) -> None:
    """Handle an already acknowledged event; a failure is logged (never silent)."""
    try:
        if delivery.replayed:  # verified when it came; its timestamp may be old by now
            request = BoltRequest(body=json.loads(delivery.body), mode="socket_mode")
        else:
            request = BoltRequest(
                body=delivery.body, query=delivery.query, headers=bolt_headers(delivery.headers)
            )
        response = bolt_app.dispatch(request)
        if response.status >= 400:
            log.error("an acknowledged event was refused by the app: HTTP %s", response.status)
    except Exception:
        log.exception("an acknowledged event failed in the app")
