"""What the Slack surface owes people, kept until it is paid: the spool and the inbox.

``Spool``: event deliveries that HTTP mode acknowledged before the app handled them. A delivery
is written before its 200 goes out and deleted once the app's listener has run, so a crash
between the two loses nothing: the next start replays what is left.

``Inbox``: conversation turns the bot accepted. A turn is claimed once (by the message's
``channel:ts`` and by Slack's event id, so retries and the ``message`` + ``app_mention`` double
delivery of one mention are one turn) and stays ``accepted`` until its answer is posted, when
it becomes ``answered``. Each open turn has an owner (``host:pid:boot``) and a lease the owner
keeps renewing; a restarted process takes over the turns of owners that died (on this host,
their pid is gone) or whose lease ran out, and answers them, continuing the reply message
already shown (``reply_ts``) instead of posting a second one.

Both are written on the hot path of a burst (every delivery, every first message), so each
thread keeps one connection to the database for them (``_Connections``): opening a connection
per transaction cost four times the transaction itself.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from memory.clock import now_iso
from memory.db import Database
from memory.leases import LEASE_SECONDS, owner_gone, process_owner
from memory.sql import Connection

__all__ = ["LEASE_SECONDS", "Claim", "Inbox", "Spool", "Turn", "owner_gone", "process_owner"]


class _Connections:
    """One connection per thread to ``db``, for short write transactions and reads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.db.connect()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Like ``Database.transaction`` (write lock up front), on this thread's connection."""
        if self.db.path is None:  # PostgreSQL: the database's own pool already keeps them
            with self.db.transaction() as pooled:
                yield pooled
            return
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        if self.db.path is None:
            with self.db.reading() as pooled:
                yield pooled
            return
        yield self._conn()


class Spool:
    """Deliveries acknowledged but not yet handled by the app."""

    def __init__(self, db: Database) -> None:
        self.db = _Connections(db)

    def put_many(self, bodies: Iterable[str]) -> list[str]:
        """Store deliveries in one transaction; returns their ids in order."""
        nonce, at = uuid.uuid4().hex[:8], now_iso()
        rows = [(f"{time.time_ns():020d}-{nonce}-{n:04d}", b, at) for n, b in enumerate(bodies)]
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO slack_spool (id, body, received_at) VALUES (?, ?, ?)", rows
            )
        return [r[0] for r in rows]

    def remove(self, ids: Iterable[str]) -> None:
        wanted = [(i,) for i in ids]
        if wanted:
            with self.db.transaction() as conn:
                conn.executemany("DELETE FROM slack_spool WHERE id = ?", wanted)

    def pending(self) -> list[tuple[str, str]]:
        """``(id, body)`` of every delivery left, oldest first."""
        with self.db.reading() as conn:
            rows = conn.execute("SELECT id, body FROM slack_spool ORDER BY id").fetchall()
        return [(str(r["id"]), str(r["body"])) for r in rows]


@dataclass(frozen=True)
class Claim:
    """A turn to claim: the message it answers, its event id, what is owed, the thread joined."""

    message_key: str
    event_id: str | None
    payload: dict[str, Any]
    thread: tuple[str, str] | None = None


@dataclass(frozen=True)
class Turn:
    """An accepted turn as stored: what to answer and where its reply already is."""

    key: str  # the message it answers: "msg:CHANNEL:TS"
    event_id: str | None
    payload: dict[str, Any]  # what is owed ("kind") and the message it answers
    state: str
    owner: str | None
    reply_ts: str | None
    attempts: int


class Inbox:
    """Accepted conversation turns, each answered once (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        owner: str | None = None,
        lease: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = _Connections(db)
        self.owner = owner or process_owner()
        self.lease = lease
        self._clock = clock

    def accept(
        self,
        message_key: str,
        event_id: str | None,
        payload: dict[str, Any],
        thread: tuple[str, str] | None = None,
    ) -> bool:
        """Claim a turn; False when the message or the event was taken before.

        ``thread`` (channel, thread ts) joins that thread in the same transaction
        (``memory/slack_state.py``: follow-ups there need no mention).
        """
        return self.accept_many([Claim(message_key, event_id, payload, thread)])[0]

    def accept_many(self, claims: Sequence[Claim]) -> list[bool]:
        """Claim several turns in one transaction, in order (a later claim of a message or an
        event claimed earlier in the list is refused too); whether each was claimed."""
        taken: list[bool] = []
        with self.db.transaction() as conn:
            for claim in claims:
                taken.append(self._claim(conn, claim))
        return taken

    def _claim(self, conn: Connection, claim: Claim) -> bool:
        taken = conn.execute(
            "SELECT 1 FROM slack_inbox WHERE message_key = ? OR event_id = ?",
            (claim.message_key, claim.event_id),
        ).fetchone()
        if taken is not None:
            return False
        # Two replicas given one event: the loser's insert waits for the winner's commit,
        # then finds the message (or the event id) taken and inserts nothing.
        cur = conn.execute(
            "INSERT INTO slack_inbox"
            " (message_key, event_id, payload, owner, lease_until, accepted_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (claim.message_key, claim.event_id, json.dumps(claim.payload), self.owner,
             self._until(), now_iso()),
        )  # fmt: skip
        if cur.rowcount != 1:
            return False
        if claim.thread is not None:
            conn.execute(
                "INSERT INTO joined_threads (channel, thread, joined_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (*claim.thread, now_iso()),
            )
        return True

    def placed(self, key: str, reply_ts: str) -> None:
        """The reply's first message is in the thread: a later attempt continues it."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE slack_inbox SET reply_ts = ? WHERE message_key = ? AND reply_ts IS NULL",
                (reply_ts, key),
            )

    def started(self, key: str) -> None:
        """An attempt at answering begins (counted, so a turn that keeps failing shows)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE slack_inbox SET attempts = attempts + 1 WHERE message_key = ?", (key,)
            )

    def answered(self, key: str) -> None:
        """The answer is posted: the turn is paid."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE slack_inbox SET state = 'answered', owner = NULL, lease_until = 0,"
                " answered_at = ? WHERE message_key = ?",
                (now_iso(), key),
            )

    def renew(self) -> int:
        """Extend the lease of every open turn this process owns; returns how many."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE slack_inbox SET lease_until = ? WHERE owner = ? AND state = 'accepted'",
                (self._until(), self.owner),
            )
            return cur.rowcount

    def release(self) -> int:
        """Give up this process's open turns (shutting down): the next start takes them over."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE slack_inbox SET lease_until = 0 WHERE owner = ? AND state = 'accepted'",
                (self.owner,),
            )
            return cur.rowcount

    def take_over(self) -> list[Turn]:
        """Open turns whose owner died or let its lease lapse, now owned by this process."""
        now = self._clock()
        with self.db.transaction() as conn:
            # Turns another replica is taking over right now are left to it (SKIP LOCKED).
            rows = conn.execute(
                "SELECT * FROM slack_inbox WHERE state = 'accepted'"
                " AND (owner IS NULL OR owner <> ?) ORDER BY accepted_at"
                + self.db.db.dialect.for_update(skip_locked=True),
                (self.owner,),
            ).fetchall()
            mine = [r for r in rows if r["lease_until"] < now or owner_gone(r["owner"])]
            conn.executemany(
                "UPDATE slack_inbox SET owner = ?, lease_until = ? WHERE message_key = ?",
                [(self.owner, self._until(), r["message_key"]) for r in mine],
            )
        return [_turn(r, owner=self.owner) for r in mine]

    def get(self, key: str) -> Turn | None:
        with self.db.reading() as conn:
            row = conn.execute("SELECT * FROM slack_inbox WHERE message_key = ?", (key,)).fetchone()
        return None if row is None else _turn(row)

    def open_turns(self) -> list[Turn]:
        """Every turn still owed an answer, oldest first."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT * FROM slack_inbox WHERE state = 'accepted' ORDER BY accepted_at"
            ).fetchall()
        return [_turn(r) for r in rows]

    def _until(self) -> float:
        return self._clock() + self.lease


def _turn(row: Any, owner: str | None = None) -> Turn:
    return Turn(
        key=str(row["message_key"]),
        event_id=row["event_id"],
        payload=dict(json.loads(row["payload"])),
        state=str(row["state"]),
        owner=owner or row["owner"],
        reply_ts=row["reply_ts"],
        attempts=int(row["attempts"]),
    )
