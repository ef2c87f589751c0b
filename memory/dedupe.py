"""Durable de-duplication: each delivery from a chat surface is acted on at most once.

Slack retries events it thinks were not acknowledged, Socket Mode replays envelopes after a
reconnect, one mention arrives as both ``message`` and ``app_mention``, and people double-click
buttons. Everything that must happen once claims a key here first; the key's primary key makes
the claim hold across threads, processes, restarts and replicas (a second replica inserting
the same key waits for the first one's commit, then finds the key taken).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from memory.clock import iso, now_iso
from memory.db import Database


class _Taken(Exception):
    """A key of the claim was taken before: the whole claim is rolled back."""


class Dedupe:
    """Keys of deliveries already taken."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, *keys: str) -> bool:
        """Take every key at once; False (and nothing stored) if any of them was taken before."""
        # Sorted, so that two claims sharing keys lock them in one order (no deadlock).
        wanted = sorted(k for k in set(keys) if k)
        if not wanted:
            raise ValueError("claim() needs at least one non-empty key")
        now = now_iso()
        try:
            with self.db.transaction() as conn:
                for key in wanted:
                    cur = conn.execute(
                        "INSERT INTO dedupe_keys (key, seen_at) VALUES (?, ?)"
                        " ON CONFLICT (key) DO NOTHING",
                        (key, now),
                    )
                    if cur.rowcount != 1:
                        raise _Taken(key)
        except _Taken:
            return False
        return True

    def seen(self, key: str) -> bool:
        with self.db.reading() as conn:
            row = conn.execute("SELECT 1 FROM dedupe_keys WHERE key = ?", (key,)).fetchone()
        return row is not None

    def release(self, key: str) -> None:
        """Forget a key, so that a later delivery may act (used when the action did not happen)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM dedupe_keys WHERE key = ?", (key,))

    def prune(self, older_than_days: float = 30.0) -> int:
        """Drop keys older than Slack's longest retry window by far; returns how many."""
        cutoff = iso(datetime.now(UTC) - timedelta(days=older_than_days))
        with self.db.transaction() as conn:
            cur = conn.execute("DELETE FROM dedupe_keys WHERE seen_at < ?", (cutoff,))
            return int(cur.rowcount)
