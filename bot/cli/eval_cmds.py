"""CLI commands of the ``eval`` group: ``retrieval`` and ``agent`` (the code is in ``bot/evals/``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.train_cmds import adapter_for, data_dir


def register(app: typer.Typer) -> None:
    """Add this area's commands to the shared ``eval`` group."""
    from bot.cli.common import eval_app

    eval_app.command("retrieval")(eval_retrieval)
    eval_app.command("agent")(eval_agent)
    eval_app.command("conversations")(eval_conversations)


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


Data = Annotated[str, typer.Option(help="Dataset whose test split is the held-out suite.")]
Limit = Annotated[int, typer.Option(min=0, help="Run only the first N of each set (0: all).")]
Out = Annotated[Path, typer.Option(help="Directory for the JSON report and the chart.")]


def eval_agent(
    cases: Path = typer.Option(
        None, "--cases", help="A YAML or JSONL case file instead of the suites."
    ),
    suite: str = typer.Option(
        "held-out,independent",
        help="Comma-separated case sets: held-out (the test split of the training data, by "
        "template) and independent (the workspace's eval/independent.yaml, written apart).",
    ),
    data: Data = "default",
    compare: str = typer.Option(
        "", help="Comma-separated runs, e.g. base,adapter (or adapter names / directories)."
    ),
    limit: Limit = 0,
    concurrency: int = typer.Option(
        4,
        min=1,
        help="Cases run at once; the model batches them (same greedy replies, less wall time; "
        "latency figures then include the batching).",
    ),
    out: Out = Path("bench/results"),
    earlier: Path = typer.Option(
        None,
        "--with",
        help="A JSON report of earlier runs on the same cases (e.g. base) to show alongside.",
    ),
) -> None:
    """Tool-selection and argument accuracy, schema validity, answer facts, citations, latency."""
    from rich.console import Console

    from bot.cli.common import settings
    from bot.evals.report import plot_comparison, print_table, read_json, write_json
    from bot.training.context import open_registry
    from tools.form_input import workspace_normaliser

    s = settings()
    registry = open_registry(s)
    console = Console()
    sets = _case_sets(s, registry, cases, suite, data, console)
    labels = [x.strip() for x in compare.split(",") if x.strip()] or ["configured"]
    normalise = workspace_normaliser(s.workspace)
    reports = []
    for name, (case_list, context) in sets.items():
        case_list = case_list[:limit] if limit else case_list
        for label in labels:
            shown = label if len(sets) == 1 else f"{label} / {name}"
            reports.append(
                _run_label(
                    s, label, shown, registry, context, case_list, console, concurrency, normalise
                )
            )
        if earlier:
            try:
                reports += read_json(earlier, [c["id"] for c in case_list])
            except ValueError as exc:
                if len(sets) == 1:
                    raise typer.BadParameter(str(exc), param_hint="--with") from exc
    print_table(reports, console)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    console.print(
        f"Wrote {write_json(reports, out / f'eval-agent-{stamp}.json')} and {plot_comparison(reports, out / f'eval-agent-{stamp}.png')}"
    )


def _suites(suite: str, loaders: dict[str, Callable[[], Any]], console: Any) -> dict[str, Any]:
    """The named suites that exist here (a loader raises FileNotFoundError when one does not)."""
    sets: dict[str, Any] = {}
    for name in (x.strip() for x in suite.split(",") if x.strip()):
        if name not in loaders:
            known = " or ".join(loaders)
            raise typer.BadParameter(f"unknown suite {name!r}: {known}", param_hint="--suite")
        try:
            sets[name] = loaders[name]()
        except FileNotFoundError as exc:
            console.print(f"[yellow]{name} suite skipped:[/] {exc}")
    if not sets:
        raise typer.BadParameter("nothing to run: run `rpa-agent train data` or pass --cases")
    return sets


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"no {path}")
    return path


def _case_sets(
    s: Any, registry: Any, cases: Path | None, suite: str, data: str, console: Any
) -> dict[str, tuple[list[dict[str, Any]], Any]]:
    """Suite name -> (cases, context), for the suites that exist here."""
    from bot.agent import Persona
    from bot.evals.agent import context_for_cases, held_out_cases, load_cases

    persona = Persona.of(s.workspace)

    def from_file(path: Path) -> tuple[list[dict[str, Any]], Any]:
        found = load_cases(path)
        return found, context_for_cases(registry, persona, found)

    if cases is not None:
        return {cases.stem: from_file(cases)}
    return _suites(suite, {
        "held-out": lambda: held_out_cases(data_dir(data)),
        "independent": lambda: from_file(_existing(s.workspace / "eval" / "independent.yaml")),
    }, console)  # fmt: skip


def _run_label(
    s: Any,
    label: str,
    shown: str,
    registry: Any,
    context: Any,
    case_list: list[dict[str, Any]],
    console: Any,
    concurrency: int = 1,
    normalise: Any = None,
) -> Any:
    from bot.evals.agent import AgentEvaluator, RunReport, summarize
    from bot.llm.chat_model import LocalChatModel

    adapter = (
        s.adapter
        if label == "configured"
        else adapter_for(label, s.models_dir / "adapters", s.adapter)
    )
    model = LocalChatModel.from_settings(s.model_copy(update={"adapter": adapter}))
    evaluator = AgentEvaluator(model, context, registry, normalise)
    results = evaluator.run(
        case_list,
        lambda i, n, r: console.print(
            f"[{shown}] {i}/{n} {r.id}: {'ok' if r.selection_ok else 'miss'}",
            highlight=False,
            markup=False,  # "[r5]" is a label, not rich markup
        ),
        concurrency,
    )
    return RunReport(
        shown, f"{s.model}{' + ' + str(adapter) if adapter else ''}", summarize(results), results
    )


def eval_conversations(
    cases: Path = typer.Option(
        None, "--cases", help="A YAML file of conversations instead of the suites."
    ),
    suite: str = typer.Option(
        "held-out,independent",
        help="held-out (multi-turn records of the training data's test split) and independent "
        "(the workspace's eval/conversations_independent.yaml).",
    ),
    data: Data = "default",
    limit: Limit = 0,
    out: Out = Path("bench/results"),
) -> None:
    """Whole threads through the real service: task success per conversation and turn, s/turn."""
    from rich.console import Console

    from bot.cli.common import settings
    from bot.evals.conversation_report import print_conversations, run_suites, write_conversations

    console = Console()
    sets = _conversation_sets(settings(), cases, suite, data, console)
    reports = run_suites(
        settings(), {k: v[:limit] if limit else v for k, v in sets.items()}, console
    )
    print_conversations(reports, console)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    console.print(f"Wrote {', '.join(str(p) for p in write_conversations(reports, out, stamp))}")


def _conversation_sets(
    s: Any, cases: Path | None, suite: str, data: str, console: Any
) -> dict[str, list[dict[str, Any]]]:
    from bot.evals.conversations import held_out_conversations, load_conversations
    from bot.training.data import read_context, read_split

    if cases is not None:
        return {cases.stem: load_conversations(cases)}

    def held_out() -> list[dict[str, Any]]:
        day = read_context(data_dir(data)).today
        found = held_out_conversations(read_split(data_dir(data), "test"))
        return [{**c, "today": c.get("today") or day} for c in found]

    independent = s.workspace / "eval" / "conversations_independent.yaml"
    return _suites(suite, {
        "held-out": held_out,
        "independent": lambda: load_conversations(_existing(independent)),
    }, console)  # fmt: skip
