"""What the model sees around a request: the agent's system prompt and the bound tools.

``workspace_context`` builds it from the same pieces the running bot uses: ``build_tools``'s
registry, its LangChain tools (converted as ``bind_tools`` converts them) and ``system.md``
rendered the way ``Service``/``Agent`` render it. Training examples and evaluation cases are
rendered inside this context, so the model is taught exactly the prompt it will meet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from bot.adapters import FINGERPRINT_USER as TRAINING_USER
from bot.config import Settings

if TYPE_CHECKING:
    from bot.agent import Persona


@dataclass(frozen=True)
class ModelContext:
    """The fixed part of every prompt: date, user, system prompt, tools (OpenAI form)."""

    today: str
    user: str
    roles: tuple[str, ...]
    system_prompt: str
    tools: tuple[dict[str, Any], ...]

    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.tools]

    def schema(self, tool: str) -> dict[str, Any]:
        for t in self.tools:
            if t["function"]["name"] == tool:
                return dict(t["function"].get("parameters") or {})
        raise KeyError(tool)

    def binding(self) -> Any:
        """The ``ToolBinding`` LocalChatModel builds for these tools (tool_choice auto)."""
        from bot.llm.tool_calls import binding_from

        return binding_from(list(self.tools), None)

    def on(self, day: str) -> ModelContext:
        """The same context on another day (the system prompt states today's date)."""
        if day == self.today:
            return self
        prompt = self.system_prompt.replace(f"Today is {self.today}.", f"Today is {day}.")
        return ModelContext(day, self.user, self.roles, prompt, self.tools)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelContext:
        return cls(
            raw["today"],
            raw["user"],
            tuple(raw["roles"]),
            raw["system_prompt"],
            tuple(raw["tools"]),
        )


def open_registry(settings: Settings) -> Any:
    """The deployment's tool registry, as ``bot.wiring.build_app`` builds it."""
    from bot.wiring import LazyKnowledge
    from memory.db import Database
    from tools import build_tools

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    registry, _engine = build_tools(
        settings, Database(settings.state_store), knowledge=LazyKnowledge(settings)
    )
    return registry


def workspace_context(
    registry: Any,
    persona: Persona,
    today: date | None = None,
    user: str = TRAINING_USER,
    roles: tuple[str, ...] = (),
) -> ModelContext:
    """The context the agent would build for ``user`` on ``today`` with this registry's tools."""
    from bot.adapters import bound_tool_schemas
    from bot.agent import render_system_prompt

    day = (today or date.today()).isoformat()
    system = render_system_prompt(persona, user, roles, today or date.today())
    tools = bound_tool_schemas(registry, user)
    return ModelContext(day, user, tuple(roles), system, tuple(tools))
