"""``rpa-agent chat`` with piped input and ``rpa-agent doctor``, through the real CLI app."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

import bot.cli.common
from bot.wiring import working_copy_dir
from tests.cli.conftest import run
from tests.fakes.slack_api import MockSlackApi


@pytest.fixture(autouse=True)
def _ingested(data_dir: Path, demo_chroma: Path) -> None:
    """Start-up ingestion then has nothing to do: the demo documents are already in."""
    shutil.copytree(demo_chroma, data_dir / "chroma")


def test_piped_chat_answers_commands_without_a_model(cli: CliRunner) -> None:
    code, out = run(cli, "chat", stdin="/help\n/forms\n/docs taxi receipts above 25 EUR\n/quit\n")
    assert code == 0
    assert "/approve ID" in out
    assert "expense_claim" in out and "leave_request" in out
    assert "Expense Reimbursement Policy" in out  # a citation of the search


def test_piped_chat_runs_a_process_field_by_field(
    cli: CliRunner, workspace: Path, data_dir: Path
) -> None:
    answers = [
        "/run expense_reimbursement",
        "yesterday",  # expense date
        "transport",  # category
        "42,50",  # amount, with a decimal comma
        "Taxi to the trade fair in hall 7",  # description
        "",  # project code (optional)
        "yes",  # receipt attached
        "/quit",
    ]
    source = workspace / "sheets" / "expenses.xlsx"
    before = source.read_bytes()
    code, out = run(cli, "chat", stdin="\n".join(answers) + "\n")
    assert code == 0, out
    ledger_file = working_copy_dir(workspace, data_dir) / "sheets" / "expenses.xlsx"
    ledger = openpyxl.load_workbook(ledger_file)["Claims"]
    rows = [[c.value for c in row] for row in ledger.iter_rows(min_row=2)]
    claim = next(r for r in rows if "trade fair in hall 7" in str(r))
    assert 42.5 in claim, claim
    assert source.read_bytes() == before  # the workspace is input only
    mails = list((data_dir / "outbox").glob("**/*.eml"))
    assert mails, out  # the notification to finance, written as a file without SMTP


def test_piped_chat_reports_field_errors_and_asks_again(cli: CliRunner) -> None:
    answers = ["/form leave_request", "sick", "tomorrow", "", "", "", "", "/quit"]
    code, out = run(cli, "chat", stdin="\n".join(answers) + "\n")
    assert code == 0
    assert "start_date" in out or "Start date" in out


def test_unknown_slash_command_gets_help(cli: CliRunner) -> None:
    code, out = run(cli, "chat", stdin="/frobnicate\n")
    assert code == 0 and "Unknown command /frobnicate" in out


def test_the_chat_logs_to_a_file_and_says_where_once(cli: CliRunner, data_dir: Path) -> None:
    code, out = run(cli, "chat", stdin="/docs taxi receipts\n/quit\n")
    assert code == 0, out
    log = data_dir / "logs" / "rpa-agent.log"
    assert out.count("Logs: ") == 1 and str(log.name) in out
    assert " INFO " not in out and "Warning" not in out  # nothing of the logs on the screen
    assert "INFO bot.cli.ops: terminal chat: workspace" in log.read_text(encoding="utf-8")


def test_demo_roles_are_said_plainly_when_none_are_configured(cli: CliRunner) -> None:
    code, out = run(cli, "chat", stdin="/as manager\n/as\n/quit\n")
    assert code == 0, out
    assert "No roles are configured (RPA_ROLES)" in out
    assert "You are now demo-manager, the demo person who holds the 'manager' role." in out


def test_version(cli: CliRunner) -> None:
    code, out = run(cli, "--version")
    assert code == 0 and re.fullmatch(r"rpa-agent \d+\.\d+\.\d+\S*\n", out), out


def test_tool_list_shows_descriptions_as_written(cli: CliRunner) -> None:
    code, out = run(cli, "tool", "list")
    assert code == 0 and "[n]" in out.replace("\n", " ")  # "cite it as [n]", not eaten as markup


def test_model_prepare_says_why_it_cannot(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPA_MODEL", "/nowhere/model.gguf")
    code, out = run(cli, "model", "prepare")
    assert code == 1 and "does not exist" in out
    monkeypatch.setenv("RPA_LLM_BACKEND", "remote")
    monkeypatch.setenv("RPA_REMOTE_BASE_URL", "http://gpu-box:8000/v1")
    monkeypatch.setattr(bot.cli.common, "_settings", None)
    code, out = run(cli, "model", "prepare")
    assert code == 0 and "nothing to prepare" in out


def test_doctor_masks_secrets_and_says_what_slack_lacks(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPA_SMTP_PASSWORD", "very-secret-password")
    code, out = run(cli, "doctor")
    assert code == 0, out
    assert "very-secret-password" not in out
    assert "torch" in out and "transformers" in out
    assert "missing SLACK_BOT_TOKEN" in out
    assert "SmolLM2" in out or "embedded" in out
    verdict = out[out.index("Verdict") :]
    assert "rpa-agent model prepare" in verdict  # this data dir never prepared the model
    assert "not trained for this workspace" in verdict
    assert "no roles are configured (RPA_ROLES)" in verdict and "RPA_ROLES=" in verdict
    assert "Slack is not connected" in verdict and "documents: " in verdict


def test_doctor_names_roles_nobody_holds(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPA_ROLES", '{"manager": ["U1"]}')
    code, out = run(cli, "doctor")
    assert code == 0, out
    verdict = out[out.index("Verdict") :]
    assert "nobody holds 'director'" in verdict.replace("\n", " ")
    assert "'manager'" not in verdict.split("nobody holds", 1)[1].split("fix:")[0]


def test_doctor_checks_slack_tokens_with_auth_test(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = MockSlackApi().start()
    try:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token-0000000000")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-for-tests")
        monkeypatch.setenv("RPA_SLACK_API_URL", api.base_url)
        code, out = run(cli, "doctor")
        assert code == 0, out
        assert "mode: http" in out
        assert api.calls_to("auth.test")
        assert "xoxb-test-token-0000000000" not in out
    finally:
        api.stop()


def test_train_data_writes_splits_with_cited_answers(cli: CliRunner, data_dir: Path) -> None:
    code, out = run(cli, "train", "data", "--quick", "--name", "smoke", "--today", "2026-03-20")
    assert code == 0, out
    directory = data_dir / "training" / "smoke"
    report = (directory / "report.md").read_text(encoding="utf-8")
    assert "| answer |" in report and "start_process:expense_claim" in report
    assert all((directory / f"{s}.jsonl").stat().st_size for s in ("train", "validation", "test"))
