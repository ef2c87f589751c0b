"""What the agent can do: the one explicit list of tools, built from the settings.

``build_tools(settings, db, knowledge)`` is the only place that assembles the registry (and
the process engine, whose steps run through that registry); the agent (through LangChain),
the slash commands and ``rpa-agent tool run`` all use what it returns. Nothing here imports Slack or ``bot``: ``settings`` is read through the attributes
``ToolSettings`` names (``bot.config.Settings`` has them all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from memory.db import Database
from memory.drafts import DraftStore
from memory.leases import Lease
from memory.runs import RunStore
from memory.sheet_writes import SheetWriteJournal
from memory.submissions import SubmissionStore
from tools.delivery_check import imap_check
from tools.docs import make_docs_tools
from tools.email import EmailTemplates, Outbox, SmtpConfig, make_email_tools
from tools.form_input import conventions_of, with_exact_values
from tools.forms import load_forms, make_form_tools
from tools.processes import ProcessEngine, make_process_tools
from tools.registry import ToolContext, ToolOutput, ToolPolicy, ToolRegistry, ToolResult, ToolSpec
from tools.sheets import Sheets, make_sheet_tools
from tools.workspace import load_profile

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
    def smtp_check_url(self) -> str | None: ...
    @property
    def smtp_check_password(self) -> _Secret | None: ...
    @property
    def mail_from(self) -> str | None: ...
    @property
    def email_allowed_domains(self) -> list[str]: ...
    @property
    def roles(self) -> dict[str, list[str]]: ...
    @property
    def tool_policy(self) -> dict[str, dict[str, list[str]]]: ...


def build_outbox(settings: ToolSettings, db: Database) -> Outbox:
    """The outbox as configured: SMTP when ``smtp_host`` is set, else .eml files.

    Sender and allowed domains default to the workspace's own (``workspace.yaml``); with
    ``smtp_check_url`` an interrupted send is looked up in that mailbox by Message-ID.
    """
    profile = load_profile(Path(settings.workspace))
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
    check = None
    if smtp is not None and settings.smtp_check_url:
        secret = settings.smtp_check_password
        check = imap_check(
            settings.smtp_check_url,
            secret.get_secret_value() if secret else None,
            timeout=settings.smtp_timeout,
        )
    return Outbox(
        db,
        sender=settings.mail_from or profile.bot_address,
        allowed_domains=settings.email_allowed_domains or profile.company.mail_domains,
        smtp=smtp,
        file_dir=settings.outbox_dir,
        check=check,
    )


class Toolset(NamedTuple):
    """What ``build_tools`` returns; unpacks as ``registry, engine``."""

    registry: ToolRegistry
    engine: ProcessEngine


def build_tools(
    settings: ToolSettings, db: Database, knowledge: Any = None, lease: Lease | None = None
) -> Toolset:
    """Every tool, in one list, over these settings and this database; ``lease``: how this
    process claims the process runs it advances (default: the process's own)."""
    workspace = Path(settings.workspace)
    forms = load_forms(workspace)
    specs: list[ToolSpec] = []
    if knowledge is not None:
        specs += make_docs_tools(knowledge)
    specs += make_form_tools(forms, SubmissionStore(db))
    specs += make_sheet_tools(Sheets(workspace, journal=SheetWriteJournal(db)))
    outbox = build_outbox(settings, db)
    mailboxes = load_profile(workspace).mailboxes
    templates = EmailTemplates(workspace / "templates")
    specs += make_email_tools(outbox, templates, DraftStore(db), mailboxes)
    engine = ProcessEngine(RunStore(db, lease=lease), workspace, forms=forms)
    specs += make_process_tools(engine)
    conventions = conventions_of(workspace)
    wraps = {n: str(p.form) for n, p in engine.definitions().items() if p.form}
    clock = lambda: getattr(settings, "today", None) or conventions.today()  # noqa: E731
    specs = with_exact_values(specs, forms, wraps, conventions, clock)
    registry = ToolRegistry(specs, db, ToolPolicy(settings.tool_policy, settings.roles))
    engine.attach(registry)  # the engine runs its steps through this same registry
    engine.attach_outbox(outbox)  # ... and waits on this outbox for its emails' delivery
    return Toolset(registry, engine)
