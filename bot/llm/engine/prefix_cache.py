"""Prefix caching: the key/value cache of prompts already seen, reused by prompts that extend them.

Every agent turn starts with the same rendered system prompt and tool schemas, and a thread's
next turn starts with its whole previous prompt. After a prompt is prefilled its cache is kept
here (newest first, within a token budget); a new prompt starts from a copy of the longest
stored prefix it shares and prefills only the rest, so time to first token stops paying for
the shared part. Stored entries are single sequences ([1, H, T, D] per layer) and are never
written to: a request gets its own copy.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch

from bot.llm.engine.kv_cache import prefix_copy

KV = list[tuple[torch.Tensor, torch.Tensor]]

# Shorter shared prefixes are not worth a lookup and a copy.
MIN_SHARED_TOKENS = 16


@dataclass
class PrefixHit:
    """The reusable start of a prompt: ``length`` tokens and an owned copy of their cache."""

    length: int
    tensors: KV


def shared_length(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """How many leading tokens ``a`` and ``b`` have in common."""
    limit = min(len(a), len(b))
    if a[:limit] == b[:limit]:
        return limit
    low, high = 0, limit  # binary search on the first difference: tuples compare in C
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


class PrefixCache:
    """Caches of recent prompts within ``budget_tokens`` tokens in all; least recent goes first."""

    def __init__(self, budget_tokens: int = 4096) -> None:
        self.budget_tokens = budget_tokens
        self._entries: OrderedDict[tuple[int, ...], KV] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def lookup(self, prompt: tuple[int, ...]) -> PrefixHit | None:
        """The longest stored prefix of ``prompt`` (at most all but its last token), copied."""
        best_key: tuple[int, ...] | None = None
        best = 0
        with self._lock:
            for key in self._entries:
                n = min(shared_length(key, prompt), len(prompt) - 1)
                if n > best:
                    best, best_key = n, key
            if best_key is None or best < MIN_SHARED_TOKENS:
                self.misses += 1
                return None
            self._entries.move_to_end(best_key, last=False)
            self.hits += 1
            return PrefixHit(best, prefix_copy(self._entries[best_key], best))

    def store(self, prompt: tuple[int, ...], tensors: KV) -> None:
        """Keep a copy of ``prompt``'s cache (``tensors`` may hold more positions than it)."""
        if len(prompt) < MIN_SHARED_TOKENS or len(prompt) > self.budget_tokens:
            return
        copy = prefix_copy(tensors, len(prompt))
        with self._lock:
            self._entries.pop(prompt, None)
            self._entries[prompt] = copy
            self._entries.move_to_end(prompt, last=False)
            while sum(len(k) for k in self._entries) > self.budget_tokens:
                self._entries.popitem(last=True)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
