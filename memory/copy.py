"""Move an embedded SQLite state into PostgreSQL (``rpa-agent db copy``), row for row.

Both sides are brought to the newest migration first, so the tables are the same; then every
table of the history is copied, parents before children (foreign keys hold at each insert),
in batches, in one transaction on the target: a copy that fails leaves the target as empty
as it was. The target must be empty (a second copy would duplicate nothing silently: it is
refused instead). Integer ids keep their values and PostgreSQL's id sequences are moved past
them, so new rows go on numbering after the copied ones.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from memory import migrate

_BATCH = 500
_NOT_COPIED = {"schema_migrations"}  # each side records its own history


def copy_state(source: Path | str, target_url: str) -> dict[str, int]:
    """Copy every row of the SQLite state ``source`` into the database at ``target_url``;
    returns the rows copied per table."""
    if not Path(source).is_file():
        raise FileNotFoundError(f"no SQLite state at {source}")
    migrate.upgrade(source)
    migrate.upgrade(target_url)
    src, dst = migrate.engine_for(source), migrate.engine_for(target_url)
    try:
        shared = _shared_tables(src, dst)
        counts: dict[str, int] = {}
        with src.connect() as reader, dst.begin() as writer:
            _refuse_unless_empty(writer, shared)
            for table in shared:
                counts[table.name] = _copy_table(reader, writer, table)
            if writer.dialect.name == "postgresql":
                _advance_sequences(writer, shared)
        return counts
    finally:
        src.dispose()
        dst.dispose()


def _shared_tables(src: sa.Engine, dst: sa.Engine) -> list[sa.Table]:
    """The target's tables (parents first) that the source has too."""
    target = sa.MetaData()
    target.reflect(dst)
    have = set(sa.inspect(src).get_table_names())
    return [t for t in target.sorted_tables if t.name in have and t.name not in _NOT_COPIED]


def _refuse_unless_empty(conn: sa.Connection, tables: list[sa.Table]) -> None:
    for table in tables:
        if conn.execute(sa.select(sa.func.count()).select_from(table)).scalar():
            raise RuntimeError(
                f"the target database is not empty (table {table.name!r} has rows): copy into "
                "a new database, or empty it first"
            )


def _copy_table(reader: sa.Connection, writer: sa.Connection, table: sa.Table) -> int:
    source_columns = {c["name"] for c in sa.inspect(reader).get_columns(table.name)}
    columns = [c.name for c in table.columns if c.name in source_columns]
    select = sa.text(f"SELECT {', '.join(_quoted(reader, c) for c in columns)} FROM {table.name}")
    copied = 0
    result = reader.execute(select)
    while batch := result.fetchmany(_BATCH):
        writer.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in batch])
        copied += len(batch)
    return copied


def _quoted(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _advance_sequences(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """Move each serial id's sequence past the copied ids."""
    for table in tables:
        for column in table.primary_key.columns:
            sequence = conn.execute(
                sa.select(sa.func.pg_get_serial_sequence(table.name, column.name))
            ).scalar()
            if sequence:
                top = conn.execute(sa.select(sa.func.max(column))).scalar()
                conn.execute(sa.select(sa.func.setval(sequence, top or 1, top is not None)))
