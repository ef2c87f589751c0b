"""Which LoRA adapter the model uses, and whether it was trained on this workspace as it is now.

An adapter is only as good as its match with the tools it was taught: a renamed form field or
a new process makes its calls wrong. ``rpa-agent train run`` records a fingerprint of what it
was trained on (the bound tools' schemas, the forms, the processes, the system prompt's
template, the training data); ``check_adapter`` compares it with the workspace now and says
what to run when they differ. The slash commands and forms keep working whatever it says.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bot.config import Settings

FINGERPRINT_FILE = "fingerprint.json"
FINGERPRINT_USER = "U0TRAIN01"  # the tools are bound as for this user (no policy applies)
TRAIN_COMMAND = "rpa-agent train data && rpa-agent train run && rpa-agent train publish"


def _digest(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _files(folder: Path) -> str:
    """One digest of every YAML file under ``folder`` (names and contents)."""
    parts = [
        f"{p.relative_to(folder)}\n{p.read_text(encoding='utf-8')}"
        for p in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    ]
    return _digest("\n\n".join(parts))


def bound_tool_schemas(registry: Any, user: str = FINGERPRINT_USER) -> list[dict[str, Any]]:
    """The tools as the model sees them (OpenAI form, the way ``bind_tools`` converts them)."""
    from bot.llm.tool_calls import to_openai_tools
    from tools.registry import ToolContext

    return list(to_openai_tools(registry.langchain_tools(ToolContext(user=user, dry_run=True))))


def fingerprint(workspace: Path, tools: list[dict[str, Any]]) -> dict[str, str]:
    """What an adapter's quality depends on, as short digests."""
    from prompts import load_prompt

    return {
        "tools": _digest(tools),
        "forms": _files(workspace / "forms"),
        "processes": _files(workspace / "processes"),
        "system_prompt": _digest(load_prompt("system.md")),
    }


def workspace_fingerprint(settings: Settings) -> dict[str, str]:
    """This workspace's fingerprint now, with the tools built as the bot builds them."""
    from bot.wiring import LazyKnowledge
    from memory.db import Database
    from tools import build_tools

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    registry, _ = build_tools(settings, Database(settings.state_store), LazyKnowledge(settings))
    return fingerprint(settings.workspace, bound_tool_schemas(registry))


@dataclass(frozen=True)
class AdapterCheck:
    """The verdict on the configured adapter."""

    state: Literal["matches", "changed", "unrecorded", "missing", "none", "remote"]
    adapter: Path | None
    message: str  # one sentence a person understands
    fix: str = ""  # the command that fixes it, when something is to be fixed

    @property
    def ok(self) -> bool:
        return self.state in ("matches", "remote")


def check_adapter(settings: Settings) -> AdapterCheck:
    """Is the model trained on this workspace's tools as they are now?"""
    adapter = settings.adapter
    if settings.llm_backend == "remote":
        return AdapterCheck(
            "remote", adapter, "The model runs on a server (RPA_LLM_BACKEND=remote)."
        )
    if adapter is None:
        return AdapterCheck(
            "none",
            None,
            "the model is not trained for this workspace: expect wrong tools and made-up values",
            TRAIN_COMMAND,
        )
    if not (adapter / "adapter_config.json").is_file():
        return AdapterCheck(
            "missing", adapter, f"RPA_ADAPTER={adapter} is not an adapter directory.", TRAIN_COMMAND
        )
    recorded = adapter / FINGERPRINT_FILE
    if not recorded.is_file():
        return AdapterCheck(
            "unrecorded",
            adapter,
            f"{adapter} records no fingerprint: it may be trained on other tools.",
            TRAIN_COMMAND,
        )
    trained = json.loads(recorded.read_text(encoding="utf-8")).get("workspace", {})
    now = workspace_fingerprint(settings)
    changed = sorted(k for k in now if trained.get(k) != now[k])
    if changed:
        return AdapterCheck(
            "changed",
            adapter,
            f"The workspace changed since {adapter.name} was trained ({', '.join(changed)}): retrain it.",
            TRAIN_COMMAND,
        )
    return AdapterCheck(
        "matches", adapter, f"{adapter} was trained on this workspace as it is now."
    )
