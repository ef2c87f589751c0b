"""The one place that knows the two SQL dialects apart: SQLite (embedded) and PostgreSQL.

Stores write one SQL text for both: ANSI SQL with ``?`` placeholders, ``INSERT ... ON CONFLICT
... DO NOTHING | DO UPDATE`` and ``RETURNING`` (both engines have them), timestamps passed in
from Python (``memory.clock``) instead of the engine's own date functions, and the reserved
word ``"user"`` quoted. What differs lives here: ``Dialect`` gives the fragments that exist in
one engine only (``FOR UPDATE SKIP LOCKED`` is meaningless in SQLite, whose write transaction
already holds the whole database), and ``PgConnection`` makes a psycopg connection speak the
same ``?``-style calls and ``sqlite3.Row``-style rows as ``sqlite3`` does, so a store reads
``row["id"]`` or ``row[0]`` on either engine.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

DialectName = Literal["sqlite", "postgresql"]


def is_url(target: object) -> bool:
    """Whether a state target names a PostgreSQL server rather than a SQLite file."""
    text = str(target)
    return text.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def libpq_url(url: str) -> str:
    """``url`` as libpq (psycopg) takes it: without SQLAlchemy's ``+driver`` part."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def sqlalchemy_url(url: str) -> str:
    """``url`` as SQLAlchemy takes it, pinned to psycopg 3."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_url(url: str) -> str:
    """``postgresql://rpa:secret@db/x`` -> ``postgresql://rpa:…@db/x`` for logs and doctor."""
    scheme, sep, rest = url.partition("://")
    auth, at, host = rest.rpartition("@")
    if not at or ":" not in auth:
        return url
    return f"{scheme}{sep}{auth.split(':', 1)[0]}:…@{host}"


@dataclass(frozen=True)
class Dialect:
    """The fragments of SQL that only one of the two engines has."""

    name: DialectName

    def for_update(self, *, skip_locked: bool = False) -> str:
        """Row locks for a ``SELECT`` that is followed by an update of the rows it read.

        PostgreSQL runs writers side by side, so a read-then-write takes the rows' locks
        (``SKIP LOCKED``: rows another process holds are left to it, as a work queue wants).
        SQLite's write transaction (``BEGIN IMMEDIATE``) already excludes every other writer.
        """
        if self.name == "sqlite":
            return ""
        return " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"


class Cursor(Protocol):
    """What a store uses of a cursor, on either engine."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What a store uses of a connection, on either engine (``sqlite3`` or ``PgConnection``)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Any: ...


class Row(tuple):  # type: ignore[type-arg]
    """A result row read by position (``row[0]``) or by column name (``row["id"]``)."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key])
            except KeyError:
                raise IndexError(f"no column named {key!r}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    names = [column.name for column in cursor.description or ()]
    index = {name: i for i, name in enumerate(names)}
    return lambda values: Row(values, index)


@functools.lru_cache(maxsize=1024)
def to_format_style(sql: str) -> str:
    """``?`` placeholders -> psycopg's ``%s`` (and a literal ``%`` -> ``%%``), quotes respected."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if quote:
            if char == quote:
                quote = ""
        elif char in ("'", '"'):
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        out.append("%%" if char == "%" else char)
    return "".join(out)


class PgConnection:
    """A psycopg connection that takes ``?`` placeholders and returns ``Row`` rows."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        cursor = self.raw.cursor(row_factory=_row_factory)
        cursor.execute(to_format_style(sql), tuple(parameters))
        return cursor

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]]) -> Any:
        cursor = self.raw.cursor(row_factory=_row_factory)
        cursor.executemany(to_format_style(sql), [tuple(p) for p in seq_of_parameters])
        return cursor
