"""``rpa-agent db``: status, upgrade and copy against a real PostgreSQL, and doctor's line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli import get_app
from bot.cli.db_cmds import state_check
from bot.config import Settings
from memory.audit import AuditLog
from memory.db import Database
from tests.postgres import PostgresServer


def _run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(get_app(), args, env={"COLUMNS": "300", **env})
    return result.exit_code, result.output


def test_upgrade_then_copy_a_sqlite_state_into_postgresql(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.create_database()
    env = {"RPA_DATA_DIR": str(tmp_path), "RPA_DATABASE_URL": url}
    code, out = _run(["db", "status"], env)
    assert code == 0 and "pending" in out
    code, out = _run(["db", "upgrade"], env)
    assert code == 0 and "0009_leases.py" in out
    assert "up to date" in _run(["db", "upgrade"], env)[1]
    sqlite = Database(tmp_path / "state.db")
    AuditLog(sqlite).record(user="U1", tool="t", arguments={}, status="ok")
    sqlite.close()
    code, out = _run(["db", "copy"], env)
    assert code == 0 and "tool_audit: 1" in out, out
    code, out = _run(["db", "copy"], env)
    assert code == 1 and "not empty" in out


def test_doctor_says_whether_the_state_is_reachable_and_migrated(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.create_database()
    settings = Settings(_env_file=None, data_dir=tmp_path, database_url=url)  # type: ignore[call-arg]
    works, what, fix = state_check(settings)
    assert not works and fix == "rpa-agent db upgrade"
    Database(url).close()
    Database(url).applied_migrations()
    works, what, _ = state_check(settings)
    assert works and "PostgreSQL 15" in what and "migrated" in what
    gone = settings.model_copy(update={"database_url": postgres.url("no_such_database")})
    works, what, _ = state_check(gone)
    assert not works and "not reachable" in what
