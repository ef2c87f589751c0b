"""Builds a real process engine for tests and for the crash driver: real SQLite, real sheets,
real outbox delivering over SMTP to a local server, and the real registry (audited calls)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.config import Settings
from memory.approvals import ApprovalStore
from memory.db import Database
from tools import build_tools
from tools.process_engine import ProcessEngine, StepHook
from tools.registry import ToolRegistry

# The demo vendor in the tests lives at this domain; mail may go there in these tests only.
VENDOR_DOMAIN = "nordic-bearings.example"


def make_settings(workspace: Path, data_dir: Path, smtp_port: int | None) -> Settings:
    extra: dict[str, Any] = {}
    if smtp_port is not None:
        extra = {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_security": "none",
            "smtp_timeout": 5.0,
        }
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        workspace=workspace,
        data_dir=data_dir,
        email_allowed_domains=["acme.example", VENDOR_DOMAIN],
        roles={
            "manager": ["U_MGR"],
            "director": ["U_DIR"],
            "procurement": ["U_PROC"],
            "finance": ["U_FIN"],
            "admin": ["U_ADMIN"],
        },
        **extra,
    )


def build_engine(
    settings: Settings,
    *,
    notify: Any = None,
    on_step_applied: StepHook | None = None,
    on_step_done: StepHook | None = None,
) -> tuple[ProcessEngine, ToolRegistry, Database]:
    """The engine as the application wires it (``build_tools``), plus the test's hooks."""
    db = Database(settings.state_db)
    registry, engine = build_tools(settings, db)
    engine.attach_approvals(ApprovalStore(db, ttl=timedelta(minutes=settings.approval_ttl_minutes)))
    engine.set_notifier(notify)
    engine.on_step_applied = on_step_applied
    engine.on_step_done = on_step_done
    return engine, registry, db
