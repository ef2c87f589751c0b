"""``rpa-agent db``: the state database: where it is and its migrations (``db status``),
bringing it to the newest schema (``db upgrade``), and moving an embedded SQLite state into
PostgreSQL (``db copy``). ``state_check`` is what ``rpa-agent doctor`` says about it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

console = Console()
db_app = typer.Typer(help="The state database: status, upgrade, copy into PostgreSQL.")


def register(app: typer.Typer) -> None:
    """Add the ``db`` group."""
    app.add_typer(db_app, name="db")


def where(settings: Any) -> str:
    """The state database in words (a password in the URL masked)."""
    from memory.sql import redact_url

    if settings.database_url:
        return f"PostgreSQL {redact_url(settings.database_url)}"
    return f"SQLite {settings.state_db}"


def state_check(settings: Any) -> tuple[bool, str, str]:
    """``(works, what, fix)``: reachable, migrated, which version; for ``doctor``."""
    from memory import migrate

    target = settings.state_store
    if not settings.database_url and not Path(target).exists():
        return True, f"state: {where(settings)} (created on first use)", ""
    try:
        pending = migrate.pending(target)
        version = _server_version(settings.database_url) if settings.database_url else "SQLite"
    except Exception as exc:  # any failure to reach it is the finding
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            False,
            f"state: {where(settings)} is not reachable: {first}",
            "check RPA_DATABASE_URL",
        )
    if pending:
        what = f"state: {where(settings)} ({version}) lacks {len(pending)} migration(s)"
        return False, what, "rpa-agent db upgrade"
    return True, f"state: {where(settings)} ({version}), migrated", ""


def _server_version(url: str) -> str:
    import psycopg

    from memory.sql import libpq_url

    with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"


@db_app.command("status")
def status() -> None:
    """Where the state is, which migrations it has, and which it lacks."""
    from bot.cli.common import settings as get_settings
    from memory import migrate

    settings = get_settings()
    console.print(f"state: {where(settings)}")
    for name in migrate.applied(settings.state_store):
        console.print(f"  applied  {name}")
    for name in migrate.pending(settings.state_store):
        console.print(f"  [yellow]pending  {name}[/yellow]")


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply the migrations the state database lacks (safe to run from several replicas)."""
    from bot.cli.common import settings as get_settings
    from memory import migrate

    settings = get_settings()
    done = migrate.upgrade(settings.state_store)
    console.print(f"{where(settings)}: " + (f"applied {', '.join(done)}" if done else "up to date"))


@db_app.command("copy")
def copy(
    source: Path = typer.Option(
        None, "--from", help="The SQLite state to copy (default: RPA_DATA_DIR/state.db)."
    ),
) -> None:
    """Copy an embedded SQLite state into the (empty) PostgreSQL at RPA_DATABASE_URL."""
    from bot.cli.common import settings as get_settings
    from memory.copy import copy_state

    settings = get_settings()
    if not settings.database_url:
        console.print("[red]Set RPA_DATABASE_URL to the PostgreSQL database to copy into.[/red]")
        raise typer.Exit(2)
    origin = source or settings.state_db
    try:
        counts = copy_state(origin, settings.database_url)
    except (FileNotFoundError, RuntimeError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    total = sum(counts.values())
    console.print(f"copied {total} rows from {origin} into {where(settings)}:")
    for table, n in counts.items():
        if n:
            console.print(f"  {table}: {n}")
    console.print(
        "Thread memory (the conversation history) is not copied: conversations continue, "
        "with the model seeing the new messages only."
    )
