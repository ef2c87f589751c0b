"""A local Slack Web API: a real HTTP server on an ephemeral port for the real ``WebClient``.

Each ``POST /api/<method>`` answers canned JSON (overridable per method, or an error such as
``not_in_channel``) and is logged with its decoded payload. ``/response/<id>`` plays a slash
command's ``response_url`` and ``/files/<id>`` serves downloads; both are logged too. Tests
wait on the log (``wait_for``) instead of sleeping, and every Block Kit payload that passed
through can be validated with ``slack_sdk.models`` (``validate_block_kit``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

BOT_USER, BOT_ID, TEAM = "UBOT", "BBOT", "T0001"
Reply = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Call:
    """One request the fake received."""

    method: str  # "chat.postMessage", "response_url", "file_download", ...
    payload: dict[str, Any]
    headers: dict[str, str]
    response: dict[str, Any] = field(default_factory=dict)  # what the fake answered


class MockSlackApi:
    """Start with ``start()``; point ``WebClient(base_url=api.base_url)`` at it."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.replies: dict[str, Reply] = {}
        self.files: dict[str, bytes] = {}
        self.socket_url = "ws://127.0.0.1:1/unset"
        self._ts = itertools.count(1)
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> MockSlackApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    # ---- canned answers -------------------------------------------------------------------
    def reply(self, method: str, answer: Reply) -> None:
        """Answer ``method`` with ``answer`` (a dict, or a function of the payload)."""
        self.replies[method] = answer

    def fail(self, method: str, error: str) -> None:
        self.replies[method] = {"ok": False, "error": error}

    def next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _default(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "team_id": TEAM,
                "user": "rpa-agent",
            }
        if method == "chat.postMessage":
            ts = self.next_ts()
            return {"ok": True, "channel": payload.get("channel"), "ts": ts, "message": {"ts": ts}}
        if method == "chat.update":
            return {"ok": True, "channel": payload.get("channel"), "ts": payload.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self.next_ts()}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        if method in ("views.open", "views.update"):
            return {"ok": True, "view": {"id": "V0001", **(payload.get("view") or {})}}
        return {"ok": True}

    # ---- the log --------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 10.0,
        where: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Block until ``count`` matching calls arrived; fail the test if they do not."""

        def matching() -> list[Call]:
            return [c for c in self.calls if c.method == method and (where is None or where(c))]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                seen = [c.method for c in self.calls]
                raise AssertionError(f"expected {count} call(s) to {method!r}; got {seen}")
            return matching()

    def _record(self, call: Call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    # ---- HTTP -----------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def do_GET(self) -> None:
                if self.path.startswith("/files/"):
                    api._record(
                        Call("file_download", {"path": self.path}, dict(self.headers.items()))
                    )
                    data = api.files.get(self.path)
                    self._send(
                        200 if data is not None else 404,
                        data or b"not found",
                        "application/octet-stream",
                    )
                    return
                self._send(404, b"{}", "application/json")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                payload = _decode(raw, self.headers.get("Content-Type", ""))
                headers = dict(self.headers.items())
                if self.path.startswith("/response/"):
                    api._record(Call("response_url", payload, headers))
                    self._send(200, b"ok", "text/plain")
                    return
                method = self.path.removeprefix("/api/").split("?")[0]
                answer = api.replies.get(method)
                if answer is None:
                    body = api._default(method, payload)
                else:
                    body = answer(payload) if callable(answer) else answer
                api._record(Call(method, payload, headers, body))
                self._send(200, json.dumps(body).encode(), "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def _decode(raw: bytes, content_type: str) -> dict[str, Any]:
    """The payload as a dict, whether JSON or form-encoded (JSON-looking values decoded)."""
    text = raw.decode("utf-8") if raw else ""
    if "json" in content_type:
        return dict(json.loads(text or "{}"))
    out: dict[str, Any] = {}
    for key, values in parse_qs(text).items():
        value = values[0]
        if value[:1] in ("[", "{"):
            with contextlib.suppress(json.JSONDecodeError):  # not JSON after all: keep the text
                value = json.loads(value)
        out[key] = value
    return out


def validate_block_kit(calls: list[Call]) -> int:
    """Round-trip every ``blocks`` and ``view`` payload through ``slack_sdk.models``; returns how many.

    ``to_dict()`` runs the SDK's validators (sizes, counts, required fields) and raises
    ``SlackObjectFormationError`` on the first violation.
    """
    checked = 0
    for call in calls:
        blocks = call.payload.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        for block in blocks or []:
            parsed = Block.parse(block)
            assert parsed is not None, f"{call.method}: unknown block {block!r}"
            parsed.to_dict()
            checked += 1
        view = call.payload.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if view:
            View(**view).to_dict()
            checked += 1
    return checked
