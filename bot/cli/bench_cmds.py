"""CLI commands of the ``bench`` group: ``model``, ``retrieval``, ``slack``, ``e2e`` and ``all``.

Options are ``Annotated`` with Python defaults, so ``bench all`` calls each command as a plain
function and states only what it changes; the heavy code is in ``bot/bench/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import track

console = Console(soft_wrap=True)  # long rows stay one line (greppable)
RESULTS = Path("bench/results")

# Options several benches share.
Out = Annotated[Path, typer.Option("--out", help="Directory for the JSON and Markdown results.")]
Repeat = Annotated[
    int,
    typer.Option(
        min=1, help="Rounds of every run; figures are the median round's, with the range."
    ),
]


def register(app: typer.Typer) -> None:
    """Add every benchmark to the shared ``bench`` group."""
    from bot.cli.common import bench_app

    bench_app.command("model")(bench_model)
    bench_app.command("engine")(bench_engine)
    bench_app.command("retrieval")(bench_retrieval)
    bench_app.command("slack")(bench_slack)
    bench_app.command("e2e")(bench_e2e)
    bench_app.command("all")(bench_all)


def bench_model(
    out: Out = RESULTS,
    prompt_tokens: Annotated[int, typer.Option(min=8, help="Prompt length in tokens.")] = 256,
    new_tokens: Annotated[int, typer.Option(min=2, help="Tokens to generate per run.")] = 64,
    repeats: Annotated[
        int, typer.Option(min=1, help="Runs per figure (the median is reported).")
    ] = 3,
    compare_dtypes: Annotated[
        bool,
        typer.Option("--compare-dtypes", help="Also measure fp32 and bf16 with greedy agreement."),
    ] = False,
    serving: Annotated[
        bool,
        typer.Option(
            "--serving/--no-serving",
            help="Also measure the batching scheduler: its decode loop per precision, 1/2/4/8 "
            "concurrent requests, TTFT with and without the prefix cache, the bandwidth bound.",
        ),
    ] = True,
) -> None:
    """TTFT, prefill and decode speed, peak RSS, batched throughput: configured model vs plain fp32."""
    from rich.markdown import Markdown

    from bot.bench.model import markdown, run_bench, write_report
    from bot.cli.common import settings

    report = run_bench(settings(), prompt_tokens, new_tokens, repeats, compare_dtypes, serving)
    json_path, md_path = write_report(report, out)
    console.print(Markdown(markdown(report)))
    console.print(f"Wrote {json_path} and {md_path}")


def bench_engine(
    out: Out = RESULTS,
    rounds: Annotated[
        int, typer.Option(min=1, help="Alternating rounds of every variant (medians and ranges).")
    ] = 5,
    new_tokens: Annotated[int, typer.Option(min=8, help="Tokens decoded per request.")] = 64,
) -> None:
    """Each engine part against its absence, in alternating rounds: lean step, fp16, pauses, drafts."""
    from rich.markdown import Markdown
    from rich.progress import Progress

    from bot.bench.engine import markdown, run_engine_ab
    from bot.bench.report import write_results
    from bot.cli.common import settings

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("rounds", total=rounds)
        report = run_engine_ab(
            settings(), rounds, new_tokens, lambda done, total: bar.update(task, completed=done)
        )
    console.print(Markdown(markdown(report)))
    console.print(f"Wrote {write_results(out, 'engine', report)}")


def bench_retrieval(
    sizes: Annotated[
        str, typer.Option("--sizes", help="Comma-separated corpus sizes, in chunks.")
    ] = "10000,100000",
    queries: Annotated[int, typer.Option("--queries", min=1, help="Timed queries per size.")] = 50,
) -> None:
    """Ingest throughput, query latency p50/p95 and unchanged re-ingest time at each size."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.bench.retrieval import format_rows, run_bench
    from bot.cli.common import settings as get_settings
    from bot.cli.knowledge import ingest_options
    from bot.evals.retrieval import load_questions

    settings = get_settings()
    try:
        counts = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"--sizes must be integers, got {sizes!r}") from exc
    eval_set = settings.workspace / "eval" / "retrieval.yaml"
    texts = [q.question for q in load_questions(eval_set)] if eval_set.exists() else ["approval"]
    timed = (texts * (queries // len(texts) + 1))[:queries]
    columns = (TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TextColumn("files"))
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, source: str) -> None:
            bar.update(task, completed=done, total=total)

        rows = run_bench(
            counts,
            settings.embedder,
            timed,
            settings.workspace / "docs",
            ingest_options(settings),
            say=console.print,
            progress=progress,
            workdir=settings.data_dir if settings.data_dir.exists() else None,
        )
    console.print(format_rows(rows), highlight=False)


def bench_slack(
    events: Annotated[int, typer.Option(min=1, help="Signed events sent to HTTP mode.")] = 200,
    concurrency: Annotated[int, typer.Option(min=1, help="Events in flight at once.")] = 200,
    decoding: Annotated[
        bool,
        typer.Option(help="Also a burst while the configured model decodes in the same process."),
    ] = True,
    repeat: Repeat = 5,
    out: Out = RESULTS,
    burst_events: Annotated[
        int,
        typer.Option(
            min=2,
            help="With --decoding: a burst of this many events answered by the real service "
            "while the model decodes, one of them --huge-tokens long (0: none).",
        ),
    ] = 500,
    huge_tokens: Annotated[
        int, typer.Option(min=0, help="Tokens of the burst's huge message.")
    ] = 20_000,
    replicas: Annotated[
        bool,
        typer.Option(
            help="Also the two-replica row: two bot processes on one state, the events spread "
            "over both (every tenth to both), each to be answered once."
        ),
    ] = True,
    replicas_database: Annotated[
        str | None,
        typer.Option(
            help="An empty, throwaway PostgreSQL database for the two-replica row (it writes "
            "there); unset: a SQLite file both replicas open."
        ),
    ] = None,
) -> None:
    """Acknowledgement latency p50/p99 of HTTP mode while the model is busy; first streamed
    update; with --decoding, a burst answered once each by the real service; with
    --replicas, two replicas on one state answering every event once."""
    from statistics import median

    from bot.bench.report import write_results
    from bot.bench.slack import run_slack_bench
    from bot.cli.common import settings

    runs: list[tuple[str, int, object]] = [
        ("burst", concurrency, None),
        ("steady", min(10, concurrency), None),
    ]
    loaded = None
    if decoding:
        from bot.llm.loading import load_model

        with console.status("Loading the model for the decoding burst..."):
            loaded = load_model(settings())
        runs.append(("burst_decoding", concurrency, loaded))
    rounds: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in runs}
    # Rounds alternate the runs, so a slow spell of the machine does not fall on one run alone.
    for _ in track(range(repeat), description="Bursts", console=console, transient=True):
        for label, level, model in runs:
            rounds[label].append(
                run_slack_bench(_classic(), events=events, concurrency=level, decoding=model)
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
    if loaded is not None and burst_events:
        figures.update(_answered_burst(loaded, burst_events, huge_tokens))
    if replicas:
        figures.update(_two_replicas(events, concurrency, replicas_database))
    path = write_results(out, "slack", {"runs": rounds, **figures})
    console.print(f"Wrote {path}")


def _classic() -> Any:
    """The settings with Slack's classic replies: the bench's stand-in counts chat.postMessage
    and chat.update as a thread's updates."""
    from bot.cli.common import settings

    return settings().model_copy(update={"slack_agent": False})


def _answered_burst(loaded: Any, events: int, huge_tokens: int) -> dict[str, Any]:
    """One burst answered by the real service over ``loaded`` while it decodes (one round:
    it answers every event, which takes minutes on a CPU)."""
    from bot.bench.slack import real_service, run_slack_bench

    with console.status(f"A burst of {events} events answered by the model..."):
        row = run_slack_bench(
            _classic(), events=events, concurrency=events, decoding=loaded,
            service_for=real_service(loaded), huge_tokens=huge_tokens,
        )  # fmt: skip
    label = f"burst_{events}_huge"
    console.print(
        f"{label:>14}: {events} events at once, one of {huge_tokens:,} tokens, while the model "
        f"decodes: {row['acks_over_3s']} acks over 3 s (p99 {row['ack_ms_p99']} ms); first "
        f"message p99 {row['first_update_ms_p99']} ms; {row['answered_once']} answered exactly "
        f"once, {row['unanswered']} unanswered, {row['duplicate_replies']} answered twice; all "
        f"answered after {row['all_answered_s']} s"
    )
    keys = ("ack_ms_p99", "acks_over_3s", "first_update_ms_p50", "first_update_ms_p99",
            "answered_once", "unanswered", "duplicate_replies", "all_answered_s")  # fmt: skip
    return {f"{label}_{k}": row[k] for k in keys} | {f"{label}_run": row}


def _two_replicas(events: int, concurrency: int, database_url: str | None) -> dict[str, Any]:
    """The two-replica row (one round: the replicas start once, the events are answered once)."""
    from bot.bench.slack_replicas import run_replicas_bench

    with console.status("Two replicas on one state..."):
        row = run_replicas_bench(_classic(), events, concurrency, database_url=database_url)
    console.print(
        f"{'two_replicas':>14}: {events} events ({row['deliveries']} deliveries) spread over 2 "
        f"replicas on {row['state']}, {concurrency} in flight: ack p50 {row['ack_ms_p50']} ms, "
        f"p99 {row['ack_ms_p99']} ms; {row['answered_once']} answered exactly once, "
        f"{row['unanswered']} unanswered, {row['duplicate_replies']} answered twice"
    )
    keys = ("state", "deliveries", "ack_ms_p50", "ack_ms_p99", "acks_over_3s",
            "first_update_ms_p50", "answered_once", "unanswered", "duplicate_replies",
            "all_answered_s")  # fmt: skip
    return {f"two_replicas_{k}": row[k] for k in keys} | {"two_replicas_run": row}


def bench_e2e(out: Out = RESULTS) -> None:
    """A cited answer through the whole bot: time to first text, to the answer, peak RSS."""
    from bot.bench.e2e import run_e2e_bench
    from bot.bench.report import write_results
    from bot.cli.common import settings

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
    out: Out = RESULTS,
    retrieval_sizes: Annotated[
        str, typer.Option(help="Corpus sizes for the retrieval bench.")
    ] = "10000",
) -> None:
    """Every benchmark in turn; results in OUT as JSON and Markdown, plus a summary table."""
    bench_model(out=out, compare_dtypes=True)
    bench_retrieval(sizes=retrieval_sizes)
    bench_slack(out=out)
    bench_e2e(out=out)
    lines = ["| benchmark | figure | value |", "|---|---|---|"]
    for path in sorted(out.glob("*.json")):
        record = json.loads(path.read_text())
        for key, value in record.items():
            if isinstance(value, int | float) and key not in ("cpus",):
                lines.append(f"| {path.stem} | {key} | {value} |")
    (out / "SUMMARY.md").write_text("\n".join(lines) + "\n")
    console.print(f"Wrote {out / 'SUMMARY.md'}")
