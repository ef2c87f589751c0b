"""CLI of the training area: ``rpa-agent train data`` and ``rpa-agent train run``."""

from __future__ import annotations

import dataclasses
import time
from datetime import date
from pathlib import Path

import typer

train_app = typer.Typer(
    help="Teach the local model this deployment's tools (LoRA).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``train`` group."""
    app.add_typer(train_app, name="train")
    train_app.command("data")(train_data)
    train_app.command("run")(train_run)
    train_app.command("publish")(train_publish)


def data_dir(name: str) -> Path:
    from bot.cli.common import settings

    return settings().data_dir / "training" / name


def train_data(
    name: str = typer.Option("default", help="Dataset name (a folder under DATA_DIR/training)."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same files."),
    per_template: int = typer.Option(6, min=1, help="Examples per training/validation template."),
    test_per_template: int = typer.Option(3, min=1, help="Examples per held-out test template."),
    today: str = typer.Option(
        "", help="The date requests are written on (YYYY-MM-DD); default today."
    ),
    quick: bool = typer.Option(False, "--quick", help="A tiny dataset for smoke tests."),
    answers_per_template: int = typer.Option(
        6, min=0, help="Document questions with cited answers per template (0: none)."
    ),
    from_audit: bool = typer.Option(
        True, help="Add approved (and edited) real tool calls to the training split."
    ),
    from_feedback: bool = typer.Option(
        False,
        help="Add answers rated positively in Slack to the training split; list the negatively "
        "rated ones for review.",
    ),
) -> None:
    """Generate train / validation / test JSONL from the workspace's tools, forms and processes."""
    from rich.console import Console
    from rich.markdown import Markdown

    from bot.agent import Persona
    from bot.cli.common import settings
    from bot.training.context import open_registry, workspace_context
    from bot.training.data import DataOptions, generate_dataset, merge_records, write_dataset
    from bot.training.facts import WorkspaceFacts
    from bot.training.real_use import approved_examples, rated_answers
    from bot.wiring import LazyKnowledge
    from memory.slack_feedback import RatedAnswer

    s = settings()
    registry = open_registry(s)
    persona = Persona.of(s.workspace)
    context = workspace_context(registry, persona, date.fromisoformat(today) if today else None)
    facts = WorkspaceFacts.load(s.workspace)
    options = DataOptions(
        seed=seed, per_template=per_template, test_per_template=test_per_template,
        answers_per_template=answers_per_template,
    )  # fmt: skip
    if quick:
        options = dataclasses.replace(
            options, per_template=2, test_per_template=1,
            answers_per_template=min(1, answers_per_template), test_answers_per_template=1,
        )  # fmt: skip
    knowledge = LazyKnowledge(s).get() if answers_per_template else None
    dataset = generate_dataset(context, facts, options, knowledge)
    if from_audit:
        merge_records(dataset.splits, approved_examples(s, context))
    negative: list[RatedAnswer] = []
    if from_feedback:
        rated, negative = rated_answers(s)
        merge_records(dataset.splits, rated)
        typer.echo(f"Added {len(rated)} positively rated answers from Slack.")
    directory = write_dataset(dataset, data_dir(name))
    Console().print(Markdown((directory / "report.md").read_text(encoding="utf-8")))
    if negative:
        typer.echo(f"{len(negative)} answers were rated negatively; review them (not trained on):")
        for answer in negative:
            where = f"{answer.channel}:{answer.thread} turn {answer.turn}"
            typer.echo(f"  {answer.answer_id} {where}: {answer.question[:80]!r}")
    typer.echo(f"Wrote {directory}")


def train_run(
    name: str = typer.Option("default", help="Dataset to train on, and the adapter's name."),
    adapter_name: str = typer.Option("", help="Adapter name (default: the dataset name)."),
    learning_rate: float = typer.Option(1e-3, help="Peak learning rate."),
    epochs: int = typer.Option(3, min=1),
    batch_size: int = typer.Option(8, min=1),
    grad_accum: int = typer.Option(1, min=1, help="Batches per optimizer step."),
    lora_r: int = typer.Option(16, min=1),
    lora_alpha: int = typer.Option(32, min=1),
    lora_dropout: float = typer.Option(0.05, min=0.0, max=0.9),
    target_modules: str = typer.Option(
        ",".join(("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")),
        help="Comma-separated module names.",
    ),
    max_length: int = typer.Option(
        4096, min=64, help="Longest example (prompt + reply tokens) kept."
    ),
    seed: int = typer.Option(0),
    patience: int = typer.Option(1, min=1, help="Epochs without improvement before stopping."),
    prefix_refresh: int = typer.Option(4, min=1, help="Re-encode the shared prompt every N steps."),
    max_examples: int = typer.Option(0, min=0, help="Train on at most N examples (0: all)."),
    max_val_examples: int = typer.Option(
        0, min=0, help="Check validation loss on at most N examples (0: all)."
    ),
    max_minutes: float = typer.Option(
        0.0,
        min=0.0,
        help="Time budget: stop, validate and keep the adapter after N minutes (0: none).",
    ),
    start_from: str = typer.Option(
        "",
        help="Continue training this adapter (a name under models/adapters or a directory).",
    ),
    quick: bool = typer.Option(False, "--quick", help="A smoke-test run on a handful of examples."),
) -> None:
    """Fine-tune a LoRA adapter of the configured model on a dataset from `train data`.

    Ctrl-C stops training after the current step, validates, and keeps the better adapter.
    """
    from rich.console import Console
    from rich.progress import Progress

    from bot.cli.common import settings
    from bot.training.train import TrainConfig, train_adapter

    config = TrainConfig(
        learning_rate=learning_rate, epochs=1 if quick else epochs, batch_size=4 if quick else batch_size,
        grad_accum=grad_accum, lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
        target_modules=tuple(m.strip() for m in target_modules.split(",") if m.strip()), max_length=max_length,
        seed=seed, patience=patience, prefix_refresh=1000 if quick else prefix_refresh,
        max_train_examples=8 if quick else (max_examples or None), max_val_examples=4 if quick else (max_val_examples or None), max_minutes=max_minutes or None,
        start_from=_start_adapter(start_from),
    )  # fmt: skip
    console = Console(stderr=True)
    started = time.perf_counter()
    with Progress(console=console) as bar:
        task = bar.add_task("training", total=None)

        def progress(phase: str, done: int, total: int, loss: float | None) -> None:
            text = f"{phase} loss {loss:.3f}" if loss is not None else phase
            bar.update(task, completed=done, total=total, description=text)
            if not console.is_terminal:  # a log file gets one line per step instead of a bar
                minutes = (time.perf_counter() - started) / 60
                typer.echo(f"{minutes:6.1f} min  step {done}/{total}  {text}", err=True)

        result = train_adapter(
            settings(),
            data_dir(name),
            adapter_name or name,
            config,
            progress,
            say=bar.console.print,
        )
    typer.echo(
        f"Validation loss per epoch (0 = before): {', '.join(f'{v:.4f}' for v in result.val_losses)}"
    )
    typer.echo(
        f"{result.examples['train']} training examples, {result.minutes:.1f} min on {result.device}; best epoch {result.best_epoch}"
    )
    if result.extra.get("interrupted"):
        typer.echo(f"Stopped by Ctrl-C after {len(result.train_losses)} steps.")
    typer.echo(f"Adapter: {result.adapter}  (use it with RPA_ADAPTER={result.adapter})")


def _start_adapter(label: str) -> str | None:
    """The adapter directory ``train run --start-from`` names (none for "" or base)."""
    from bot.cli.common import settings

    found = adapter_for(label, settings().models_dir / "adapters", None) if label else None
    return str(found) if found else None


def adapter_for(label: str, adapters: Path, configured: Path | None) -> Path | None:
    if label == "base":
        return None
    if label == "adapter":
        if configured:
            return configured
        found = sorted(adapters.glob("*/training.json"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise typer.BadParameter(
                "no adapter trained yet; run `rpa-agent train run` or set RPA_ADAPTER"
            )
        return found[-1].parent
    path = Path(label) if Path(label).is_dir() else adapters / label
    if not (path / "adapter_config.json").is_file():
        raise typer.BadParameter(
            f"{label!r} is neither 'base', 'adapter', an adapter name nor an adapter directory"
        )
    return path


def train_publish(
    name: str = typer.Argument(
        "default", help="The adapter to publish (a name under models/adapters)."
    ),
) -> None:
    """Copy a trained adapter into the workspace's adapter/ (fp16), where the bot uses it by default."""
    from bot.cli.common import settings
    from bot.training.publish import publish_adapter, size_mb

    s = settings()
    source = s.models_dir / "adapters" / name
    try:
        target = publish_adapter(source, s.workspace)
    except FileNotFoundError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"Published {source} to {target} ({size_mb(target)} MB); unset RPA_ADAPTER to use it."
    )
