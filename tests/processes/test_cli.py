"""``rpa-agent process ...`` through typer's runner, over the real wiring and a private workspace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import bot.cli.common
from bot.cli import process_cmds
from tests.processes.test_engine import expense

runner = CliRunner()


@pytest.fixture
def cli(workspace: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    monkeypatch.setenv("RPA_WORKSPACE", str(workspace))
    monkeypatch.setenv("RPA_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RPA_ROLES", json.dumps({"admin": ["U_ADMIN"], "manager": ["U_MGR"]}))
    monkeypatch.setattr(bot.cli.common, "_settings", None)
    app = typer.Typer()
    process_cmds.register(app)
    yield app
    monkeypatch.setattr(bot.cli.common, "_settings", None)


def test_list_shows_the_demo_processes(cli: typer.Typer) -> None:
    result = runner.invoke(cli, ["process", "list"])
    assert result.exit_code == 0, result.output
    for name in ("expense_reimbursement", "leave_request", "vendor_onboarding"):
        assert name in result.output


def test_run_with_json_inputs_then_status_and_cancel(cli: typer.Typer) -> None:
    inputs = json.dumps(expense(640))
    started = runner.invoke(
        cli,
        [
            "process",
            "run",
            "expense_reimbursement",
            "--inputs",
            inputs,
            "--user",
            "U_EMP",
            "--yes",
            "--json",
        ],
    )
    assert started.exit_code == 0, started.output
    report = json.loads(started.output[started.output.index("{") :])
    assert report["status"] == "waiting_approval" and report["waiting_for"]["role"] == "manager"
    status = runner.invoke(cli, ["process", "status", report["reference"]])
    assert status.exit_code == 0 and "waiting for manager approval" in status.output
    refused = runner.invoke(cli, ["process", "cancel", report["run_id"], "--user", "U_OTHER"])
    assert refused.exit_code == 2 and "may not cancel" in refused.output
    cancelled = runner.invoke(cli, ["process", "cancel", report["run_id"], "--user", "U_ADMIN"])
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    runs = runner.invoke(cli, ["process", "list", "--runs"])
    assert report["run_id"] in runs.output and "cancelled" in runs.output


def test_run_prompts_field_by_field(cli: typer.Typer) -> None:
    values = expense(12)
    answers = [values["expense_date"], "meals", "12", "Coffee with the auditor", "", "y", "y"]
    result = runner.invoke(
        cli,
        ["process", "run", "expense_reimbursement", "--user", "U_EMP"],
        input="\n".join(answers) + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "Project code" in result.output and "done" in result.output


def test_bad_inputs_are_named_and_nothing_starts(cli: typer.Typer) -> None:
    result = runner.invoke(
        cli, ["process", "run", "expense_reimbursement", "--inputs", '{"amount": "x"}', "--yes"]
    )
    assert result.exit_code == 2
    assert "amount" in result.output and "category" in result.output
    assert "R-" not in runner.invoke(cli, ["process", "list", "--runs"]).output
    unknown = runner.invoke(cli, ["process", "run", "payroll", "--yes"])
    assert unknown.exit_code == 2 and "no process named 'payroll'" in unknown.output
    missing = runner.invoke(cli, ["process", "status", "R-nothere"])
    assert missing.exit_code == 2 and "R-nothere" in missing.output
