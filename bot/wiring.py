"""Build the object graph once from ``Settings``: state, knowledge, tools, approvals, agent, service.

Nothing here does work at import; heavy parts (the embedder, the language model) are created
on first use so that commands that do not need them (``/forms``, ``doctor``) start quickly.
The workspace is input only: the tools work in a copy under the data dir (``working_copy``),
so approved actions write the copy's sheets, never the company's (or the repository's) files.
Roles come from ``RPA_ROLES``, or from the workspace's demo people when it is unset.
"""

from __future__ import annotations

import filecmp
import fnmatch
import hashlib
import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.agent import Agent, Persona, open_checkpointer
from bot.approval_flow import ActionRunner
from bot.commands import CommandHandler
from bot.config import Settings
from bot.service import Service
from memory.approvals import ApprovalStore
from memory.db import Database
from memory.leases import Lease, process_lease

if TYPE_CHECKING:
    from tools.processes import ProcessEngine

log = logging.getLogger(__name__)


@dataclass
class Roles:
    """Who holds which role: ``RPA_ROLES``, or the workspace's demo people when it is unset.

    ``demo`` says the members are the workspace's ``demo_roles`` (ids such as ``demo-manager``
    that only the terminal's ``/as`` can act as; no Slack user id looks like them).
    """

    members: dict[str, list[str]] = field(default_factory=dict)
    demo: bool = False

    @classmethod
    def configured(cls, settings: Settings) -> Roles:
        """``RPA_ROLES`` when set, else the workspace's demo roles."""
        if settings.roles:
            return cls(dict(settings.roles))
        from tools.workspace import load_profile

        demo = load_profile(settings.workspace).demo_roles
        return cls(dict(demo), demo=bool(demo))

    def of(self, user: str) -> list[str]:
        return sorted(role for role, users in self.members.items() if user in users)

    def who(self, role: str) -> list[str]:
        return list(self.members.get(role, []))


WORKING_COPY_SKIPS = (".*", "~$*", "*.lock", "*.partial")
_NOT_COPIED = ("adapter",)  # the workspace's trained adapter: the model loads it, no tool reads it


def working_copy_dir(workspace: Path, data_dir: Path) -> Path:
    """Where the data dir keeps its copy of ``workspace`` (one per workspace folder)."""
    source = Path(workspace).resolve()
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:8]
    return Path(data_dir) / "workspaces" / f"{source.name}-{digest}"


def working_copy(workspace: Path, data_dir: Path) -> Path:
    """The workspace the bot works in: a copy under the data dir, so the source stays input only.

    Every start brings the copy up to date with the source (documents, forms, processes and
    templates are read, never written), except the sheets: a sheet is copied once, when the
    copy lacks it, and from then on it is the bot's ledger that approved actions write to.
    """
    source, target = Path(workspace), working_copy_dir(workspace, data_dir)
    wanted = {
        p.relative_to(source)
        for p in source.rglob("*")
        if p.is_file() and _kept(p) and p.relative_to(source).parts[0] not in _NOT_COPIED
    }
    for relative in sorted(wanted):
        ledger = relative.parts[0] == "sheets"
        dest = target / relative
        if not dest.exists() or (not ledger and not _same(source / relative, dest)):
            _copy(source / relative, dest)
    for stale in [p for p in target.rglob("*") if p.is_file() and _kept(p)]:
        relative = stale.relative_to(target)
        if relative not in wanted and relative.parts[0] != "sheets":
            stale.unlink()  # a document or form removed from the source is gone here too
    return target


def _kept(path: Path) -> bool:
    return not any(fnmatch.fnmatch(path.name, pattern) for pattern in WORKING_COPY_SKIPS)


def _same(a: Path, b: Path) -> bool:
    # Size and mtime first (copy2 keeps the mtime), the bytes only when those differ.
    return filecmp.cmp(a, b, shallow=True)


def _copy(source: Path, dest: Path) -> None:
    """Copy atomically: a reader never sees half a file, a crash leaves only a temp file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    shutil.copy2(source, tmp)
    os.replace(tmp, dest)


class LazyKnowledge:
    """The knowledge base, opened on first use (the embedder takes a second or two to load)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._kb: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._kb is None:
                from memory.knowledge import KnowledgeBase

                store = self.settings.chroma_url or self.settings.chroma_dir
                self._kb = KnowledgeBase(store, self.settings.embedder, self.settings.collection)
            return self._kb


@dataclass
class App:
    """Everything a surface or command needs, built from one ``Settings``."""

    settings: Settings
    db: Database
    roles: Roles
    knowledge: LazyKnowledge
    registry: Any
    approvals: ApprovalStore
    engine: ProcessEngine
    actions: ActionRunner
    service: Service


def build_app(settings: Settings, *, chat_model: Any = None, with_model: bool = True) -> App:
    """Assemble the application. ``chat_model`` overrides the configured model (tests)."""
    from tools import build_tools
    from tools.forms import load_forms

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    roles = Roles.configured(settings)
    # The tools work in the data dir's copy of the workspace, under the roles in effect.
    settings = settings.model_copy(
        update={
            "workspace": working_copy(settings.workspace, settings.data_dir),
            "roles": roles.members,
        }
    )
    db = Database(settings.state_store)
    knowledge = LazyKnowledge(settings)
    # One owner id and lease for every claim this process takes (actions, process runs).
    lease = Lease(process_lease().owner, settings.lease_seconds)
    approvals = ApprovalStore(db, ttl=timedelta(minutes=settings.approval_ttl_minutes), lease=lease)
    registry, engine = build_tools(settings, db, knowledge=knowledge, lease=lease)
    actions = ActionRunner(
        approvals, registry, roles_of=roles.of, role_members=roles.who, engine=engine
    )
    engine.attach_approvals(approvals)

    def search(query: str, k: int) -> Any:
        from tools.docs import search_process_docs

        return search_process_docs(knowledge.get(), query, k)

    commands = CommandHandler(
        registry=registry,
        actions=actions,
        roles_of=roles.of,
        forms=lambda: load_forms(settings.workspace),
        engine=engine,
        search=search,
    )

    def make_agent() -> Agent:
        model = chat_model
        if model is None:
            from bot.llm import make_chat_model

            model = make_chat_model(settings)
        return Agent(
            model,
            open_checkpointer(settings.state_store),
            persona=Persona.of(settings.workspace),
            clock=lambda: settings.today or date.today(),
            context_window=settings.context_window,
        )

    service = Service(
        agent_factory=make_agent if (with_model or chat_model is not None) else None,
        registry=registry,
        actions=actions,
        commands=commands,
        roles_of=roles.of,
        workers=settings.workers,
        prefetch_docs=settings.prefetch_docs,
    )
    actions.remember = service.remember
    return App(settings, db, roles, knowledge, registry, approvals, engine, actions, service)
