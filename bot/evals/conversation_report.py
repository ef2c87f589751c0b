"""Running conversation suites in scratch apps, and showing the results (table, JSON, PNG).

Each suite runs in a scratch copy of the workspace and a scratch data directory (its documents
ingested there), with the configured model and adapter, and the bot's clock pinned to each
conversation's ``today`` so that "yesterday" means the same day it meant to its author.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.evals.conversations import ConversationResult, ConversationRunner, summarize, to_dict
from bot.evals.report import cell


def scratch_app(settings: Any, day: date, root: Path, chat_model: Any = None) -> Any:
    """An app over a copy of the workspace and a fresh data dir, its clock pinned to ``day``."""
    from bot.wiring import build_app
    from memory.ingest import ingest_paths

    workspace = root / f"workspace-{day.isoformat()}"
    if not workspace.exists():
        shutil.copytree(settings.workspace, workspace, ignore=shutil.ignore_patterns("adapter"))
    scratch = settings.model_copy(
        update={"workspace": workspace, "data_dir": root / f"data-{day.isoformat()}", "today": day}
    )
    models = scratch.models_dir
    if not models.exists() and settings.models_dir.is_dir():  # the model is converted once
        models.parent.mkdir(parents=True, exist_ok=True)
        models.symlink_to(settings.models_dir.resolve(), target_is_directory=True)
    app = build_app(scratch, chat_model=chat_model)
    ingest_paths(app.knowledge.get(), [workspace / "docs"], root=workspace)
    return app


def normaliser_for(app: Any) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """Proposed calls made exact as ``app``'s bot makes them, on the app's day."""
    from tools.form_input import workspace_normaliser

    normalise, day = workspace_normaliser(app.settings.workspace), app.settings.today
    return lambda tool, args: normalise(tool, args, day)


def run_suite(
    settings: Any,
    conversations: Sequence[dict[str, Any]],
    say: Callable[[str], None] = lambda _text: None,
    chat_model: Any = None,
) -> list[ConversationResult]:
    """Every conversation, each in the scratch app of its own day."""
    results: list[ConversationResult] = []
    apps: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rpa-conversations-") as tmp:
        for n, conversation in enumerate(conversations, start=1):
            day = str(conversation.get("today") or date.today().isoformat())
            if day not in apps:
                apps[day] = scratch_app(settings, date.fromisoformat(day), Path(tmp), chat_model)
            app = apps[day]
            result = ConversationRunner(app, normaliser_for(app)).run(conversation)
            results.append(result)
            say(f"{n}/{len(conversations)} {result.id}: {'ok' if result.ok else 'miss'}")
        for app in apps.values():
            app.service.close()
    return results


def run_suites(
    settings: Any, sets: Mapping[str, Sequence[dict[str, Any]]], console: Console
) -> dict[str, list[ConversationResult]]:
    reports: dict[str, list[ConversationResult]] = {}
    for name, found in sets.items():

        def say(text: str, name: str = name) -> None:
            console.print(f"[{name}] {text}", markup=False)

        reports[name] = run_suite(settings, found, say)
    return reports


SHOWN = (
    ("task_success", "task success"),
    ("turn_success", "turn success"),
    ("turns_per_task", "turns per task"),
    ("seconds_per_turn_p50", "seconds per turn (p50)"),
)


def print_conversations(
    reports: Mapping[str, Sequence[ConversationResult]], console: Console
) -> None:
    metrics = {name: summarize(results) for name, results in reports.items()}
    table = Table(title="Conversations through the service")
    table.add_column("metric")
    for name, m in metrics.items():
        table.add_column(f"{name} ({m['conversations']})", justify="right")
    for key, label in SHOWN:
        table.add_row(label, *(cell(m.get(key)) for m in metrics.values()))
    kinds = sorted({k for m in metrics.values() for k in m["by_kind"]})
    for kind in kinds:
        table.add_row(f"  {kind}", *(cell(m["by_kind"].get(kind)) for m in metrics.values()))
    console.print(table)


def write_conversations(
    reports: Mapping[str, Sequence[ConversationResult]], out: Path, stamp: str
) -> list[Path]:
    """``eval-conversations-<stamp>.json`` and a PNG of task success by kind and suite."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"eval-conversations-{stamp}.json"
    path.write_text(
        json.dumps([to_dict(n, r) for n, r in reports.items()], indent=2, default=str),
        encoding="utf-8",
    )
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(1, len(reports))
    kinds = sorted({r.kind or "other" for results in reports.values() for r in results})
    for i, (name, results) in enumerate(reports.items()):
        by_kind = summarize(results)["by_kind"]
        ax.bar(
            [k + i * width for k in range(len(kinds))],
            [by_kind.get(k, 0) for k in kinds],
            width,
            label=name,
        )
    ax.set_xticks(
        [k + width * (len(reports) - 1) / 2 for k in range(len(kinds))], kinds, rotation=20
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("task success")
    ax.legend()
    fig.tight_layout()
    png = path.with_suffix(".png")
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return [path, png]
