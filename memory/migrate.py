"""The migration history of the state database, one for both engines (SQLite and PostgreSQL).

Migrations live in ``memory/migrations/`` as ``NNNN_what.py`` (an ``upgrade(op)`` function over
Alembic's ``Operations``: ``op.create_table``, ``op.add_column``..., which SQLAlchemy renders
for each engine) or ``NNNN_what.sql`` (statements in SQL that both engines take as written).
They are applied in order, each once, in one transaction, and recorded in
``schema_migrations``. They are append-only: a shipped migration is never changed, a change
is a new file. Concurrent starts are safe: SQLite's write lock (``BEGIN IMMEDIATE``) or a
PostgreSQL advisory lock lets one process migrate while the others wait, then find it done.

``memory/schema.py`` declares the schema the history ends in; a test holds the two together.
"""

from __future__ import annotations

import importlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from memory.clock import now_iso
from memory.sql import is_url, libpq_url, sqlalchemy_url

# Any number will do as long as it is this program's own: it names the migration lock.
_PG_LOCK_KEY = 0x52504131  # "RPA1"
# ... and the lock of the schema set-up that libraries do for themselves (``one_at_a_time``).
_PG_SETUP_KEY = 0x52504132  # "RPA2"


@dataclass(frozen=True)
class Migration:
    """One step of the history: ``NNNN_what.py`` or ``NNNN_what.sql``."""

    number: int
    name: str

    def apply(self, conn: sa.Connection) -> None:
        if self.name.endswith(".py"):
            from alembic.migration import MigrationContext
            from alembic.operations import Operations

            module = importlib.import_module(f"memory.migrations.{self.name[:-3]}")
            module.upgrade(Operations(MigrationContext.configure(connection=conn)))
            return
        script = resources.files("memory.migrations").joinpath(self.name).read_text("utf-8")
        for statement in split_sql(script):
            try:
                conn.exec_driver_sql(statement)
            except sa.exc.DBAPIError as exc:
                raise RuntimeError(
                    f"migration {self.name} failed on {conn.dialect.name}: {exc.orig}. A .sql "
                    "migration must be SQL both engines take; write a .py migration "
                    "(op.create_table, op.add_column...) for anything else"
                ) from exc


def migrations() -> list[Migration]:
    """Every shipped migration, in order."""
    found = []
    for entry in resources.files("memory.migrations").iterdir():
        name = entry.name
        if name[:4].isdigit() and name.endswith((".sql", ".py")):
            found.append(Migration(int(name[:4]), name))
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if len(numbers) != len(set(numbers)):
        raise RuntimeError(f"two migrations share a number: {numbers}")
    return found


def engine_for(target: Path | str) -> sa.Engine:
    """A SQLAlchemy engine (no pool) for migrating, inspecting or copying ``target``."""
    if is_url(target):
        return sa.create_engine(sqlalchemy_url(str(target)), poolclass=sa.NullPool)
    engine = sa.create_engine(f"sqlite:///{Path(target)}", poolclass=sa.NullPool)

    # pysqlite's own transaction handling would begin too late (and never for DDL): take the
    # write lock at BEGIN, as memory.db does, so concurrent migrations run one after another.
    @sa.event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA busy_timeout=10000")

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


_RECORD = sa.Table(
    "schema_migrations",
    sa.MetaData(),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("applied_at", sa.Text, nullable=False),
)


@contextmanager
def _locked(target: Path | str) -> Iterator[sa.Connection]:
    """A transaction that holds the migration lock, with the record table in place."""
    if not is_url(target):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        wal = sqlite3.connect(target, timeout=10, isolation_level=None)
        try:
            wal.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
        finally:
            wal.close()
    engine = engine_for(target)
    try:
        with engine.connect() as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
            _RECORD.create(conn, checkfirst=True)
            yield conn
    finally:
        engine.dispose()


@contextmanager
def one_at_a_time(target: Path | str) -> Iterator[None]:
    """While the block runs, no other process runs its block for the same PostgreSQL database.

    For schema set-up that a library does by itself outside this history (LangGraph's
    ``PostgresSaver.setup`` reads which of its migrations are recorded, then applies and records
    the rest: two replicas starting together on a new database both recorded the same one and
    the second failed to start). On SQLite there is nothing to hold: such set-up takes the
    file's write lock.
    """
    if not is_url(target):
        yield
        return
    import psycopg

    with psycopg.connect(libpq_url(str(target)), autocommit=True) as conn:
        # Tried, not waited for: a process blocked in pg_advisory_lock is a transaction with a
        # snapshot, and the set-up's CREATE INDEX CONCURRENTLY waits for every such transaction
        # to end, so the holder would wait for its waiters (for minutes, until a timeout).
        while not _took(conn.execute("SELECT pg_try_advisory_lock(%s)", (_PG_SETUP_KEY,))):
            time.sleep(0.05)
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_PG_SETUP_KEY,))


def _took(cursor: Any) -> bool:
    row = cursor.fetchone()
    return bool(row and row[0])


def upgrade(target: Path | str) -> list[str]:
    """Apply every migration ``target`` lacks; returns the names applied (none: up to date)."""
    applied = []
    with _locked(target) as conn:
        done = set(conn.execute(sa.select(_RECORD.c.number)).scalars())
        for migration in migrations():
            if migration.number in done:
                continue
            migration.apply(conn)
            conn.execute(
                _RECORD.insert().values(
                    number=migration.number, name=migration.name, applied_at=now_iso()
                )
            )
            applied.append(migration.name)
    return applied


def applied(target: Path | str) -> list[str]:
    """Names of the migrations recorded in ``target``, in order (none for an empty database)."""
    engine = engine_for(target)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("schema_migrations"):
                return []
            rows = conn.execute(sa.select(_RECORD.c.name).order_by(_RECORD.c.number))
            return list(rows.scalars())
    finally:
        engine.dispose()


def pending(target: Path | str) -> list[str]:
    """Names of the shipped migrations ``target`` has not applied yet."""
    numbers = {int(name[:4]) for name in applied(target)}
    return [m.name for m in migrations() if m.number not in numbers]


def split_sql(script: str) -> list[str]:
    """A migration's statements, one by one (a driver runs one statement per call)."""
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
