"""``rpa-agent bench e2e``: a cited answer to a process question through the whole service.

The configured model (the embedded one by default) answers a question about the demo
workspace through the agent, the document search tool and the service; measured are the time
to the first streamed text, to the final answer, and the peak RSS of the whole bot.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.events import Final, Inbound, TextDelta, ToolActivity

QUESTIONS = [
    "Who has to approve an expense claim of 800 EUR?",
    "How far in advance do I have to request two weeks of annual leave?",
    "What is the hotel limit per night in a capital city?",
]


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


async def _ask(service: Any, question: str, n: int) -> dict[str, Any]:
    inbound = Inbound(user="bench", channel="bench", thread=f"q{n}", text=question, surface="cli")
    started = time.perf_counter()
    first_text = first_tool = None
    final: Final | None = None
    async for event in service.handle(inbound):
        now = time.perf_counter() - started
        if isinstance(event, ToolActivity) and first_tool is None:
            first_tool = now
        if isinstance(event, TextDelta) and first_text is None:
            first_text = now
        if isinstance(event, Final):
            final = event
    total = time.perf_counter() - started
    return {
        "question": question,
        "first_tool_s": round(first_tool, 2) if first_tool is not None else None,
        "first_text_s": round(first_text if first_text is not None else total, 2),
        "answer_s": round(total, 2),
        "cited": len(final.citations) if final else 0,
        "answer": (final.text if final else "")[:300],
    }


def run_e2e_bench(settings: Settings, workdir: Path | None = None) -> dict[str, Any]:
    """Answer ``QUESTIONS`` with the configured model; returns figures per question and overall."""
    from bot.wiring import build_app
    from memory.ingest import ingest_paths

    data = Path(workdir or tempfile.mkdtemp(prefix="rpa-bench-e2e-"))
    models_dir = settings.models_dir.resolve()
    bench_settings = settings.model_copy(update={"data_dir": data})
    app = build_app(bench_settings)
    # Reuse the converted model cache of the real data dir instead of converting again.
    (data / "models").parent.mkdir(parents=True, exist_ok=True)
    if models_dir.exists() and not (data / "models").exists():
        (data / "models").symlink_to(models_dir)
    t0 = time.perf_counter()
    ingest_paths(app.knowledge.get(), [settings.workspace / "docs"], root=settings.workspace)
    ingest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    app.service.agent()  # load the model before timing answers
    load_s = time.perf_counter() - t0
    try:
        rows = [asyncio.run(_ask(app.service, q, n)) for n, q in enumerate(QUESTIONS)]
    finally:
        app.service.close()
    ordered = sorted(r["answer_s"] for r in rows)
    return {
        "model": settings.model,
        "device": settings.model_device,
        "ingest_s": round(ingest_s, 2),
        "model_load_s": round(load_s, 2),
        "first_text_s_median": sorted(r["first_text_s"] for r in rows)[len(rows) // 2],
        "answer_s_median": ordered[len(ordered) // 2],
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "questions": rows,
    }
