"""The key/value cache the scheduler decodes with: pre-allocated, left-padded, reshaped per step.

transformers' ``DynamicCache`` concatenates every layer's keys and values on every step (a
copy of the whole cache per token). ``SlabLayer`` writes into a buffer with spare room and
hands out views, so a decode step only writes the new token. ``BatchKV`` holds one batch of
sequences left-padded to a common length with its attention mask, and supports what continuous
batching needs between steps: adding a freshly prefilled sequence, dropping finished rows,
trimming columns no row uses any more, and cutting a copy of a prefix for the prefix cache.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

# Spare room allocated when a slab grows, so growth (a copy) happens once per this many steps.
GROW_TOKENS = 64


class SlabLayer(DynamicLayer):
    """One layer's keys and values in a buffer with spare room; ``keys``/``values`` are views."""

    def __init__(self) -> None:
        super().__init__()
        self.length = 0
        self.key_slab: torch.Tensor | None = None
        self.value_slab: torch.Tensor | None = None

    def set(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Replace the contents (a batch reshaped between steps)."""
        self.is_initialized = True
        self.dtype, self.device = keys.dtype, keys.device
        self.key_slab = self.value_slab = None
        self.length = 0
        self._append(keys, values)

    def _append(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        need = self.length + keys.shape[-2]
        slab = self.key_slab
        if slab is None or need > slab.shape[-2] or slab.shape[0] != keys.shape[0]:
            shape = (*keys.shape[:-2], need + GROW_TOKENS, keys.shape[-1])
            new_k = keys.new_empty(shape)
            new_v = values.new_empty(shape)
            if slab is not None and self.value_slab is not None and self.length:
                new_k[..., : self.length, :] = slab[..., : self.length, :]
                new_v[..., : self.length, :] = self.value_slab[..., : self.length, :]
            self.key_slab, self.value_slab = new_k, new_v
        assert self.key_slab is not None and self.value_slab is not None
        self.key_slab[..., self.length : need, :] = keys
        self.value_slab[..., self.length : need, :] = values
        self.length = need
        self.keys = self.key_slab[..., :need, :]
        self.values = self.value_slab[..., :need, :]

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.set(key_states, value_states)
        else:
            self._append(key_states, value_states)
        assert self.keys is not None and self.values is not None
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def crop(self, length: int) -> None:
        """Keep the first ``length`` positions (the rest stays in the slab as spare room)."""
        assert self.key_slab is not None and self.value_slab is not None
        self.length = min(length, self.length)
        self.keys = self.key_slab[..., : self.length, :]
        self.values = self.value_slab[..., : self.length, :]


class SlabCache(DynamicCache):
    """A ``DynamicCache`` made of ``SlabLayer``s (the model sees an ordinary dynamic cache)."""

    def __init__(self, num_layers: int) -> None:
        Cache.__init__(self, layers=[SlabLayer() for _ in range(num_layers)])

    @classmethod
    def from_tensors(cls, tensors: list[tuple[torch.Tensor, torch.Tensor]]) -> SlabCache:
        cache = cls(len(tensors))
        for layer, (k, v) in zip(cache.layers, tensors, strict=True):
            assert isinstance(layer, SlabLayer)
            layer.set(k, v)
        return cache

    def crop(self, max_length: int) -> None:
        """Keep every layer's first ``max_length`` positions (rejected draft tokens leave)."""
        for layer in self.layers:
            assert isinstance(layer, SlabLayer)
            layer.crop(max_length)

    def tensors(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for layer in self.layers:
            assert isinstance(layer, SlabLayer) and layer.keys is not None
            assert layer.values is not None
            out.append((layer.keys, layer.values))
        return out


@dataclass
class BatchKV:
    """A batch of sequences, left-padded: cache [B, H, T, D] per layer and mask [B, T]."""

    cache: SlabCache
    mask: torch.Tensor  # 1 where a row holds a real token, 0 on its left padding

    @property
    def rows(self) -> int:
        return int(self.mask.shape[0])

    @property
    def columns(self) -> int:
        return int(self.mask.shape[1])

    def positions(self) -> torch.Tensor:
        """The next token's position per row [B, 1] (its count of real tokens)."""
        return self.mask.sum(dim=1, keepdim=True)

    def add(self, other: BatchKV) -> None:
        """Append ``other``'s rows, left-padding whichever side is shorter."""
        width = max(self.columns, other.columns)
        mine, theirs = _padded(self, width), _padded(other, width)
        merged = [
            (torch.cat([k1, k2]), torch.cat([v1, v2]))
            for (k1, v1), (k2, v2) in zip(mine[0], theirs[0], strict=True)
        ]
        self.cache = SlabCache.from_tensors(merged)
        self.mask = torch.cat([mine[1], theirs[1]])

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` (finished ones leave), then drop columns no kept row uses."""
        index = torch.tensor(rows, device=self.mask.device)
        mask = self.mask.index_select(0, index)
        used = int(mask.sum(dim=1).max()) if rows else 0
        start = self.columns - used
        kept = [
            (k.index_select(0, index)[..., start:, :], v.index_select(0, index)[..., start:, :])
            for k, v in self.cache.tensors()
        ]
        self.cache = SlabCache.from_tensors(kept)
        self.mask = mask[:, start:]

    def extend_mask(self) -> None:
        """One more real column for every row (after a decode step wrote one token each)."""
        self.mask = torch.cat([self.mask, self.mask.new_ones(self.rows, 1)], dim=1)


def _padded(batch: BatchKV, width: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], Any]:
    pad = width - batch.columns
    if pad == 0:
        return batch.cache.tensors(), batch.mask
    out = []
    for k, v in batch.cache.tensors():
        zeros = k.new_zeros((*k.shape[:-2], pad, k.shape[-1]))
        out.append((torch.cat([zeros, k], dim=-2), torch.cat([zeros, v], dim=-2)))
    return out, torch.cat([batch.mask.new_zeros(batch.rows, pad), batch.mask], dim=1)


def prefix_copy(
    tensors: list[tuple[torch.Tensor, torch.Tensor]], length: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Owned copies of the first ``length`` positions of a single sequence's cache."""
    return [(k[..., :length, :].clone(), v[..., :length, :].clone()) for k, v in tensors]


def cache_kwargs(model: Any, cache: Any) -> dict[str, Any]:
    """``cache`` as the keyword the installed transformers' forward takes: ``cache`` in newer
    releases, ``past_key_values`` (deprecated there, removed in 5.40) before."""
    return {_cache_keyword(type(_base_of(model))): cache}


def cache_of(output: Any) -> Any:
    """The cache a forward pass returned, under either of its names."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _base_of(model: Any) -> Any:
    """The transformers model under a PEFT wrapper (whose forward takes ``**kwargs``)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


_KEYWORDS: dict[type[Any], str] = {}


def _cache_keyword(model_class: type[Any]) -> str:
    if model_class not in _KEYWORDS:
        parameters = inspect.signature(model_class.forward).parameters
        _KEYWORDS[model_class] = "cache" if "cache" in parameters else "past_key_values"
    return _KEYWORDS[model_class]
