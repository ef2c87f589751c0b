"""Showing agent-evaluation runs: a terminal table, a JSON file, a bar chart comparing runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot.evals.agent import CaseResult, RunReport

SHOWN = (
    ("tool_selection_accuracy", "tool selection"),
    ("exact_argument_accuracy", "exact arguments"),
    ("schema_valid_rate", "schema-valid calls"),
    ("clarify_accuracy", "clarifying questions"),
    ("answer_fact_recall", "answer fact recall"),
    ("citation_accuracy", "citations"),
    ("latency_p50_s", "latency p50 (s)"),
)


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value <= 1.0:
        return f"{value:.1%}"
    return str(value)


def print_table(reports: Sequence[RunReport], console: Console | None = None) -> None:
    table = Table(
        title=f"Agent evaluation ({reports[0].metrics['cases']} cases)"
        if reports
        else "Agent evaluation"
    )
    table.add_column("metric")
    for report in reports:
        table.add_column(report.label, justify="right")
    for key, label in SHOWN:
        table.add_row(label, *(cell(r.metrics.get(key)) for r in reports))
    (console or Console()).print(table)


def write_json(reports: Sequence[RunReport], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps([r.to_dict() for r in reports], indent=2, ensure_ascii=False, default=str),
        encoding="utf-8",
    )
    return path


def read_json(path: Path, case_ids: Sequence[str]) -> list[RunReport]:
    """Runs from an earlier report, to show next to new ones; they must cover the same cases."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the earlier evaluation {str(path)!r}: {exc}") from exc
    reports = []
    for run in raw if isinstance(raw, list) else []:
        results = [CaseResult(**r) for r in run.get("results", [])]
        if [r.id for r in results] != list(case_ids):
            raise ValueError(
                f"run {run.get('label')!r} in {path.name} was measured on other cases than "
                f"these {len(case_ids)}; evaluate it again on the same cases"
            )
        reports.append(RunReport(run["label"], run["model"], run["metrics"], results))
    if not reports:
        raise ValueError(f"{str(path)!r} holds no evaluation runs")
    return reports


def plot_comparison(reports: Sequence[RunReport], path: Path) -> Path:
    """Grouped bars: each rate metric, one bar per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        (k, label)
        for k, label in SHOWN
        if k != "latency_p50_s" and any(r.metrics.get(k) is not None for r in reports)
    ]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(keys)), 4))
    width = 0.8 / max(1, len(reports))
    for i, report in enumerate(reports):
        xs = [j + i * width for j in range(len(keys))]
        ys = [float(report.metrics.get(k) or 0.0) for k, _ in keys]
        ax.bar(xs, ys, width, label=report.label)
    ax.set_xticks([j + width * (len(reports) - 1) / 2 for j in range(len(keys))])
    ax.set_xticklabels([label for _, label in keys], rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("rate")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
