"""Fixtures for the tool tests: a state database, the registry, a real SMTP server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from memory.db import Database
from tests.fakes.smtp import smtp_server  # noqa: F401  (a fixture)
from tools import build_tools
from tools.registry import ToolContext, ToolRegistry


@pytest.fixture
def db(data_dir: Path) -> Database:
    return Database(data_dir / "state.db")


@pytest.fixture
def registry(settings: Settings, db: Database) -> ToolRegistry:
    return build_tools(settings, db).registry


@pytest.fixture
def ctx() -> ToolContext:
    return ToolContext(user="U0LENA", channel="C0FIN", thread="1700000000.000100")
