"""Ingestion into a real Chroma store: incremental add, change, delete; idempotence; bad files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memory.ingest import IngestOptions, ingest_file, ingest_paths
from memory.knowledge import KnowledgeBase


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    return KnowledgeBase(tmp_path / "chroma", "embedded", "test_docs")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "ws" / "docs" / "finance"
    folder.mkdir(parents=True)
    (folder / "expenses.md").write_text(
        "# Expenses\n\n## Approval\n\nAbove 500 EUR the manager approves.\n", encoding="utf-8"
    )
    (folder / "travel.md").write_text(
        "# Travel\n\n## Rail\n\nTake the train under 4 hours.\n", encoding="utf-8"
    )
    return folder.parent


def sources(kb: KnowledgeBase) -> dict[str, int]:
    return {s: int(r["chunks"]) for s, r in kb.file_records().items()}


def test_ingest_adds_then_skips_unchanged(kb: KnowledgeBase, docs: Path) -> None:
    root = docs.parent
    first = ingest_paths(kb, [docs], root=root)
    assert (first.count("added"), first.count("failed")) == (2, 0)
    assert sources(kb) == {"docs/finance/expenses.md": 1, "docs/finance/travel.md": 1}
    assert kb.count() == 2
    hit = kb.search("manager approves", k=1)[0]
    assert hit.metadata["tag"] == "finance" and hit.metadata["format"] == "markdown"

    again = ingest_paths(kb, [docs], root=root)
    assert again.count("skipped") == 2 and again.chunks_written == 0
    assert kb.count() == 2


def test_changed_file_replaces_its_chunks_and_deleted_file_disappears(
    kb: KnowledgeBase, docs: Path
) -> None:
    root = docs.parent
    ingest_paths(kb, [docs], root=root)
    (docs / "finance" / "expenses.md").write_text(
        "# Expenses\n\n## Approval\n\nAbove 700 EUR the director approves.\n\n## Receipts\n\nKeep them.\n",
        encoding="utf-8",
    )
    (docs / "finance" / "travel.md").unlink()
    report = ingest_paths(kb, [docs], root=root)
    assert (report.count("updated"), report.count("removed")) == (1, 1)
    assert sources(kb) == {"docs/finance/expenses.md": 2}
    texts = {h.text for h in kb.search("approves", k=10, mode="keyword")}
    assert "Above 700 EUR the director approves." in texts
    assert not any("500 EUR" in t for t in texts)  # the stale chunk is gone
    assert kb.search("train", k=5, mode="keyword") == []


def test_changed_chunking_settings_rechunk_unchanged_files(kb: KnowledgeBase, docs: Path) -> None:
    ingest_paths(kb, [docs], root=docs.parent)
    report = ingest_paths(kb, [docs], root=docs.parent, options=IngestOptions(chunk_size=600))
    assert report.count("updated") == 2


def test_bad_files_are_skipped_with_reasons_and_others_ingest(
    kb: KnowledgeBase, docs: Path
) -> None:
    folder = docs / "finance"
    (folder / "empty.md").write_text("", encoding="utf-8")
    (folder / "blob.txt").write_bytes(b"\x00\x00\x00")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 garbage")
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 garbage")
    (folder / "huge.md").write_text("# Big\n\n" + "x" * 300_000, encoding="utf-8")
    report = ingest_paths(kb, [docs], root=docs.parent, options=IngestOptions(max_file_mb=0.1))
    reasons = {Path(r.source).name: r.reason for r in report.failures}
    assert set(reasons) == {"empty.md", "blob.txt", "broken.pdf", "broken.docx", "huge.md"}
    assert "no text" in reasons["empty.md"] and "binary" in reasons["blob.txt"]
    assert "MB limit" in reasons["huge.md"]
    assert report.count("added") == 2
    assert set(sources(kb)) == {"docs/finance/expenses.md", "docs/finance/travel.md"}


def test_a_file_that_turns_bad_keeps_its_last_good_chunks(kb: KnowledgeBase, docs: Path) -> None:
    ingest_paths(kb, [docs], root=docs.parent)
    (docs / "finance" / "travel.md").write_bytes(b"\x00corrupted")
    report = ingest_paths(kb, [docs], root=docs.parent)
    assert [Path(r.source).name for r in report.failures] == ["travel.md"]
    assert [h.text for h in kb.search("train", k=1, mode="keyword")] == [
        "Take the train under 4 hours."
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_reported(kb: KnowledgeBase, docs: Path) -> None:
    path = docs / "finance" / "travel.md"
    path.chmod(0)
    try:
        result = ingest_file(kb, path, root=docs.parent)
    finally:
        path.chmod(0o644)
    assert result.outcome == "failed" and "cannot be read" in result.reason


def test_ingest_file_adds_one_file_and_a_named_missing_file_is_removed(
    kb: KnowledgeBase, docs: Path
) -> None:
    path = docs / "finance" / "expenses.md"
    assert ingest_file(kb, path, root=docs.parent).outcome == "added"
    assert ingest_file(kb, path, root=docs.parent).outcome == "skipped"
    path.unlink()
    report = ingest_paths(kb, [path], root=docs.parent)
    assert [r.outcome for r in report.results] == ["removed"]
    assert kb.count() == 0


def test_hidden_folders_are_not_ingested(kb: KnowledgeBase, docs: Path) -> None:
    hidden = docs / ".sources"
    hidden.mkdir()
    (hidden / "draft.md").write_text("# Draft\n\nnot published\n", encoding="utf-8")
    report = ingest_paths(kb, [docs], root=docs.parent)
    assert report.files_seen == 2
