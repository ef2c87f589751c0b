"""Durable de-duplication: each delivery from a chat surface is acted on at most once.

Slack retries events it thinks were not acknowledged, Socket Mode replays envelopes after a
reconnect, one mention arrives as both ``message`` and ``app_mention``, and people double-click
buttons. Everything that must happen once claims a key here first, inside one SQLite write
transaction, so the claim holds across threads, processes and restarts.
"""

from __future__ import annotations

from memory.db import Database


class Dedupe:
    """Keys of deliveries already taken."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, *keys: str) -> bool:
        """Take every key at once; False (and nothing stored) if any of them was taken before."""
        wanted = [k for k in dict.fromkeys(keys) if k]
        if not wanted:
            raise ValueError("claim() needs at least one non-empty key")
        with self.db.transaction() as conn:
            marks = ",".join("?" * len(wanted))
            taken = conn.execute(f"SELECT 1 FROM dedupe_keys WHERE key IN ({marks})", wanted)
            if taken.fetchone() is not None:
                return False
            conn.executemany("INSERT INTO dedupe_keys (key) VALUES (?)", [(k,) for k in wanted])
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
        with self.db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM dedupe_keys WHERE seen_at < strftime('%Y-%m-%dT%H:%M:%fZ','now', ?)",
                (f"-{older_than_days} days",),
            )
            return cur.rowcount
