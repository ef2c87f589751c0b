"""Ingestion: files on disk -> chunks in the knowledge base, incrementally and safely.

``ingest_paths`` walks files and folders, skips files whose content hash and chunking
settings match the manifest, re-chunks changed files (new chunks are written before the
stale ones are removed, and the manifest record last, so an interrupted run is completed by
the next one), and forgets files that disappeared from an ingested folder. A file that cannot
be read (unreadable, encrypted, corrupt, empty, binary, too large) is reported with its
reason and skipped; whatever was stored for it before stays as it was. Text a reader of the
rendered file cannot see is never stored (``memory.hidden_text``); each file's result, its
manifest record and the run's summary say how much was left out.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from memory.chunking import Chunk, chunk_document
from memory.errors import IngestError
from memory.hidden_text import describe
from memory.knowledge import KnowledgeBase
from memory.loaders import LOADERS, load_document

log = logging.getLogger(__name__)

# Bump when chunking changes in a way that should re-chunk unchanged files.
# 2: hidden text (comments, link definitions, hidden HTML, invisible characters) is left out.
CHUNKER_VERSION = 2

Outcome = Literal["added", "updated", "removed", "skipped", "failed"]
ProgressCallback = Callable[[int, int, str], None]  # (files done, files total, current file)


@dataclass(frozen=True)
class IngestOptions:
    """How files are cut and which files are refused."""

    chunk_size: int = 1200
    chunk_overlap: int = 150
    max_file_mb: float = 25.0

    @property
    def signature(self) -> str:
        return f"{self.chunk_size}:{self.chunk_overlap}:v{CHUNKER_VERSION}"


@dataclass(frozen=True)
class FileResult:
    """What happened to one file."""

    source: str
    outcome: Outcome
    chunks: int = 0
    reason: str = ""
    hidden: str = ""  # what was left out because no reader sees it, e.g. "html_comment=2"


@dataclass
class IngestReport:
    """The closing summary of one ingestion run."""

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    chunks_total: int = 0  # chunks in the store after the run

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def files_seen(self) -> int:
        return sum(1 for r in self.results if r.outcome != "removed")

    @property
    def chunks_written(self) -> int:
        return sum(r.chunks for r in self.results if r.outcome in ("added", "updated"))

    @property
    def failures(self) -> list[FileResult]:
        return [r for r in self.results if r.outcome == "failed"]

    @property
    def with_hidden_text(self) -> list[FileResult]:
        """Files stored without text their readers cannot see (see ``memory.hidden_text``)."""
        return [r for r in self.results if r.hidden]

    def summary(self) -> str:
        hidden = self.with_hidden_text
        note = f"; hidden text left out of {len(hidden)} file(s)" if hidden else ""
        return (
            f"files seen {self.files_seen}: added {self.count('added')}, updated "
            f"{self.count('updated')}, removed {self.count('removed')}, skipped "
            f"{self.count('skipped')}, failed {self.count('failed')}; chunks written "
            f"{self.chunks_written}, in store {self.chunks_total}{note}; {self.seconds:.1f} s"
        )


def source_name(path: Path, root: Path | None) -> str:
    """The path recorded and cited for a file: relative to ``root`` when inside it."""
    resolved = path.resolve()
    if root is not None:
        try:
            return resolved.relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return resolved.as_posix()


def _is_hidden(path: Path, base: Path) -> bool:
    return any(part.startswith((".", "~$")) for part in path.relative_to(base).parts)


def discover(folder: Path) -> Iterator[Path]:
    """Supported files under ``folder``, sorted; hidden files and folders (``.x``) and Office
    lock files (``~$x``) are left out."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in LOADERS and not _is_hidden(path, folder):
            yield path


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _chunk_metadata(
    chunk: Chunk, source: str, file_hash: str, tag: str, fmt: str
) -> dict[str, Any]:
    # Chroma metadata values cannot be None: a missing page is stored as -1.
    return {
        "source": source,
        "title": chunk.title,
        "section": chunk.section,
        "page": chunk.page if chunk.page is not None else -1,
        "chunk_index": chunk.index,
        "content_hash": chunk.content_hash,
        "file_hash": file_hash,
        "tag": tag,
        "format": fmt,
    }


def _read_chunks(path: Path, options: IngestOptions) -> tuple[list[Chunk], str, str]:
    """Load and chunk one file; every way a file can be bad becomes an ``IngestError``."""
    try:
        document = load_document(path)
    except IngestError:
        raise
    except OSError as exc:
        raise IngestError(f"{path.name!r} cannot be read: {exc.strerror or exc}") from exc
    except Exception as exc:
        # file must not stop the run, so its error becomes the reason it was skipped.
        raise IngestError(
            f"{path.name!r} could not be parsed: {type(exc).__name__}: {exc}"
        ) from exc
    chunks = chunk_document(document, options.chunk_size, options.chunk_overlap)
    if not chunks:
        raise IngestError(f"{path.name!r} contains no text")
    hidden = describe(Counter(document.hidden))
    if hidden:
        log.warning("%s: left out text no reader sees (%s)", path.name, hidden)
    return chunks, document.format, hidden


@dataclass(frozen=True)
class _Prepared:
    """A new or changed file, read and chunked, waiting to be written."""

    source: str
    file_hash: str
    chunks: list[Chunk]
    fmt: str
    tag: str
    is_update: bool
    hidden: str = ""

    def ids(self) -> list[str]:
        prefix = hashlib.sha256(self.source.encode()).hexdigest()[:16]
        return [f"{prefix}-{self.file_hash[:16]}-{c.index:05d}" for c in self.chunks]

    def metadatas(self) -> list[dict[str, Any]]:
        return [
            _chunk_metadata(c, self.source, self.file_hash, self.tag, self.fmt) for c in self.chunks
        ]

    def record(self, options: IngestOptions) -> dict[str, Any]:
        return {
            "file_hash": self.file_hash,
            "signature": options.signature,
            "chunks": len(self.chunks),
            "title": self.chunks[0].title,
            "format": self.fmt,
            "hidden_removed": self.hidden,
            "ingested_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def result(self) -> FileResult:
        outcome: Outcome = "updated" if self.is_update else "added"
        return FileResult(self.source, outcome, len(self.chunks), hidden=self.hidden)


def _prepare(
    path: Path, source: str, options: IngestOptions, record: dict[str, Any] | None
) -> FileResult | _Prepared:
    """Check, hash, and (when new or changed) read and chunk one file."""
    try:
        size = path.stat().st_size
        if size > options.max_file_mb * 1024 * 1024:
            raise IngestError(
                f"{path.name!r} is {size / 1e6:.1f} MB, over the {options.max_file_mb:g} MB limit"
            )
        file_hash = _file_hash(path)
    except OSError as exc:
        return FileResult(
            source, "failed", reason=f"{path.name!r} cannot be read: {exc.strerror or exc}"
        )
    except IngestError as exc:
        return FileResult(source, "failed", reason=str(exc))
    if (
        record
        and record.get("file_hash") == file_hash
        and record.get("signature") == options.signature
    ):
        stored, hidden = int(record.get("chunks", 0)), str(record.get("hidden_removed", ""))
        return FileResult(source, "skipped", stored, "unchanged", hidden)
    try:
        chunks, fmt, hidden = _read_chunks(path, options)
    except IngestError as exc:
        return FileResult(source, "failed", reason=str(exc))
    return _Prepared(source, file_hash, chunks, fmt, path.parent.name, record is not None, hidden)


def _commit(kb: KnowledgeBase, batch: list[_Prepared], options: IngestOptions) -> None:
    """Write a batch of files: new chunks first (embedded together, which is much faster than
    file by file), then drop the stale chunks of changed files, then the manifest records last:
    a run cut short is finished by the next one, which sees those files as still changed."""
    if not batch:
        return
    kb.add_chunks(
        [i for p in batch for i in p.ids()],
        [c.text for p in batch for c in p.chunks],
        [m for p in batch for m in p.metadatas()],
    )
    for prepared in batch:
        if prepared.is_update:
            kb.delete_chunks(prepared.source, keep_file_hash=prepared.file_hash)
    kb.put_file_records({p.source: p.record(options) for p in batch})


def ingest_file(
    kb: KnowledgeBase,
    path: Path,
    root: Path | None = None,
    options: IngestOptions | None = None,
) -> FileResult:
    """Bring one file's chunks up to date (e.g. a file shared in a conversation)."""
    options = options or IngestOptions()
    source = source_name(path, root)
    prepared = _prepare(path, source, options, kb.file_records([source]).get(source))
    if isinstance(prepared, FileResult):
        return prepared
    _commit(kb, [prepared], options)
    return prepared.result()


def remove_source(kb: KnowledgeBase, source: str) -> FileResult:
    """Forget a file: its chunks and its manifest record."""
    kb.delete_chunks(source)
    kb.delete_file_record(source)
    return FileResult(source, "removed", reason="file no longer exists")


def _plan(paths: Iterable[Path], root: Path | None) -> tuple[list[Path], list[str], list[Path]]:
    """Files to ingest, folder prefixes scanned (for deletions), named files that are gone."""
    files: list[Path] = []
    prefixes: list[str] = []
    missing: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(discover(path))
            prefixes.append(source_name(path, root).rstrip("/") + "/")
        elif path.exists():
            files.append(path)
        else:
            missing.append(path)
    return list(dict.fromkeys(files)), prefixes, missing


def ingest_paths(
    kb: KnowledgeBase,
    paths: Iterable[Path],
    root: Path | None = None,
    options: IngestOptions | None = None,
    progress: ProgressCallback | None = None,
    batch_chunks: int = 512,
) -> IngestReport:
    """Ingest files and folders; return what happened to each file, with totals.

    New and changed files are embedded and written in batches of about ``batch_chunks``."""
    started = time.perf_counter()
    options = options or IngestOptions()
    files, prefixes, missing = _plan([Path(p) for p in paths], root)
    records = kb.file_records()
    report = IngestReport()
    seen: set[str] = set()
    batch: list[_Prepared] = []
    for done, path in enumerate(files, start=1):
        source = source_name(path, root)
        seen.add(source)
        prepared = _prepare(path, source, options, records.get(source))
        if isinstance(prepared, _Prepared):
            batch.append(prepared)
            if sum(len(p.chunks) for p in batch) >= batch_chunks:
                _commit(kb, batch, options)
                report.results.extend(p.result() for p in batch)
                batch = []
        else:
            report.results.append(prepared)
            if prepared.outcome == "failed":
                log.warning("skipped %s: %s", prepared.source, prepared.reason)
        if progress is not None:
            progress(done, len(files), source)
    _commit(kb, batch, options)
    report.results.extend(p.result() for p in batch)
    for path in missing:
        source = source_name(path, root)
        if source in records:
            report.results.append(remove_source(kb, source))
        else:
            report.results.append(
                FileResult(source, "failed", reason=f"{str(path)!r} does not exist")
            )
    for source in records:
        if source not in seen and any(source.startswith(p) for p in prefixes):
            report.results.append(remove_source(kb, source))
    report.chunks_total = kb.count()
    report.seconds = time.perf_counter() - started
    return report
