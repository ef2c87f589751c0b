"""Fixtures of the process tests: a real SMTP server (aiosmtpd on loopback) that records every
message it accepts, and a real engine over a private copy of the demo workspace."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bot.config import Settings
from tests.processes.harness import build_engine, make_settings
from tools.process_engine import ProcessEngine
from tools.registry import ToolRegistry


@dataclass
class Mailbox:
    """What the SMTP server accepted, in order."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox


def _free_port() -> int:
    # aiosmtpd's start-up self-check needs the real port, so ask the OS for a free one first.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(port, mailbox)
    finally:
        controller.stop()


@dataclass
class Rig:
    """An engine with everything it runs over, plus the notices a surface would have shown."""

    engine: ProcessEngine
    registry: ToolRegistry
    settings: Settings
    smtp: SmtpServer
    told: list[tuple[str, str]]

    @property
    def db(self) -> Any:
        return self.engine.runs.db


@pytest.fixture
def rig(workspace: Path, data_dir: Path, smtp_server: SmtpServer) -> Rig:
    settings = make_settings(workspace, data_dir, smtp_server.port)
    told: list[tuple[str, str]] = []
    engine, registry, _ = build_engine(settings, notify=lambda run, msg: told.append((run.id, msg)))
    return Rig(engine, registry, settings, smtp_server, told)
