"""Exactly once across a crash: kill the process (SIGKILL) between approval and send.

A child process approves a proposed email and is killed at one of four points; a fresh
process then starts the bot (``recover``) and the real SMTP server must hold exactly one
message, whatever the point. Recovering twice changes nothing.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import REPO_ROOT, Settings
from bot.wiring import build_app
from tests.fakes.smtp import SmtpServer, smtp_server  # noqa: F401  (fixture)

DRIVER = Path(__file__).with_name("action_crash_driver.py")
KILL_POINTS = ["after_decision", "after_claim", "after_enqueue", "after_send"]


def smtp_settings(workspace: Path, data_dir: Path, port: int) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, workspace=workspace, data_dir=data_dir,
        smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
    )  # fmt: skip


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_one_email_after_a_kill_between_approval_and_send(
    kill_at: str,
    workspace: Path,
    data_dir: Path,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    settings = smtp_settings(workspace, data_dir, smtp_server.port)
    app = build_app(settings, with_model=False)
    action = app.approvals.create(
        tool="send_email",
        arguments={
            "to": ["finance@acme.example"],
            "subject": "Claim EXP-01001",
            "body": "Please pay.",
        },
        summary="Send an email to finance@acme.example",
        requester="U1",
    )
    app.service.close()

    child = subprocess.run(
        [sys.executable, str(DRIVER), str(workspace), str(data_dir), str(smtp_server.port), action.id, kill_at],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert len(smtp_server.received) == (1 if kill_at == "after_send" else 0)

    restarted = build_app(settings, with_model=False)
    report = restarted.service.recover()
    assert restarted.service.recover() == []  # a second start finds nothing left to do
    restarted.service.close()

    assert len(smtp_server.received) == 1, report
    assert smtp_server.received[0].message["Subject"] == "Claim EXP-01001"
    assert restarted.approvals.get(action.id).status == "done"
