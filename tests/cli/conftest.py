"""The CLI app under test: this test's workspace and data dir through the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import bot.cli.common
from bot.cli import get_app


@pytest.fixture
def cli(workspace: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("RPA_WORKSPACE", str(workspace))
    monkeypatch.setenv("RPA_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RPA_TERMINAL_USER", "U0CLI")
    monkeypatch.setattr(bot.cli.common, "_settings", None)  # read this test's environment
    return CliRunner()


def run(cli: CliRunner, *args: str, stdin: str | None = None) -> tuple[int, str]:
    """Invoke ``rpa-agent ARGS``; an unexpected exception fails the test with its traceback."""
    result = cli.invoke(get_app(), list(args), input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output
