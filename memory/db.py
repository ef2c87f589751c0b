"""One SQLite database for all of rpa-agent's state, in WAL mode, with numbered migrations.

Migrations are plain SQL files in ``memory/migrations/`` named ``NNNN_what.sql``; they are
applied in order, each once, and recorded in ``schema_migrations``. They are append-only:
a shipped migration is never edited, a change is a new file.

Every caller gets its own short-lived connection (SQLite connections are cheap and must not
cross threads); ``transaction()`` takes the write lock up front (``BEGIN IMMEDIATE``) so that
read-modify-write sequences from several threads or processes never interleave. One idle
connection stays open for the database's lifetime: closing the *last* connection to a WAL
database checkpoints and removes the WAL file, which cost about 10 ms per write (a Slack
mention's listener took 37 ms instead of 1.3 ms) when every connection was the last.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from memory.faults import io_point

_BUSY_TIMEOUT_MS = 10_000


def _migration_files() -> list[tuple[int, str, str]]:
    """Return ``(number, name, sql)`` for every shipped migration, in order."""
    found = []
    for entry in resources.files("memory.migrations").iterdir():
        name = entry.name
        if not name.endswith(".sql") or not name[:4].isdigit():
            continue
        found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if len(numbers) != len(set(numbers)):
        raise RuntimeError(f"two migrations share a number: {sorted(numbers)}")
    return found


class Database:
    """The state database at ``path`` (created, with its folder, on first use)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._migrated = False
        self._lock = threading.Lock()
        self._anchor: sqlite3.Connection | None = None  # keeps the WAL open between uses

    def connect(self) -> sqlite3.Connection:
        """A new connection: rows as ``sqlite3.Row``, WAL, foreign keys on, autocommit off."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        if not self._migrated:
            # Switching to WAL needs the file to itself: do it once, with the migrations,
            # while other threads of this process wait on the lock instead of failing.
            self._migrate(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        conn = self.connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            io_point("db.commit")
        finally:
            conn.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads, closed when the block ends."""
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if self._migrated:
                return
            conn.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " number INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                    " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
                )
                done = {row[0] for row in conn.execute("SELECT number FROM schema_migrations")}
                for number, name, sql in _migration_files():
                    if number in done:
                        continue
                    for statement in _split_sql(sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations (number, name) VALUES (?, ?)", (number, name)
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._anchor = sqlite3.connect(self.path, check_same_thread=False)
            self._anchor.execute("PRAGMA schema_version").fetchone()  # opens the WAL
            self._migrated = True

    def close(self) -> None:
        """Let go of the idle connection (the last connection to close checkpoints the WAL)."""
        with self._lock:
            if self._anchor is not None:
                self._anchor.close()
                self._anchor = None

    def applied_migrations(self) -> list[str]:
        """Names of the migrations applied to this database, in order."""
        with self.reading() as conn:
            rows = conn.execute("SELECT name FROM schema_migrations ORDER BY number").fetchall()
        return [r[0] for r in rows]


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit our transaction)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
