"""The state database: migrations once, WAL mode, and the idle connection that keeps the WAL open."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.db import Database


def test_migrations_apply_once_and_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    db = Database(tmp_path / "state.db")
    names = db.applied_migrations()
    assert names and names == sorted(names) and names[0].startswith("0001")
    again = Database(tmp_path / "state.db")  # a second process/instance applies nothing new
    assert again.applied_migrations() == names
    with db.reading() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_wal_stays_open_between_writes_until_close(tmp_path: Path) -> None:
    db = Database(tmp_path / "state.db")
    with db.transaction() as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    for n in range(3):
        with db.transaction() as conn:
            conn.execute("INSERT INTO notes VALUES (?)", (f"note {n}",))
    # Each write's connection was closed, but not as the last one: no checkpoint per write.
    assert (tmp_path / "state.db-wal").exists()
    db.close()
    assert not (tmp_path / "state.db-wal").exists()  # the last close checkpoints
    db.close()  # twice is harmless
    with Database(tmp_path / "state.db").reading() as conn:
        assert [r[0] for r in conn.execute("SELECT text FROM notes")] == [
            "note 0",
            "note 1",
            "note 2",
        ]


def test_a_failed_write_rolls_back_and_keeps_earlier_rows(tmp_path: Path) -> None:
    db = Database(tmp_path / "state.db")
    with db.transaction() as conn:
        conn.execute("CREATE TABLE notes (text TEXT NOT NULL)")
        conn.execute("INSERT INTO notes VALUES ('kept')")
    with pytest.raises(Exception, match="NOT NULL"), db.transaction() as conn:
        conn.execute("INSERT INTO notes VALUES ('lost with the rollback')")
        conn.execute("INSERT INTO notes VALUES (NULL)")
    with db.reading() as conn:
        assert [r[0] for r in conn.execute("SELECT text FROM notes")] == ["kept"]
