"""What the agent can do: the one explicit list of tools, built from the settings.

``build_tools(settings, db, knowledge)`` is the only place that assembles the registry (and
the process engine, whose steps run through that registry); the agent (through LangChain),
the slash commands and ``rpa-agent tool run`` all use what it returns. Nothing here imports Slack or ``bot``: ``settings`` is read through the attributes
``ToolSettings`` names (``bot.config.Settings`` has them all).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from memory.db import Database
from memory.drafts import DraftStore
from memory.submissions import SubmissionStore
from tools.email import EmailTemplates, Outbox, SmtpConfig, make_email_tools
from tools.forms import load_forms, make_form_tools
from tools.registry import ToolContext, ToolOutput, ToolPolicy, ToolRegistry, ToolResult, ToolSpec
from tools.sheets import Sheets, make_sheet_tools

__all__ = [
    "ToolContext",
    "ToolOutput",
    "ToolPolicy",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "Toolset",
    "build_outbox",
    "build_tools",
]


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class ToolSettings(Protocol):
    """The settings the tools read (a subset of ``bot.config.Settings``)."""

    @property
    def workspace(self) -> Path: ...
    @property
    def outbox_dir(self) -> Path: ...
    @property
    def smtp_host(self) -> str | None: ...
    @property
    def smtp_port(self) -> int: ...
    @property
    def smtp_security(self) -> Literal["none", "starttls", "ssl"]: ...
    @property
    def smtp_username(self) -> str | None: ...
    @property
    def smtp_password(self) -> _Secret | None: ...
    @property
    def smtp_timeout(self) -> float: ...
    @property
    def mail_from(self) -> str: ...
    @property
    def email_allowed_domains(self) -> list[str]: ...
    @property
    def roles(self) -> dict[str, list[str]]: ...
    @property
    def tool_policy(self) -> dict[str, dict[str, list[str]]]: ...


def build_outbox(settings: ToolSettings, db: Database) -> Outbox:
    """The outbox as configured: SMTP when ``smtp_host`` is set, else .eml files."""
    smtp = None
    if settings.smtp_host:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        smtp = SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=password,
            timeout=settings.smtp_timeout,
        )
    return Outbox(
        db,
        sender=settings.mail_from,
        allowed_domains=settings.email_allowed_domains,
        smtp=smtp,
        file_dir=settings.outbox_dir,
    )


class Toolset(NamedTuple):
    """What ``build_tools`` returns; unpacks as ``registry, engine``."""

    registry: ToolRegistry
    engine: Any  # tools.processes.ProcessEngine, or None when that package is absent


def build_tools(settings: ToolSettings, db: Database, knowledge: Any = None) -> Toolset:
    """Every tool, in one list, over these settings and this database."""
    workspace = Path(settings.workspace)
    forms = load_forms(workspace)
    specs: list[ToolSpec] = []
    if knowledge is not None:
        specs += _docs_tools(knowledge)
    specs += make_form_tools(forms, SubmissionStore(db))
    specs += make_sheet_tools(Sheets(workspace))
    specs += make_email_tools(
        build_outbox(settings, db), EmailTemplates(workspace / "templates"), DraftStore(db)
    )
    engine, process_specs = _process_tools(db, workspace, forms)
    specs += process_specs
    registry = ToolRegistry(specs, db, ToolPolicy(settings.tool_policy, settings.roles))
    if engine is not None:
        engine.attach(registry)  # the engine runs its steps through this same registry
    return Toolset(registry, engine)


def _process_tools(
    db: Database, workspace: Path, forms: dict[str, Any]
) -> tuple[Any, list[ToolSpec]]:
    """The process engine and its tools (``tools.processes``), when that package is present."""
    try:
        processes = importlib.import_module("tools.processes")
        runs = importlib.import_module("memory.runs")
    except ModuleNotFoundError as exc:
        if exc.name not in ("tools.processes", "memory.runs"):
            raise
        return None, []
    engine = processes.ProcessEngine(runs.RunStore(db), workspace, forms=forms)
    return engine, list(processes.make_process_tools(engine))


def _docs_tools(knowledge: Any) -> list[ToolSpec]:
    """``tools.docs.make_docs_tools(kb)`` when that module provides it."""
    try:
        docs = importlib.import_module("tools.docs")
    except ModuleNotFoundError as exc:
        if exc.name != "tools.docs":
            raise
        return []
    make = getattr(docs, "make_docs_tools", None)
    return list(make(knowledge)) if make else []
