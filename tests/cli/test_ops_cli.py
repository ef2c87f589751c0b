"""``rpa-agent chat`` with piped input and ``rpa-agent doctor``, through the real CLI app."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

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
        "2026-11-20",  # expense date
        "transport",  # category
        "42",  # amount
        "Taxi from Lyon airport to the customer",  # description
        "",  # project code (optional)
        "yes",  # receipt attached
        "/quit",
    ]
    code, out = run(cli, "chat", stdin="\n".join(answers) + "\n")
    assert code == 0, out
    ledger = openpyxl.load_workbook(workspace / "sheets" / "expenses.xlsx")["Claims"]
    rows = [[c.value for c in row] for row in ledger.iter_rows(min_row=2)]
    assert any("Taxi from Lyon airport" in str(r) for r in rows), rows
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
