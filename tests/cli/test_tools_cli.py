"""``rpa-agent tool list | tool run``, ``audit`` and ``outbox`` through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from bot.wiring import working_copy_dir
from tests.cli.conftest import run


def test_tool_list(cli: CliRunner) -> None:
    code, out = run(cli, "tool", "list")
    assert code == 0
    for name in ("read_sheet", "submit_form", "send_email", "describe_form"):
        assert name in out


def test_tool_run_read(cli: CliRunner) -> None:
    code, out = run(
        cli,
        "tool",
        "run",
        "read_sheet",
        "--json",
        "--args",
        '{"path": "vendors.xlsx", "filters": {"Country": "FR"}}',
    )
    assert code == 0, out
    payload = json.loads(out)
    assert payload["ok"] and payload["data"]["rows"][0]["Vendor ID"] == "V-0098"


def test_write_tool_asks_and_a_no_changes_nothing(
    cli: CliRunner, workspace: Path, data_dir: Path
) -> None:
    ledger = working_copy_dir(workspace, data_dir) / "sheets" / "leave.xlsx"  # the bot's copy
    args = '{"path": "leave.xlsx", "values": {"Request ID": "LV-01001", "Days": 2}}'
    code, out = run(cli, "tool", "run", "append_sheet_row", "--args", args, stdin="n\n")
    assert code == 1 and "Approve?" in out and "Add a row to leave.xlsx" in out
    assert len(pd.read_excel(ledger)) == 3
    code, out = run(cli, "tool", "run", "append_sheet_row", "--args", args, stdin="y\n")
    assert code == 0, out
    assert list(pd.read_excel(ledger)["Request ID"])[-1] == "LV-01001"


def test_yes_submits_and_audit_shows_it(cli: CliRunner) -> None:
    values = {"system": "vpn", "access_level": "read", "justification": "Remote work from Lyon"}
    code, out = run(
        cli,
        "tool",
        "run",
        "submit_form",
        "--yes",
        "--args",
        json.dumps({"form": "it_access", "values": values}),
    )
    assert code == 0 and "ITA-01001" in out
    code, out = run(
        cli, "tool", "run", "submit_form", "--yes", "--args", '{"form": "it_access", "values": {}}'
    )
    assert code == 1 and "system" in out
    code, out = run(cli, "audit", "--tool", "submit_form", "--status", "ok", "--json")
    assert code == 0
    [entry] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert (entry["tool"], entry["user"], entry["status"]) == ("submit_form", "U0CLI", "ok")
    assert entry["approval_id"].startswith("cli-")
    code, out = run(cli, "audit", "--status", "invalid", "--json")
    assert [json.loads(line)["tool"] for line in out.splitlines() if line.startswith("{")] == [
        "submit_form"
    ]


def test_bad_json_and_unknown_tool(cli: CliRunner) -> None:
    code, out = run(cli, "tool", "run", "read_sheet", "--args", "{not json")
    assert code == 2 and "not valid JSON" in out
    code, out = run(cli, "tool", "run", "fly_to_moon")
    assert code == 2 and "fly_to_moon" in out


def test_send_email_and_outbox(cli: CliRunner, data_dir: Path) -> None:
    args = '{"to": "hr@acme.example", "subject": "Hello", "body": "From the CLI"}'
    code, out = run(cli, "tool", "run", "send_email", "-y", "--args", args)
    assert code == 0 and "outbox" in out
    assert len(list((data_dir / "outbox").glob("*.eml"))) == 1
    code, out = run(cli, "outbox", "--status", "sent", "--json")
    [row] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert code == 0 and row["recipients"] == ["hr@acme.example"] and row["status"] == "sent"
    code, out = run(cli, "outbox", "--retry", "M-missing")
    assert code == 1 and "M-missing" in out
