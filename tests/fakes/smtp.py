"""A real SMTP server (aiosmtpd) on an ephemeral loopback port, for delivery tests.

It records every message it accepted; it can go down and come back on the same port, refuse
recipients, and stall after receiving the message data (it keeps the message but answers only
when released), which is how a client meets "timeout after DATA".
"""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.data)

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class _Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.stall = False
        self.released = threading.Event()
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content or envelope.content,
                )
            )
        if self.stall:
            # Keep the message and say nothing until the test lets go (as a hung server would).
            await server.loop.run_in_executor(None, self.released.wait, 30)
        return "250 Message accepted for delivery"


class SmtpServer:
    """Start, stop, restart and inspect a loopback SMTP server."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.handler = _Handler()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def start(self) -> None:
        self._controller = Controller(
            self.handler, hostname=self.host, port=self.port, ready_timeout=10
        )
        self._controller.start()

    def stop(self) -> None:
        self.handler.released.set()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def stall_after_data(self) -> None:
        self.handler.stall = True
        self.handler.released.clear()

    def unstall(self) -> None:
        self.handler.stall = False
        self.handler.released.set()

    def refuse(self, address: str) -> None:
        self.handler.refuse.add(address)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
