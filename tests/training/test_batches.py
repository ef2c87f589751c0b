"""Training batches: every example once per epoch, long ones batched with long ones."""

from __future__ import annotations

import random

from bot.training.batches import Encoded
from bot.training.train import _batches


def _examples() -> list[Encoded]:
    rng = random.Random(0)
    widths = [rng.randint(20, 120) for _ in range(200)] + [rng.randint(500, 650) for _ in range(12)]
    return [Encoded(tuple(range(w)), (i,)) for i, w in enumerate(widths)]


def _padded(batches: list[list[Encoded]]) -> int:
    return sum(len(b) * max(len(e.prompt) for e in b) for b in batches)


def test_every_example_once_and_far_less_padding_than_random_batches() -> None:
    items = _examples()
    grouped = _batches(items, 4, random.Random(1))
    assert sorted(e.target for b in grouped for e in b) == sorted(e.target for e in items)
    assert all(len(b) <= 4 for b in grouped)
    rng = random.Random(1)
    order = list(items)
    rng.shuffle(order)
    plain = [order[i : i + 4] for i in range(0, len(order), 4)]
    assert _padded(grouped) < 0.8 * _padded(plain)
    # A new epoch (the same rng, advanced) brings a new order.
    again = _batches(items, 4, random.Random(1))
    assert [e.target for b in again for e in b] == [e.target for b in grouped for e in b]
    other = _batches(items, 4, random.Random(2))
    assert [e.target for b in other for e in b] != [e.target for b in grouped for e in b]


def test_evaluation_batches_are_sorted_by_length() -> None:
    batches = _batches(_examples(), 8, None)
    widths = [len(e.prompt) for b in batches for e in b]
    assert widths == sorted(widths)
