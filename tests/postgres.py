"""A throwaway PostgreSQL server for the test suite: started once, a fresh database per test.

The server is the machine's own PostgreSQL (``pg_config --bindir`` names its binaries). It
refuses to run as root, so as root it runs as the ``postgres`` user (``runuser``). It listens
on a Unix socket in a temporary directory only (no TCP port to collide with), trusts local
connections, and is stopped and deleted when the session ends. A machine without PostgreSQL
fails the suite with the reason: the stores promise to work on it, so the tests must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

PORT = 5432  # only names the socket file: the server listens on no TCP address


class PostgresUnavailable(RuntimeError):
    """The throwaway server could not be started; the message says why."""


@dataclass
class PostgresServer:
    """A running server: its socket directory, its superuser and how to reach a database."""

    root: Path
    user: str = "rpa"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for ``database`` over the Unix socket (what RPA_DATABASE_URL takes)."""
        return f"postgresql://{self.user}@/{database}?host={self.socket_dir}&port={PORT}"

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        _as_server_user([_binary("pg_ctl"), "-D", str(self.root / "db"), "-m", "immediate", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)


def _bindir() -> Path:
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PostgresUnavailable(
            f"PostgreSQL is not installed (pg_config --bindir failed: {exc}); "
            "install Debian's postgresql package"
        ) from exc
    return Path(out.stdout.strip())


def _binary(name: str) -> str:
    path = _bindir() / name
    if not path.is_file():
        raise PostgresUnavailable(f"{path} is missing: install the PostgreSQL server package")
    return str(path)


def _as_server_user(args: list[str], log: Path | None = None) -> None:
    """Run a server command, as ``postgres`` when we are root (the server refuses root)."""
    command = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        if log is not None and log.is_file():
            detail += "\n" + log.read_text(errors="replace")[-2000:]
        raise PostgresUnavailable(f"{' '.join(args[:2])} failed: {detail}")


def start_server() -> PostgresServer:
    """initdb + pg_ctl start on a temporary directory; the server answers when this returns."""
    root = Path(tempfile.mkdtemp(prefix="rpa-pg-"))
    server = PostgresServer(root)
    server.socket_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(server.socket_dir, "postgres")
    _as_server_user(
        [_binary("initdb"), "-D", str(root / "db"), "-A", "trust", "-U", server.user,
         "-E", "UTF8", "--locale=C.UTF-8"]
    )  # fmt: skip
    options = (
        f"-p {PORT} -k {server.socket_dir} -c listen_addresses='' -c fsync=off"
        " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    log = root / "server.log"
    _as_server_user(
        [_binary("pg_ctl"), "-D", str(root / "db"), "-o", options, "-l", str(log), "-w", "start"],
        log=log,
    )
    return server
