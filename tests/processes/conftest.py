"""Fixtures of the process tests: a real SMTP server (aiosmtpd on loopback, ``tests.fakes.smtp``)
that records every message it accepts, and a real engine over a private copy of the demo
workspace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from tests.fakes.smtp import SmtpServer, smtp_server  # noqa: F401  (a fixture)
from tests.processes.harness import build_engine, make_settings
from tools.process_engine import ProcessEngine
from tools.registry import ToolRegistry


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
def rig(workspace: Path, data_dir: Path, smtp_server: SmtpServer) -> Rig:  # noqa: F811
    settings = make_settings(workspace, data_dir, smtp_server.port)
    told: list[tuple[str, str]] = []
    engine, registry, _ = build_engine(settings, notify=lambda run, msg: told.append((run.id, msg)))
    return Rig(engine, registry, settings, smtp_server, told)
