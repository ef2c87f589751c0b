"""CLI commands: ``bench slack``, ``bench e2e`` and ``bench all`` (the other benches live with their areas)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import track

console = Console()
RESULTS = Path("bench/results")


def register(app: typer.Typer) -> None:
    from bot.cli import bench_app

    bench_app.command("slack")(bench_slack)
    bench_app.command("e2e")(bench_e2e)
    bench_app.command("all")(bench_all)


def bench_slack(
    events: int = typer.Option(200, min=1, help="Signed events sent to HTTP mode."),
    concurrency: int = typer.Option(200, min=1, help="Events in flight at once."),
    decoding: bool = typer.Option(
        True, help="Also a burst while the configured model decodes in the same process."
    ),
    repeat: int = typer.Option(
        5, min=1, help="Rounds of every run; figures are the median round's, with the range."
    ),
    out: Path = typer.Option(RESULTS, "--out"),
) -> None:
    """Acknowledgement latency p50/p99 of HTTP mode while the model is busy; first streamed update."""
    from statistics import median

    from bot.benchmarks.report import write_results
    from bot.benchmarks.slack import run_slack_bench
    from bot.cli import settings

    runs: list[tuple[str, int, object]] = [
        ("burst", concurrency, None),
        ("steady", min(10, concurrency), None),
    ]
    if decoding:
        from bot.llm.loading import load_model

        with console.status("Loading the model for the decoding burst..."):
            runs.append(("burst_decoding", concurrency, load_model(settings())))
    rounds: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in runs}
    # Rounds alternate the runs, so a slow spell of the machine does not fall on one run alone.
    for _ in track(range(repeat), description="Bursts", console=console, transient=True):
        for label, level, model in runs:
            rounds[label].append(
                run_slack_bench(settings(), events=events, concurrency=level, decoding=model)
            )
    figures: dict[str, Any] = {"rounds": repeat}
    for label, level, model in runs:
        p99s = sorted(float(r["ack_ms_p99"]) for r in rounds[label])
        for name in ("ack_ms_p50", "ack_ms_p99", "first_update_ms_p50"):
            figures[f"{label}_{name}"] = round(median(float(r[name]) for r in rounds[label]), 2)
        figures[f"{label}_ack_ms_p99_range"] = f"{p99s[0]}-{p99s[-1]}"
        busy = ""
        if model is not None:
            tokens = median(int(r["model_decoded_tokens"]) for r in rounds[label])
            paused = median(float(r["model_paused_ms"]) for r in rounds[label])
            figures[f"{label}_model_paused_ms"] = paused
            busy = f"; the model decoded {tokens:g} tokens meanwhile and paused {paused:g} ms"
        console.print(
            f"{label:>14}: {events} events, {level} in flight, median of {repeat}: "
            f"ack p50 {figures[f'{label}_ack_ms_p50']} ms, p99 {figures[f'{label}_ack_ms_p99']} "
            f"ms (range {p99s[0]}-{p99s[-1]}); first update "
            f"p50 {figures[f'{label}_first_update_ms_p50']} ms{busy}"
        )
    path = write_results(out, "slack", {"runs": rounds, **figures})
    console.print(f"Wrote {path}")


def bench_e2e(out: Path = typer.Option(RESULTS, "--out")) -> None:
    """A cited answer through the whole bot: time to first text, to the answer, peak RSS."""
    from bot.benchmarks.e2e import run_e2e_bench
    from bot.benchmarks.report import write_results
    from bot.cli import settings

    figures = run_e2e_bench(settings())
    for row in figures["questions"]:
        console.print(
            f"{row['answer_s']:>6.1f} s (first text {row['first_text_s']} s, {row['cited']} cited): {row['question']}"
        )
    console.print(
        f"model load {figures['model_load_s']} s, median answer {figures['answer_s_median']} s, "
        f"peak RSS {figures['peak_rss_mb']} MB"
    )
    console.print(f"Wrote {write_results(out, 'e2e', figures)}")


def bench_all(
    out: Path = typer.Option(RESULTS, "--out"),
    retrieval_sizes: str = typer.Option("10000", help="Corpus sizes for the retrieval bench."),
) -> None:
    """Every benchmark in turn; results in OUT as JSON and Markdown, plus a summary table."""
    from bot.cli_parts.knowledge import bench_retrieval
    from bot.cli_parts.model import bench_model

    bench_model(
        out=out, prompt_tokens=256, new_tokens=64, repeats=3, compare_dtypes=True, serving=True
    )
    bench_retrieval(sizes=retrieval_sizes, queries=50)
    bench_slack(events=200, concurrency=200, decoding=True, repeat=5, out=out)
    bench_e2e(out=out)
    lines = ["| benchmark | figure | value |", "|---|---|---|"]
    for path in sorted(out.glob("*.json")):
        record = json.loads(path.read_text())
        for key, value in record.items():
            if isinstance(value, int | float) and key not in ("cpus",):
                lines.append(f"| {path.stem} | {key} | {value} |")
    (out / "SUMMARY.md").write_text("\n".join(lines) + "\n")
    console.print(f"Wrote {out / 'SUMMARY.md'}")
