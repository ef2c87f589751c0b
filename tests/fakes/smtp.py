"""A real SMTP server (aiosmtpd) on an ephemeral loopback port, for delivery tests.

It records every message it accepted; it can go down and come back on the same port, refuse
recipients, delay its greeting, its answer to DATA or its answer after storing a message (or
stall there until released: how a client meets "timeout after DATA"), and refuse a message
after its data (451, not stored). ``start_imap`` opens a small IMAP face on the same store, as
a mail server that files what it accepts into a mailbox does: a client can search it by
Message-ID (``tools.delivery_check.ImapCheck``).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage, Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


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


@dataclass
class Delays:
    """Seconds the server waits before its greeting, its 354 to DATA, its answer after storing."""

    greeting: float = 0.0
    data: float = 0.0
    after_store: float = 0.0


class _Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.stall = False
        self.released = threading.Event()
        self.refuse: set[str] = set()
        self.delays = Delays()
        self.refuse_data: str | None = None  # e.g. "451 4.3.0 try later": not stored

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_data:
            return self.refuse_data
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
        await asyncio.sleep(self.delays.after_store)
        return "250 Message accepted for delivery"


class _SlowSMTP(SMTP):
    """aiosmtpd's server, waiting where ``Delays`` says before it answers."""

    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.delays = handler.delays

    async def _handle_client(self) -> None:
        await asyncio.sleep(self.delays.greeting)
        await super()._handle_client()

    async def smtp_DATA(self, arg: str) -> None:
        await asyncio.sleep(self.delays.data)
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _SlowSMTP(self.handler, **self.SMTP_kwargs)


class SmtpServer:
    """Start, stop, restart and inspect a loopback SMTP server."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.handler = _Handler()
        self._controller: Controller | None = None
        self._imap: socketserver.ThreadingTCPServer | None = None

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def start(self) -> None:
        self._controller = _Controller(
            self.handler, hostname=self.host, port=self.port, ready_timeout=10
        )
        self._controller.start()

    def stop(self) -> None:
        self.handler.released.set()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def close(self) -> None:
        """Stop the SMTP server and the IMAP face."""
        self.stop()
        if self._imap is not None:
            self._imap.shutdown()
            self._imap.server_close()
            self._imap = None

    def reset(self) -> None:
        """Forget what was received (between the rounds of one test)."""
        with self.handler.lock:
            self.handler.received.clear()

    def messages(self) -> list[EmailMessage]:
        """The accepted messages, parsed (modern API: ``get_content()``)."""
        return [
            email.message_from_bytes(r.data, policy=email.policy.default)  # type: ignore[misc]
            for r in self.received
        ]

    def envelopes(self) -> list[tuple[str, list[str]]]:
        return [(r.sender, r.recipients) for r in self.received]

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages()]

    @property
    def delays(self) -> Delays:
        return self.handler.delays

    def refuse_after_data(self, reply: str | None = "451 4.3.0 please try again later") -> None:
        """Answer the end of the data with ``reply`` and keep nothing (None: accept again)."""
        self.handler.refuse_data = reply

    def start_imap(self) -> str:
        """Open the IMAP face; returns the ``RPA_SMTP_CHECK_URL`` that reaches it."""
        store = self

        class Session(_ImapSession):
            server_store = store

        self._imap = socketserver.ThreadingTCPServer((self.host, 0), Session)
        self._imap.daemon_threads = True
        threading.Thread(target=self._imap.serve_forever, daemon=True).start()
        return f"imap://rpa-bot@{self.host}:{self._imap.server_address[1]}/Sent"

    def stall_after_data(self) -> None:
        self.handler.stall = True
        self.handler.released.clear()

    def unstall(self) -> None:
        self.handler.stall = False
        self.handler.released.set()

    def refuse(self, address: str) -> None:
        self.handler.refuse.add(address)


class _ImapSession(socketserver.StreamRequestHandler):
    """Just enough IMAP4rev1 for ``imaplib``: LOGIN, SELECT/EXAMINE, SEARCH by header, LOGOUT."""

    server_store: SmtpServer

    def handle(self) -> None:
        self.say("* OK IMAP4rev1 fake ready")
        for raw in self.rfile:
            tag, _, rest = raw.decode("utf-8", "replace").strip().partition(" ")
            command, _, argument = rest.partition(" ")
            if not self.answer(tag, command.upper(), argument):
                return

    def answer(self, tag: str, command: str, argument: str) -> bool:
        received = self.server_store.received
        if command == "CAPABILITY":
            self.say("* CAPABILITY IMAP4rev1")
        elif command in ("SELECT", "EXAMINE"):
            self.say(f"* {len(received)} EXISTS")
            self.say(f"{tag} OK [READ-ONLY] {command} completed")
            return True
        elif command == "SEARCH":
            wanted = re.findall(r'"([^"]*)"', argument)[-1:] or [""]
            hits = [str(n) for n, r in enumerate(received, 1) if r.message_id == wanted[0]]
            self.say("* SEARCH" + "".join(f" {h}" for h in hits))
        elif command == "LOGOUT":
            self.say("* BYE")
            self.say(f"{tag} OK LOGOUT completed")
            return False
        elif command not in ("LOGIN", "NOOP"):
            self.say(f"{tag} BAD unknown command")
            return True
        self.say(f"{tag} OK {command} completed")
        return True

    def say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")


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
        server.close()
