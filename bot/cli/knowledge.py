"""CLI commands for the knowledge base: ``ingest`` and ``search`` (and the helpers evals and benches use).

Heavy imports (Chroma, sentence-transformers) happen inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from bot.config import Settings
    from memory.ingest import IngestOptions, IngestReport
    from memory.knowledge import KnowledgeBase

console = Console(soft_wrap=True)  # long citations and summaries stay one line (greppable)


def register(app: typer.Typer) -> None:
    """Add ``ingest`` and ``search`` to ``app``."""
    app.command("ingest")(ingest)
    app.command("search")(search)


def open_kb(settings: Settings) -> KnowledgeBase:
    from memory.knowledge import KnowledgeBase

    store = settings.chroma_url or settings.chroma_dir
    return KnowledgeBase(store, settings.embedder, settings.collection)


def ingest_options(settings: Settings) -> IngestOptions:
    from memory.ingest import IngestOptions

    return IngestOptions(settings.chunk_size, settings.chunk_overlap, settings.max_file_mb)


def run_ingest(kb: KnowledgeBase, settings: Settings, paths: list[Path]) -> IngestReport:
    """Ingest with a progress bar; print the summary and every skipped file's reason."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from memory.ingest import ingest_paths

    columns = (
        TextColumn("ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, source: str) -> None:
            bar.update(task, completed=done, total=total, description=source)

        report = ingest_paths(
            kb, paths, root=settings.workspace, options=ingest_options(settings), progress=progress
        )
    for failure in report.failures:
        console.print(f"[yellow]skipped[/] {failure.source}: {failure.reason}")
    console.print(report.summary())
    return report


def ingest(
    paths: list[Path] = typer.Argument(
        None, help="Files or folders (default: the workspace's docs/)."
    ),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Drop the whole store first and ingest from scratch."
    ),
) -> None:
    """Add or update documents in the knowledge base (unchanged files are skipped)."""
    from bot.cli.common import settings as get_settings

    settings = get_settings()
    kb = open_kb(settings)
    if rebuild:
        kb.reset()
    run_ingest(kb, settings, list(paths or [settings.workspace / "docs"]))


def search(
    query: str = typer.Argument(..., help="What to look for."),
    k: int = typer.Option(5, "-k", min=1, max=50, help="How many results."),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, vector or keyword."),
    tag: str | None = typer.Option(
        None, "--tag", help="Only documents in this folder, e.g. finance."
    ),
    source: str | None = typer.Option(
        None, "--source", help="Only this file, e.g. docs/finance/expense-reimbursement.md."
    ),
) -> None:
    """Search the process documents; print ranked passages with their citations."""
    from bot.cli.common import settings as get_settings
    from memory.errors import ToolArgumentError

    kb = open_kb(get_settings())
    if kb.count() == 0:
        console.print("The knowledge base is empty: run `rpa-agent ingest` first.")
        raise typer.Exit(1)
    where = {key: value for key, value in (("tag", tag), ("source", source)) if value}
    try:
        hits = kb.search(query, k=k, mode=mode, where=where or None)  # type: ignore[arg-type]
    except ToolArgumentError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    if not hits:
        console.print("No matching passage.")
    for rank, hit in enumerate(hits, start=1):
        console.print(
            f"[bold]{rank}. {hit.citation}[/]  [dim]score {hit.score:.4f}[/]", highlight=False
        )
        console.print(hit.text.strip(), markup=False, highlight=False)
        console.print()
