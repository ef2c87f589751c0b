"""CLI commands of the ``eval`` group: ``retrieval`` and ``agent`` (the code is in ``bot/evals/``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from bot.cli.train_cmds import adapter_for, data_dir


def register(app: typer.Typer) -> None:
    """Add this area's commands to the shared ``eval`` group."""
    from bot.cli.common import eval_app

    eval_app.command("retrieval")(eval_retrieval)
    eval_app.command("agent")(eval_agent)


def eval_retrieval(
    questions: Path | None = typer.Option(
        None, "--questions", help="Evaluation set (default: the workspace's eval/retrieval.yaml)."
    ),
) -> None:
    """Recall@1, recall@5 and MRR of vector, keyword and hybrid search on the evaluation set."""
    from bot.cli.common import settings as get_settings
    from bot.cli.knowledge import console, open_kb, run_ingest
    from bot.evals.retrieval import evaluate, load_questions

    settings = get_settings()
    path = questions or settings.workspace / "eval" / "retrieval.yaml"
    items = load_questions(path)
    kb = open_kb(settings)
    run_ingest(kb, settings, [settings.workspace / "docs"])
    console.print(f"{len(items)} questions from {path}")
    console.print(evaluate(kb, items).table(), highlight=False)


def eval_agent(
    cases: Path = typer.Option(
        None, "--cases", help="A YAML or JSONL case file (default: the held-out test split)."
    ),
    data: str = typer.Option("default", help="Dataset whose test split is the default case set."),
    compare: str = typer.Option(
        "", help="Comma-separated runs, e.g. base,adapter (or adapter names / directories)."
    ),
    limit: int = typer.Option(0, min=0, help="Run only the first N cases (0: all)."),
    concurrency: int = typer.Option(
        4,
        min=1,
        help="Cases run at once; the model batches them (same greedy replies, less wall time; "
        "latency figures then include the batching).",
    ),
    out: Path = typer.Option(
        Path("bench/results"), help="Directory for the JSON report and the bar chart."
    ),
    earlier: Path = typer.Option(
        None,
        "--with",
        help="A JSON report of earlier runs on the same cases (e.g. base) to show alongside.",
    ),
) -> None:
    """Tool-selection and argument accuracy, schema validity, answer facts, citations, latency."""
    from rich.console import Console

    from bot.agent import Persona
    from bot.cli.common import settings
    from bot.evals.agent import context_for_cases, held_out_cases, load_cases
    from bot.evals.report import plot_comparison, print_table, read_json, write_json
    from bot.training.context import open_registry

    s = settings()
    registry = open_registry(s)
    if cases is not None:
        case_list = load_cases(cases)
        context = context_for_cases(registry, Persona.of(s.workspace), case_list)
    else:
        case_list, context = held_out_cases(data_dir(data))
    case_list = case_list[:limit] if limit else case_list
    labels = [x.strip() for x in compare.split(",") if x.strip()] or ["configured"]
    console = Console()
    try:
        before = read_json(earlier, [c["id"] for c in case_list]) if earlier else []
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--with") from exc
    reports = [
        _run_label(s, label, registry, context, case_list, console, concurrency) for label in labels
    ] + before
    print_table(reports, console)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    console.print(
        f"Wrote {write_json(reports, out / f'eval-agent-{stamp}.json')} and {plot_comparison(reports, out / f'eval-agent-{stamp}.png')}"
    )


def _run_label(
    s: Any,
    label: str,
    registry: Any,
    context: Any,
    case_list: list[dict[str, Any]],
    console: Any,
    concurrency: int = 1,
) -> Any:
    from bot.evals.agent import AgentEvaluator, RunReport, summarize
    from bot.llm.chat_model import LocalChatModel

    adapter = (
        s.adapter
        if label == "configured"
        else adapter_for(label, s.models_dir / "adapters", s.adapter)
    )
    model = LocalChatModel.from_settings(s.model_copy(update={"adapter": adapter}))
    evaluator = AgentEvaluator(model, context, registry)
    results = evaluator.run(
        case_list,
        lambda i, n, r: console.print(
            f"[{label}] {i}/{n} {r.id}: {'ok' if r.selection_ok else 'miss'}",
            highlight=False,
            markup=False,  # "[r5]" is a label, not rich markup
        ),
        concurrency,
    )
    return RunReport(
        label, f"{s.model}{' + ' + str(adapter) if adapter else ''}", summarize(results), results
    )
