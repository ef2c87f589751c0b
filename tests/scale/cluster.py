"""Two real ``rpa-agent run`` processes in Slack HTTP mode on one shared state, for the tests.

Everything is real and local: the state on a throwaway PostgreSQL database (``tests/postgres.py``),
the documents on a Chroma server (``chroma run``, started on a copy of the session's demo
store, so no replica has to embed them again), mail to aiosmtpd with an IMAP face (the
outbox's delivery check), Slack's Web API played by ``tests/fakes/slack_api.py`` and the model
by the OpenAI-compatible fake (``tests/fakes/openai_server.py``, scripted by the conversation
so far, so that it answers whichever replica asks). Each replica is the console script
``rpa-agent run`` with its own data dir and port, configured by the environment only, as an
operator would start it; requests are signed as Slack signs them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.slack_api import Call, MockSlackApi
from tests.fakes.smtp import SmtpServer
from tests.slack.conftest import BOT_TOKEN, SECRET, sign

RPA_AGENT = Path(sys.executable).with_name("rpa-agent")
CHROMA = Path(sys.executable).with_name("chroma")
ROLES = {"admin": ["U_ADMIN"], "manager": ["U_MGR"]}
# Short claims, frequent housekeeping: a dead replica's work moves within a second or two.
LEASE_SECONDS = 3
HOUSEKEEPING_SECONDS = 0.3
# How long one replica may take to start serving (imports, migrations, the document check).
START_SECONDS = 240.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, ready: Callable[[], bool], deadline_s: float = 60.0) -> None:
    """Poll ``ready`` until it holds (a readiness wait: it fails only when nothing happens)."""
    end = time.monotonic() + deadline_s
    while not ready():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


class ChromaServer:
    """``chroma run`` on a copy of ``store`` (a persistent store's directory)."""

    def __init__(self, store: Path, root: Path) -> None:
        self.path = root / "chroma-server"
        shutil.copytree(store, self.path)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(self.path), "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait(self) -> ChromaServer:
        def up() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self.process.returncode}")
            return _serving(f"{self.url}/api/v2/heartbeat")

        wait_until("the Chroma server", up, START_SECONDS)
        return self

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@dataclass
class Replica:
    """One ``rpa-agent run`` process: started, probed on ``/healthz``, signed requests in."""

    name: str
    env: dict[str, str]
    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / f"{self.name}.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Replica:
        env = {**self.env, "RPA_HTTP_PORT": str(self.port)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(RPA_AGENT), "run"], env=env, cwd=self.root, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def wait_ready(self) -> Replica:
        def up() -> bool:
            if not self.alive:
                raise RuntimeError(f"replica {self.name} exited:\n{self.log()[-3000:]}")
            return _serving(f"{self.url}/healthz")

        wait_until(f"replica {self.name} to serve", up, START_SECONDS)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no release of what it holds."""
        if self.process is not None and self.alive:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.alive:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ---- Slack's requests -------------------------------------------------------------------
    def post(self, body: str, content_type: str, extra: dict[str, str] | None = None) -> int:
        headers = {"Content-Type": content_type, **sign(body), **(extra or {})}
        request = urllib.request.Request(
            f"{self.url}/slack/events", data=body.encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def deliver(self, body: str, retry: int | None = None) -> int:
        """An Events API delivery (``event_body``), as Slack sends it (or retries it)."""
        extra = {}
        if retry is not None:
            extra = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post(body, "application/json", extra)

    def click(self, action_id: str, value: str, user: str, channel: str, ts: str) -> int:
        from urllib.parse import urlencode

        payload = {
            "type": "block_actions", "team": {"id": "T0001"}, "api_app_id": "A0001",
            "user": {"id": user}, "channel": {"id": channel},
            "container": {"type": "message", "channel_id": channel, "message_ts": ts},
            "message": {"ts": ts}, "trigger_id": f"trig-{action_id}-{user}",
            "actions": [{"action_id": action_id, "block_id": "b", "type": "button",
                         "value": value}],
        }  # fmt: skip
        return self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps(
        {"type": "event_callback", "team_id": "T0001", "api_app_id": "A0001",
         "event_id": event_id, "event": event}
    )  # fmt: skip


@dataclass
class Cluster:
    """The shared pieces and the two replicas ``a`` and ``b``."""

    api: MockSlackApi
    llm: FakeOpenAIServer
    smtp: SmtpServer
    chroma: ChromaServer
    database_url: str
    workspace: Path
    replicas: list[Replica]

    @property
    def a(self) -> Replica:
        return self.replicas[0]

    @property
    def b(self) -> Replica:
        return self.replicas[1]

    def ensure_running(self) -> None:
        """Restart any replica an earlier test killed (both serve when this returns)."""
        dead = [r for r in self.replicas if not r.alive]
        for replica in dead:
            replica.start()
        for replica in dead:
            replica.wait_ready()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]

    def wait_quiet(self, deadline_s: float = 60.0) -> None:
        """Until every delivery a replica acknowledged was handled (the shared spool is empty)
        and every turn a replica accepted is answered."""

        def quiet() -> bool:
            spooled = self.query("SELECT COUNT(*) FROM slack_spool")[0][0]
            owed = self.query("SELECT COUNT(*) FROM slack_inbox WHERE state = 'accepted'")[0][0]
            return spooled == 0 and owed == 0

        wait_until("every delivery handled and every turn answered", quiet, deadline_s)

    # ---- what the fake Slack saw in one thread ----------------------------------------------
    def replies_in(self, thread: str) -> list[Call]:
        """The bot's messages started in ``thread`` (posted, or streams started)."""
        return [
            c
            for c in self.api.calls
            if c.method in ("chat.postMessage", "chat.startStream")
            and c.payload.get("thread_ts") == thread
        ]

    def said_in(self, thread: str) -> str:
        """What the bot's messages in ``thread`` say in the end: a posted message's last
        version (``chat.update``), a stream's pieces put together (Slack's native streaming)."""
        return "\n".join(self._final_text(reply) for reply in self.replies_in(thread))

    def _final_text(self, reply: Call) -> str:
        """A message's text once every later call on it is applied in order: a stream's
        pieces add up, an update replaces the whole (a replica continuing another's reply)."""
        ts = reply.response.get("ts")
        text = ""
        for call in [reply] + [c for c in self.api.calls if c.payload.get("ts") == ts]:
            if call.method in ("chat.postMessage", "chat.update"):
                text = str(call.payload.get("text") or "")
            elif call.method in ("chat.startStream", "chat.appendStream", "chat.stopStream"):
                text += _stream_text(call.payload)
        return text


def _stream_text(payload: dict[str, Any]) -> str:
    chunks = payload.get("chunks") or []
    if isinstance(chunks, str):
        chunks = json.loads(chunks)
    text = [c.get("text", "") for c in chunks if c.get("type") == "markdown_text"]
    return str(payload.get("markdown_text") or "") + "".join(text)


def replica_env(cluster_parts: dict[str, Any], data_dir: Path) -> dict[str, str]:
    """The environment of one replica: every replica gets the same values but its data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RPA_", "SLACK_"))}
    env.update(
        {
            "RPA_WORKSPACE": str(cluster_parts["workspace"]),
            "RPA_DATA_DIR": str(data_dir),
            "RPA_DATABASE_URL": cluster_parts["database_url"],
            "RPA_CHROMA_URL": cluster_parts["chroma_url"],
            "RPA_LLM_BACKEND": "remote",
            "RPA_REMOTE_BASE_URL": cluster_parts["llm_url"],
            "RPA_REMOTE_TOOLS": "native",
            "RPA_PREFETCH_DOCS": "false",
            "RPA_ADAPTER": "base",
            "RPA_WORKERS": "4",
            "RPA_ROLES": json.dumps(ROLES),
            "RPA_TODAY": "2026-11-23",
            "RPA_LEASE_SECONDS": str(LEASE_SECONDS),
            "RPA_HOUSEKEEPING_SECONDS": str(HOUSEKEEPING_SECONDS),
            "RPA_SHUTDOWN_GRACE": "1",
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "RPA_SLACK_API_URL": cluster_parts["slack_url"],
            "RPA_HTTP_HOST": "127.0.0.1",
            "RPA_SMTP_HOST": "127.0.0.1",
            "RPA_SMTP_PORT": str(cluster_parts["smtp_port"]),
            "RPA_SMTP_SECURITY": "none",
            "RPA_SMTP_TIMEOUT": "60",
            "RPA_SMTP_CHECK_URL": cluster_parts["check_url"],
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "ANONYMIZED_TELEMETRY": "False",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_cluster(
    root: Path, database_url: str, demo_store: Path, workspace_source: Path
) -> Iterator[Cluster]:
    """Start every shared piece and two replicas; yields the cluster, then stops it all."""
    workspace = root / "workspace"
    shutil.copytree(workspace_source, workspace, ignore=shutil.ignore_patterns("adapter"))
    api = MockSlackApi().start()
    llm = FakeOpenAIServer().__enter__()
    smtp = SmtpServer()
    smtp.start()
    check_url = smtp.start_imap()
    chroma = ChromaServer(demo_store, root)
    replicas: list[Replica] = []
    try:
        chroma.wait()
        parts = {
            "workspace": workspace, "database_url": database_url, "chroma_url": chroma.url,
            "llm_url": llm.base_url, "slack_url": api.base_url, "smtp_port": smtp.port,
            "check_url": check_url,
        }  # fmt: skip
        for name in ("a", "b"):
            data = root / f"data-{name}"
            replicas.append(Replica(name, replica_env(parts, data), root))
        cluster = Cluster(api, llm, smtp, chroma, database_url, workspace, replicas)
        cluster.ensure_running()
        yield cluster
    finally:
        for replica in replicas:
            replica.stop()
        chroma.stop()
        smtp.close()
        llm.__exit__(None, None, None)
        api.stop()
