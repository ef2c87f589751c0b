"""The outbox table: one row per outgoing message, moved through its states exactly once.

States: ``pending`` (due at ``next_attempt_at``) -> ``sending`` (claimed by one worker) ->
``sent`` | ``pending`` again (a retryable failure, with backoff) | ``failed`` (permanent, or
out of attempts) | ``unknown`` (the server may have the message and nobody can tell: only a
person requeues it, ``rpa-agent outbox --retry ID``). A claim is a conditional update (and the
due rows are read with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers, on one host
or on several, never send the same row. While a row is ``sending`` its ``stage`` says how far the attempt got
(``claimed``: nothing went out; ``data``: all but the final dot went out, so from here on the
server may hold it) and ``claimed_by`` names the process: a claim whose process died is
resolved by its stage (``tools.email_outbox.Outbox.resolve_stuck``), never left behind.
"""

from __future__ import annotations

import builtins
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from memory.clock import iso, now_iso
from memory.db import Database
from memory.errors import NotFound

OutboxStatus = Literal["pending", "sending", "sent", "unknown", "failed"]
Stage = Literal["", "claimed", "data"]


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    idempotency_key: str
    message_id: str
    sender: str
    recipients: list[str]
    subject: str
    raw: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: str
    last_error: str | None
    delivered_to: str | None
    created_by: str
    draft_id: str | None
    created_at: str
    updated_at: str
    sent_at: str | None
    stage: Stage = ""
    claimed_by: str | None = None
    claimed_at: str | None = None
    created: bool = True  # False when enqueue found an earlier row with the same key


class OutboxStore:
    """Rows of the ``outbox`` table and their state transitions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(
        self,
        *,
        idempotency_key: str,
        message_id: str,
        sender: str,
        recipients: list[str],
        subject: str,
        raw: str,
        created_by: str,
        draft_id: str | None = None,
    ) -> OutboxMessage:
        """Add a message (or return the row already stored under this idempotency key)."""
        now = now_iso()
        with self.db.transaction() as conn:
            # Two replicas enqueueing under one key: the unique key lets one insert win, the
            # other (waiting for the winner's commit) inserts nothing and reads the winner's row.
            row = conn.execute(
                "INSERT INTO outbox (id, idempotency_key, message_id, sender, recipients, subject,"
                " raw, status, attempts, next_attempt_at, created_by, draft_id, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?)"
                " ON CONFLICT (idempotency_key) DO NOTHING RETURNING *",
                (
                    f"M-{secrets.token_hex(5)}", idempotency_key, message_id, sender,
                    json.dumps(recipients), subject, raw, now, created_by, draft_id, now, now,
                ),
            ).fetchone()  # fmt: skip
            if row is not None:
                return _message(row)
            row = conn.execute(
                "SELECT * FROM outbox WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        return _message(row, created=False)

    def get(self, message_id: str) -> OutboxMessage:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT * FROM outbox WHERE id = ?", (message_id.strip(),)
            ).fetchone()
        if row is None:
            raise NotFound(f"no outbox message with id {message_id!r}")
        return _message(row)

    def list(self, *, status: str | None = None, limit: int = 50) -> list[OutboxMessage]:
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        sql = f"SELECT * FROM outbox {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        with self.db.reading() as conn:
            rows = conn.execute(sql, (*params, max(1, limit))).fetchall()
        return [_message(r) for r in rows]

    def by_key(self, idempotency_key: str) -> OutboxMessage | None:
        """The message stored under this idempotency key (an action id, ``run:step``), if any."""
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT * FROM outbox WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        return None if row is None else _message(row)

    def claim(self, message_id: str, owner: str = "") -> OutboxMessage | None:
        """Claim one pending message now (due or not); None when it is not pending."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "UPDATE outbox SET status = 'sending', stage = 'claimed', claimed_by = ?,"
                " claimed_at = ?, updated_at = ? WHERE id = ? AND status = 'pending' RETURNING *",
                (owner, now_iso(), now_iso(), message_id),
            ).fetchone()
        return None if row is None else _message(row)

    def claim_due(
        self, *, limit: int = 20, now: datetime | None = None, owner: str = ""
    ) -> builtins.list[OutboxMessage]:
        """Claim up to ``limit`` pending messages whose next attempt is due."""
        moment = iso(now or datetime.now(UTC))
        with self.db.transaction() as conn:
            # Rows another replica is claiming right now are skipped, not waited for.
            rows = conn.execute(
                "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at LIMIT ?" + self.db.dialect.for_update(skip_locked=True),
                (moment, limit),
            ).fetchall()
            claimed = [
                conn.execute(
                    "UPDATE outbox SET status = 'sending', stage = 'claimed', claimed_by = ?,"
                    " claimed_at = ?, updated_at = ? WHERE id = ? AND status = 'pending'"
                    " RETURNING *",
                    (owner, moment, moment, r["id"]),
                ).fetchone()
                for r in rows
            ]
        return [_message(r) for r in claimed if r is not None]

    def mark_stage(self, message_id: str, stage: Stage) -> None:
        """Record how far the running attempt got (before the step it names goes out)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET stage = ?, updated_at = ? WHERE id = ? AND status = 'sending'",
                (stage, now_iso(), message_id),
            )

    def sending(self) -> builtins.list[OutboxMessage]:
        """Every message claimed right now (by a live worker, or by one that died)."""
        with self.db.reading() as conn:
            rows = conn.execute("SELECT * FROM outbox WHERE status = 'sending'").fetchall()
        return [_message(r) for r in rows]

    def mark_sent(self, message_id: str, delivered_to: str) -> OutboxMessage:
        return self._finish(message_id, "sent", delivered_to=delivered_to, sent=True)

    def mark_unknown(self, message_id: str, error: str) -> OutboxMessage:
        return self._finish(message_id, "unknown", error=error)

    def mark_failed(self, message_id: str, error: str) -> OutboxMessage:
        return self._finish(message_id, "failed", error=error)

    def mark_retry(self, message_id: str, error: str, next_attempt: datetime) -> OutboxMessage:
        """Back to ``pending`` after a failure that left the message undelivered."""
        return self._finish(message_id, "pending", error=error, next_attempt=iso(next_attempt))

    def _finish(
        self,
        message_id: str,
        status: OutboxStatus,
        *,
        error: str | None = None,
        delivered_to: str | None = None,
        sent: bool = False,
        next_attempt: str | None = None,
    ) -> OutboxMessage:
        now = now_iso()
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?,"
                " delivered_to = COALESCE(?, delivered_to), sent_at = COALESCE(?, sent_at),"
                " next_attempt_at = COALESCE(?, next_attempt_at), claimed_at = NULL, claimed_by = NULL,"
                " stage = '', updated_at = ?"
                " WHERE id = ? AND status = 'sending'",
                (status, error, delivered_to, now if sent else None, next_attempt, now, message_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"outbox message {message_id!r} is not being sent")
        return self.get(message_id)

    def requeue(self, message_id: str) -> OutboxMessage:
        """A person's decision: send an ``unknown`` or ``failed`` message again, now."""
        now = now_iso()
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?, updated_at = ?"
                " WHERE id = ? AND status IN ('unknown', 'failed', 'pending')",
                (now, now, message_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"outbox message {message_id!r} is not unknown, failed or pending")
        return self.get(message_id)


def _message(row: Any, *, created: bool = True) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        idempotency_key=row["idempotency_key"],
        message_id=row["message_id"],
        sender=row["sender"],
        recipients=json.loads(row["recipients"]),
        subject=row["subject"],
        raw=row["raw"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        delivered_to=row["delivered_to"],
        created_by=row["created_by"],
        draft_id=row["draft_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        sent_at=row["sent_at"],
        stage=row["stage"],
        claimed_by=row["claimed_by"],
        claimed_at=row["claimed_at"],
        created=created,
    )
