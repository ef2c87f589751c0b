"""A local Slack Web API: a real HTTP server on an ephemeral port for the real ``WebClient``.

Each ``POST /api/<method>`` answers canned JSON (overridable per method, or an error such as
``not_in_channel``) and is logged with its decoded payload. ``/response/<id>`` plays a slash
command's ``response_url`` and ``/files/<id>`` serves downloads; both are logged too. Tests
wait on the log (``wait_for``) instead of sleeping, and every Block Kit payload that passed
through can be validated with ``slack_sdk.models`` (``validate_block_kit``).

The methods of Slack's platform for AI apps follow Slack's rules (``AGENT_METHODS``):
``chat.startStream`` needs ``recipient_team_id`` and ``recipient_user_id`` outside a DM, text
stays within 12,000 characters per call, chunks must parse as ``slack_sdk`` chunk models,
``appendStream`` / ``stopStream`` need a message still streaming (``stop_streams`` plays the
person's stop button); ``assistant.threads.*`` and ``agents.sessions.setStatus`` check their
required arguments and allowed values. A broken rule answers Slack's error code.
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
        self.streams: dict[str, dict[str, Any]] = {}  # ts -> channel, thread_ts, state, chunks
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

    def stop_streams(self, channel: str, thread_ts: str) -> list[str]:
        """The person pressed stop: Slack ends the thread's open streams; returns their ts."""
        with self._cond:
            stopped = [
                ts
                for ts, s in self.streams.items()
                if s["channel"] == channel
                and s["thread_ts"] == thread_ts
                and s["state"] == "streaming"
            ]
            for ts in stopped:
                self.streams[ts]["state"] = "stopped"
            return stopped

    def _default(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method in AGENT_METHODS:
            return AGENT_METHODS[method](self, payload)
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
        for chunk in call.payload.get("chunks") or []:  # streamed blocks are Block Kit too
            blocks = [*(blocks or []), *(chunk.get("blocks") or [])]
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


# ---- Slack's platform for AI apps -------------------------------------------------------------
TEXT_LIMIT = 12_000  # markdown_text of one streaming call
SESSION_STATUSES = {"active", "processing", "suspended", "closed"}


def _error(error: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": error, **extra}


def _chunk_problem(payload: dict[str, Any]) -> str | None:
    """Slack's error for the payload's text and chunks, if any."""
    from slack_sdk.models.messages.chunk import Chunk

    if len(payload.get("markdown_text") or "") > TEXT_LIMIT:
        return "msg_too_long"
    for chunk in payload.get("chunks") or []:
        parsed = Chunk.parse(chunk)
        if parsed is None:
            return "invalid_chunks"
        parsed.to_dict()  # validates
        if chunk.get("type") == "markdown_text" and len(chunk.get("text") or "") > TEXT_LIMIT:
            return "msg_too_long"
        if chunk.get("type") == "task_update" and chunk.get("status") not in (
            "pending",
            "in_progress",
            "complete",
            "error",
        ):
            return "invalid_chunks"
    return None


def _start_stream(api: MockSlackApi, payload: dict[str, Any]) -> dict[str, Any]:
    channel, thread_ts = payload.get("channel"), payload.get("thread_ts")
    if not channel:
        return _error("channel_not_found")
    if not thread_ts:
        return _error("invalid_arguments", detail="thread_ts is required")
    if not str(channel).startswith("D"):  # outside a DM Slack must know who reads the stream
        if not payload.get("recipient_team_id"):
            return _error("missing_recipient_team_id")
        if not payload.get("recipient_user_id"):
            return _error("missing_recipient_user_id")
    if payload.get("task_display_mode") not in (None, "timeline", "plan"):
        return _error("invalid_arguments", detail="task_display_mode")
    problem = _chunk_problem(payload)
    if problem:
        return _error(problem)
    ts = api.next_ts()
    with api._cond:
        api.streams[ts] = {
            "channel": channel, "thread_ts": thread_ts, "state": "streaming",
            "chunks": list(payload.get("chunks") or []),
        }  # fmt: skip
    return {"ok": True, "channel": channel, "ts": ts}


def _streaming(api: MockSlackApi, payload: dict[str, Any]) -> dict[str, Any] | None:
    stream = api.streams.get(str(payload.get("ts")))
    if stream is None or stream["channel"] != payload.get("channel"):
        return _error("message_not_found")
    if stream["state"] != "streaming":
        return _error("message_not_in_streaming_state")
    problem = _chunk_problem(payload)
    return _error(problem) if problem else None


def _append_stream(api: MockSlackApi, payload: dict[str, Any]) -> dict[str, Any]:
    refused = _streaming(api, payload)
    if refused:
        return refused
    api.streams[str(payload["ts"])]["chunks"].extend(payload.get("chunks") or [])
    return {"ok": True, "channel": payload["channel"], "ts": payload["ts"]}


def _stop_stream(api: MockSlackApi, payload: dict[str, Any]) -> dict[str, Any]:
    refused = _streaming(api, payload)
    if refused:
        return refused
    if payload.get("session_status") not in (None, *SESSION_STATUSES):
        return _error("invalid_arguments", detail="session_status")
    stream = api.streams[str(payload["ts"])]
    stream["chunks"].extend(payload.get("chunks") or [])
    stream["state"] = "stopped"
    return {"ok": True, "channel": payload["channel"], "ts": payload["ts"]}


def _set_status(api: MockSlackApi, payload: dict[str, Any]) -> dict[str, Any]:
    if not (payload.get("channel_id") and payload.get("thread_ts")) or "status" not in payload:
        return _error("invalid_arguments")
    messages = payload.get("loading_messages") or []
    if len(messages) > 10 or any(len(m) > 100 for m in messages):  # Slack's limits
        return _error("invalid_arguments", detail="loading_messages")
    return {"ok": True}


def _set_prompts(api: MockSlackApi, payload: dict[str, Any]) -> dict[str, Any]:
    prompts = payload.get("prompts") or []
    if not payload.get("channel_id") or not 1 <= len(prompts) <= 4:
        return _error("invalid_arguments")
    if any(not (p.get("title") and p.get("message")) for p in prompts):
        return _error("invalid_arguments", detail="prompts need a title and a message")
    return {"ok": True}


def _set_title(api: MockSlackApi, payload: dict[str, Any]) -> dict[str, Any]:
    if not (payload.get("channel_id") and payload.get("thread_ts") and payload.get("title")):
        return _error("invalid_arguments")
    return {"ok": True}


def _session_status(api: MockSlackApi, payload: dict[str, Any]) -> dict[str, Any]:
    status = payload.get("status")
    if status not in SESSION_STATUSES:
        return _error(
            "invalid_arguments", detail=f"status must be one of {sorted(SESSION_STATUSES)}"
        )
    if not payload.get("channel_id"):  # required for channels; this bot's are in threads
        return _error("channel_not_found")
    if not payload.get("thread_ts"):
        return _error("invalid_arguments", detail="thread_ts is required for thread sessions")
    if len(payload.get("title") or "") > 200:
        return _error("invalid_arguments", detail="title")
    return {"ok": True, "status": status}


AGENT_METHODS: dict[str, Callable[[MockSlackApi, dict[str, Any]], dict[str, Any]]] = {
    "chat.startStream": _start_stream,
    "chat.appendStream": _append_stream,
    "chat.stopStream": _stop_stream,
    "assistant.threads.setStatus": _set_status,
    "assistant.threads.setSuggestedPrompts": _set_prompts,
    "assistant.threads.setTitle": _set_title,
    "agents.sessions.setStatus": _session_status,
}
