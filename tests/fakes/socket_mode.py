"""A local Socket Mode endpoint: a real websocket server (the ``websockets`` package).

It greets each connection with ``hello`` as Slack does, hands out envelopes the test gives
it, can ask the client to reconnect (``disconnect``), and records every acknowledgement the
client sends back. The mock Web API's ``apps.connections.open`` returns this server's URL.
Tests wait on conditions (``wait_connections``, ``wait_ack``), never on time.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve


class FakeSocketMode:
    """Start with ``start()``; ``url`` is what ``apps.connections.open`` should return."""

    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self.connections: list[ServerConnection] = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="fake-socket"
        )
        self.port = 0

    def start(self) -> FakeSocketMode:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._server = await serve(self._serve, "127.0.0.1", 0)
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link"

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self, connection: ServerConnection) -> None:
        with self._cond:
            self.connections.append(connection)
            self._cond.notify_all()
        await connection.send(
            json.dumps({"type": "hello", "num_connections": len(self.connections)})
        )
        async for message in connection:
            data = json.loads(message)
            with self._cond:
                self.acks.append(data)
                self._cond.notify_all()

    # ---- what a test does -----------------------------------------------------------------
    def wait_connections(self, count: int, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.connections) >= count, timeout):
                raise AssertionError(f"expected {count} connection(s), got {len(self.connections)}")

    def send(self, message: dict[str, Any]) -> None:
        """Send to the newest connection."""
        with self._cond:
            connection = self.connections[-1]
        asyncio.run_coroutine_threadsafe(connection.send(json.dumps(message)), self._loop).result(
            10
        )

    def send_envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        retry_attempt: int = 0,
        envelope_id: str | None = None,
    ) -> str:
        """Hand out one envelope (``events_api``, ``slash_commands``, ``interactive``); returns its id."""
        envelope_id = envelope_id or str(uuid.uuid4())
        self.send(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": retry_attempt,
                "retry_reason": "timeout" if retry_attempt else "",
            }
        )
        return envelope_id

    def disconnect(self, reason: str = "refresh_requested") -> None:
        self.send({"type": "disconnect", "reason": reason})

    def close_connection(self, index: int) -> None:
        """Close one connection from the server side (Slack ends a replaced one soon after)."""
        with self._cond:
            connection = self.connections[index]
        asyncio.run_coroutine_threadsafe(connection.close(), self._loop).result(10)

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((a for a in self.acks if a.get("envelope_id") == envelope_id), None)

        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None, timeout):
                raise AssertionError(f"no acknowledgement for envelope {envelope_id!r}")
            ack = found()
        assert ack is not None
        return ack
