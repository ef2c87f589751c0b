"""The loaded model the engine serves: weights, tokenizer, device, and who may run a pass.

``bot/llm/loading.py`` makes one (from a GGUF, a directory, an adapter); everything in the
engine takes one. It lives here so that the engine needs nothing from the layer above it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadedModel:
    """A model ready to generate, with its tokenizer and where it runs."""

    model: Any  # transformers PreTrainedModel
    tokenizer: Any  # transformers PreTrainedTokenizerBase
    device: str
    dtype: str  # "float32" | "bfloat16" | "float16"
    label: str
    # One forward pass at a time per loaded model: the batching scheduler holds it per step,
    # a beam-search generate() for its whole run.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # The continuous-batching scheduler that owns decoding (bot/llm/engine/scheduler.py), made on
    # first use so that every conversation sharing this model shares its batch.
    scheduler: Any = field(default=None, repr=False)
