"""The batch KV cache's reshaping and the prefix cache's bookkeeping, on small tensors."""

from __future__ import annotations

import torch

from bot.llm.engine.kv_cache import BatchKV, SlabCache
from bot.llm.engine.prefix_cache import MIN_SHARED_TOKENS, PrefixCache, shared_length


def one_row(length: int, value: float, layers: int = 2) -> BatchKV:
    k = torch.full((1, 3, length, 4), value)
    cache = SlabCache.from_tensors([(k, k + 100) for _ in range(layers)])
    return BatchKV(cache, torch.ones(1, length, dtype=torch.long))


def test_rows_of_different_lengths_are_left_padded_and_trimmed_when_they_leave() -> None:
    batch = one_row(5, 1.0)
    batch.add(one_row(2, 2.0))
    assert batch.mask.tolist() == [[1, 1, 1, 1, 1], [0, 0, 0, 1, 1]]
    keys, values = batch.cache.tensors()[0]
    assert keys[1, 0, :, 0].tolist() == [0, 0, 0, 2, 2] and values[0, 0, 0, 0] == 101
    assert batch.positions().tolist() == [[5], [2]]
    batch.keep([1])  # the long row leaves: its columns go with it
    assert batch.mask.tolist() == [[1, 1]]
    assert batch.cache.tensors()[1][0][0, 0, :, 0].tolist() == [2, 2]


def test_a_decode_step_writes_into_the_slab_without_copying_the_past() -> None:
    batch = one_row(3, 1.0)
    before = batch.cache.tensors()[0][0].data_ptr()
    new = torch.full((1, 3, 1, 4), 9.0)
    keys, _ = batch.cache.update(new, new, 0)
    assert keys.shape[-2] == 4 and keys.data_ptr() == before and keys[0, 0, 3, 0] == 9
    assert batch.cache.get_seq_length() == 4


def test_shared_length_finds_the_first_difference() -> None:
    assert shared_length((1, 2, 3, 4), (1, 2, 9)) == 2
    assert shared_length((1, 2), (1, 2, 3)) == 2
    assert shared_length((5,), (6,)) == 0


def test_prefix_cache_returns_the_longest_stored_prefix_as_a_copy() -> None:
    cache = PrefixCache(budget_tokens=100)
    short = tuple(range(MIN_SHARED_TOKENS + 2))
    long = tuple(range(40))
    for prompt in (short, long):
        k = torch.arange(len(prompt), dtype=torch.float32).reshape(1, 1, -1, 1)
        cache.store(prompt, [(k, k)])
    hit = cache.lookup((*range(30), 999))
    assert hit is not None and hit.length == 30
    hit.tensors[0][0][0, 0, 0, 0] = -1  # the request's copy, not the stored entry
    again = cache.lookup((*range(30), 999))
    assert again is not None and again.tensors[0][0][0, 0, 0, 0] == 0
    assert cache.lookup((7, 7, 7)) is None  # nothing shared
    assert cache.lookup(long) is not None and cache.lookup(long).length == 39  # type: ignore[union-attr]


def test_prefix_cache_stays_within_its_token_budget() -> None:
    cache = PrefixCache(budget_tokens=50)
    for start in (0, 1000, 2000):
        prompt = tuple(range(start, start + 20))
        k = torch.zeros(1, 1, 20, 1)
        cache.store(prompt, [(k, k)])
    assert len(cache) == 2  # the oldest went
    assert cache.lookup(tuple(range(0, 25))) is None
