"""Retrieval speed: ingest throughput, query latency, and re-ingest of an unchanged corpus.

For each size, a synthetic corpus of Markdown files (one chunk per section, words drawn with a
fixed seed from the demo company's own vocabulary, so keyword statistics look like real
policies) is written to a temporary folder and ingested into a fresh store through the real
``ingest_paths``. Then hybrid queries (the evaluation set's questions; query embedding
included) are timed, and the same folder is ingested again unchanged.
"""

from __future__ import annotations

import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.bench.report import percentile
from memory.ingest import IngestOptions, ingest_paths
from memory.knowledge import KnowledgeBase

SECTIONS_PER_FILE = 20
SECTION_WORDS = 70  # ~450 characters: one chunk per section at the default chunk size


@dataclass(frozen=True)
class BenchRow:
    """Figures for one corpus size."""

    chunks: int
    files: int
    ingest_s: float
    keyword_index_s: float  # building the in-memory keyword index on the first query
    query_p50_ms: float
    query_p95_ms: float
    reingest_s: float

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.ingest_s if self.ingest_s else 0.0


def vocabulary(docs: Path) -> list[str]:
    """Words of the demo documents' Markdown sources (the synthetic text's raw material)."""
    words: list[str] = []
    for path in sorted(docs.rglob("*.md")):
        words.extend(re.findall(r"[A-Za-z][A-Za-z-]{2,}", path.read_text(encoding="utf-8")))
    return words or ["policy", "approval", "expense", "vendor", "invoice", "leave"]


def write_corpus(folder: Path, chunks: int, words: list[str], seed: int = 7) -> int:
    """Write Markdown files holding about ``chunks`` sections; return the number of files."""
    rng = random.Random(seed)
    files = max(1, chunks // SECTIONS_PER_FILE)
    for number in range(files):
        sections = []
        for section in range(SECTIONS_PER_FILE):
            body = " ".join(rng.choices(words, k=SECTION_WORDS))
            sections.append(f"## Section {section + 1}: {rng.choice(words)}\n\n{body}.")
        text = f"# Synthetic policy {number:06d}\n\n" + "\n\n".join(sections) + "\n"
        sub = folder / f"part{number // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"policy-{number:06d}.md").write_text(text, encoding="utf-8")
    return files


def bench_size(
    size: int,
    embedder: str,
    queries: list[str],
    workdir: Path,
    options: IngestOptions,
    say: Callable[[str], None] = print,
    progress: Callable[[int, int, str], None] | None = None,
    words: list[str] | None = None,
) -> BenchRow:
    """Ingest ``size`` synthetic chunks, time queries, re-ingest unchanged; return the figures."""
    corpus = workdir / f"corpus-{size}"
    files = write_corpus(corpus, size, words or ["policy"])
    kb = KnowledgeBase(workdir / f"chroma-{size}", embedder, f"bench_{size}")
    say(f"[{size} chunks] ingesting {files} files...")
    first = ingest_paths(kb, [corpus], root=workdir, options=options, progress=progress)
    started = time.perf_counter()
    kb.search("warm up the keyword index", k=5)
    keyword_index_s = time.perf_counter() - started
    say(f"[{size} chunks] timing {len(queries)} hybrid queries...")
    latencies = []
    for query in queries:
        started = time.perf_counter()
        kb.search(query, k=5, mode="hybrid")
        latencies.append((time.perf_counter() - started) * 1000)
    say(f"[{size} chunks] re-ingesting the unchanged corpus...")
    again = ingest_paths(kb, [corpus], root=workdir, options=options)
    return BenchRow(
        chunks=first.chunks_written,
        files=files,
        ingest_s=first.seconds,
        keyword_index_s=keyword_index_s,
        query_p50_ms=statistics.median(latencies),
        query_p95_ms=percentile(latencies, 95),
        reingest_s=again.seconds,
    )


def run_bench(
    sizes: list[int],
    embedder: str,
    queries: list[str],
    docs: Path,
    options: IngestOptions,
    say: Callable[[str], None] = print,
    progress: Callable[[int, int, str], None] | None = None,
    workdir: Path | None = None,
) -> list[BenchRow]:
    """Every size in turn, each in its own fresh store under a temporary folder."""
    words = vocabulary(docs)
    with tempfile.TemporaryDirectory(prefix="rpa-bench-", dir=workdir) as tmp:
        return [
            bench_size(size, embedder, queries, Path(tmp), options, say, progress, words)
            for size in sizes
        ]


def format_rows(rows: list[BenchRow]) -> str:
    header = (
        f"{'chunks':>8}{'files':>7}{'ingest s':>10}{'chunks/s':>10}{'kw index s':>11}"
        f"{'p50 ms':>8}{'p95 ms':>8}{'re-ingest s':>12}{'re/first':>9}"
    )
    lines = [header]
    for r in rows:
        ratio = r.reingest_s / r.ingest_s if r.ingest_s else 0.0
        lines.append(
            f"{r.chunks:>8}{r.files:>7}{r.ingest_s:>10.1f}{r.chunks_per_s:>10.0f}"
            f"{r.keyword_index_s:>11.2f}{r.query_p50_ms:>8.1f}{r.query_p95_ms:>8.1f}"
            f"{r.reingest_s:>12.2f}{ratio:>9.3f}"
        )
    return "\n".join(lines)
