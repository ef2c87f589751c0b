"""Build the object graph once from ``Settings``: state, knowledge, tools, approvals, agent, service.

Nothing here does work at import; heavy parts (the embedder, the language model) are created
on first use so that commands that do not need them (``/forms``, ``doctor``) start quickly.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.agent import Agent, Persona, open_checkpointer
from bot.approval_flow import ActionRunner
from bot.commands import CommandHandler
from bot.config import Settings
from bot.service import Service
from memory.approvals import ApprovalStore
from memory.db import Database

if TYPE_CHECKING:
    from tools.processes import ProcessEngine

log = logging.getLogger(__name__)


@dataclass
class Roles:
    """Role membership from configuration (``RPA_ROLES``)."""

    members: dict[str, list[str]] = field(default_factory=dict)

    def of(self, user: str) -> list[str]:
        return sorted(role for role, users in self.members.items() if user in users)

    def who(self, role: str) -> list[str]:
        return list(self.members.get(role, []))


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
    db = Database(settings.state_db)
    roles = Roles(dict(settings.roles))
    knowledge = LazyKnowledge(settings)
    approvals = ApprovalStore(db, ttl=timedelta(minutes=settings.approval_ttl_minutes))
    registry, engine = build_tools(settings, db, knowledge=knowledge)
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
            open_checkpointer(str(settings.state_db)),
            persona=Persona.of(settings.workspace),
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
