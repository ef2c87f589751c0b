"""CLI commands of the model area: ``rpa-agent bench model`` (the heavy code is in bot/llm/bench.py)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands (on the shared ``bench`` group)."""
    from bot.cli import bench_app

    bench_app.command("model")(bench_model)


def bench_model(
    out: Path = typer.Option(
        Path("bench/results"), "--out", help="Directory for the JSON and Markdown results."
    ),
    prompt_tokens: int = typer.Option(256, min=8, help="Prompt length in tokens."),
    new_tokens: int = typer.Option(64, min=2, help="Tokens to generate per run."),
    repeats: int = typer.Option(3, min=1, help="Runs per figure (the median is reported)."),
    compare_dtypes: bool = typer.Option(
        False, "--compare-dtypes", help="Also measure fp32, bf16 and int8 with greedy agreement."
    ),
    serving: bool = typer.Option(
        True,
        "--serving/--no-serving",
        help="Also measure the batching scheduler: its decode loop per precision, 1/2/4/8 "
        "concurrent requests, TTFT with and without the prefix cache, the bandwidth bound.",
    ),
) -> None:
    """TTFT, prefill and decode speed, peak RSS, batched throughput: configured model vs plain fp32."""
    from rich.console import Console
    from rich.markdown import Markdown

    from bot.cli import settings
    from bot.llm.bench import markdown, run_bench, write_report

    report = run_bench(settings(), prompt_tokens, new_tokens, repeats, compare_dtypes, serving)
    json_path, md_path = write_report(report, out)
    console = Console()
    console.print(Markdown(markdown(report)))
    console.print(f"Wrote {json_path} and {md_path}")
