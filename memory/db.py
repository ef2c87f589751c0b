"""The state database: an embedded SQLite file (the default) or a PostgreSQL server.

``Database(path)`` is a SQLite file in WAL mode, for one host; ``Database(url)`` with a
``postgresql://`` URL (``RPA_DATABASE_URL``) is a server that many replicas on many hosts
share. Either way the schema comes from one migration history (``memory.migrate``), applied
on first use, and every store speaks the same SQL through ``memory.sql``.

Every caller gets a short-lived connection (SQLite connections are cheap and must not cross
threads; PostgreSQL ones come from a pool). ``transaction()`` is one write transaction: in
SQLite it takes the write lock up front (``BEGIN IMMEDIATE``), so read-modify-write sequences
never interleave; PostgreSQL runs writers side by side (READ COMMITTED), so stores make their
claims with conditional updates, unique constraints and row locks (``Dialect.for_update``).
One idle SQLite connection stays open for the database's lifetime: closing the *last*
connection to a WAL database checkpoints and removes the WAL file, which cost about 10 ms per
write (a Slack mention's listener took 37 ms instead of 1.3 ms) when every connection was the
last.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from memory import migrate
from memory.faults import io_point
from memory.sql import Connection, Dialect, PgConnection, is_url, libpq_url, redact_url

_BUSY_TIMEOUT_MS = 10_000
_POOL_SIZE = 16  # connections one process keeps to a PostgreSQL server at most


class Database:
    """The state database at ``target``: a SQLite file path, or a ``postgresql://`` URL."""

    def __init__(self, target: Path | str) -> None:
        self.url: str | None = libpq_url(str(target)) if is_url(target) else None
        self.path = Path(target) if self.url is None else None
        self.dialect = Dialect("postgresql" if self.url else "sqlite")
        self._migrated = False
        self._lock = threading.Lock()
        self._anchor: sqlite3.Connection | None = None  # keeps the WAL open between uses
        self._pool: Any = None

    @property
    def target(self) -> str:
        """The file path or the URL, as ``memory.migrate`` and the copy tool take it."""
        return self.url or str(self.path)

    def describe(self) -> str:
        """Where the state is, fit for a log line (a password in the URL is masked)."""
        return f"postgresql {redact_url(self.url)}" if self.url else f"sqlite {self.path}"

    def connect(self) -> sqlite3.Connection:
        """A new SQLite connection: rows as ``sqlite3.Row``, foreign keys on, autocommit off."""
        if self.path is None:
            raise TypeError("connect() is for a SQLite state database; use transaction()")
        self._ensure_migrated()
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        if self.url is not None:
            with self._server() as raw, raw.transaction():
                yield PgConnection(raw)
            io_point("db.commit")
            return
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
    def reading(self) -> Iterator[Connection]:
        """A connection for reads, given back when the block ends."""
        if self.url is not None:
            with self._server() as raw:
                yield PgConnection(raw)
            return
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _server(self) -> Iterator[Any]:
        self._ensure_migrated()
        with self._pool.connection() as raw:
            yield raw

    def _ensure_migrated(self) -> None:
        if self._migrated:
            return
        with self._lock:  # other threads of this process wait here instead of failing
            if self._migrated:
                return
            migrate.upgrade(self.target)
            if self.url is not None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(
                    self.url, min_size=1, max_size=_POOL_SIZE, open=True, name="rpa-state"
                )
            else:
                self._anchor = sqlite3.connect(str(self.path), check_same_thread=False)
                self._anchor.execute("PRAGMA schema_version").fetchone()  # opens the WAL
            self._migrated = True

    def close(self) -> None:
        """Let go of the idle connection (SQLite) or of the pool's connections (PostgreSQL)."""
        with self._lock:
            if self._anchor is not None:
                self._anchor.close()
                self._anchor = None
            if self._pool is not None:
                self._pool.close()
                self._pool = None
                self._migrated = False

    def applied_migrations(self) -> list[str]:
        """Names of the migrations applied to this database, in order."""
        self._ensure_migrated()
        return migrate.applied(self.target)
