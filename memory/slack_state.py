"""What the Slack surface remembers: the threads the bot has joined and the approval cards shown.

Follow-ups in a joined thread need no mention, so the set survives restarts; an approval card
knows where it was posted, what it asked and who decided it, with an atomic claim (a
conditional update: on PostgreSQL the second replica waits for the first one's row lock, then
finds the card decided) so that a double click, or two replicas, act on one decision once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from memory.clock import now_iso
from memory.db import Database


class JoinedThreads:
    """Threads the bot has answered in (follow-ups there need no mention)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, channel: str, thread: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO joined_threads (channel, thread, joined_at) VALUES (?, ?, ?)"
                " ON CONFLICT (channel, thread) DO NOTHING",
                (channel, thread, now_iso()),
            )

    def contains(self, channel: str, thread: str) -> bool:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT 1 FROM joined_threads WHERE channel = ? AND thread = ?", (channel, thread)
            ).fetchone()
        return row is not None


@dataclass(frozen=True)
class DecisionCard:
    """An approval card as shown: where it is, what it asked, and its decision if any."""

    action_id: str
    channel: str
    ts: str
    request: dict[str, Any]
    decided_by: str | None
    decision: str | None
    result: str | None


class DecisionCards:
    """Approval cards, with an atomic claim so that one decision is acted on once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, action_id: str, channel: str, ts: str, request: dict[str, Any]) -> None:
        """Record a shown card; showing the same request again moves the card, keeps a decision."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO decision_cards (action_id, channel, ts, request) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(action_id) DO UPDATE SET channel = excluded.channel, ts = excluded.ts,"
                " request = excluded.request",
                (action_id, channel, ts, json.dumps(request, default=str)),
            )

    def get(self, action_id: str) -> DecisionCard | None:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT * FROM decision_cards WHERE action_id = ?", (action_id,)
            ).fetchone()
        return _card(row) if row is not None else None

    def claim(self, action_id: str, user: str, decision: str) -> bool:
        """Mark the card as being decided by ``user``; False if it was decided (or claimed)."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE decision_cards SET decided_by = ?, decision = ?, decided_at = ?"
                " WHERE action_id = ? AND decided_by IS NULL",
                (user, decision, now_iso(), action_id),
            )
            return cur.rowcount == 1

    def finish(self, action_id: str, result: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE decision_cards SET result = ? WHERE action_id = ?", (result, action_id)
            )

    def release(self, action_id: str) -> None:
        """Reopen a card whose decision was refused by the authority (e.g. a foreign approver)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE decision_cards SET decided_by = NULL, decision = NULL, decided_at = NULL,"
                " result = NULL WHERE action_id = ?",
                (action_id,),
            )


def _card(row: Any) -> DecisionCard:
    return DecisionCard(
        action_id=row["action_id"],
        channel=row["channel"],
        ts=row["ts"],
        request=json.loads(row["request"]),
        decided_by=row["decided_by"],
        decision=row["decision"],
        result=row["result"],
    )
