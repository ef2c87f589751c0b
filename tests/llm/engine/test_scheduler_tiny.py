"""The scheduler's mechanics on a tiny random Llama (no weights to load, fast).

Prompt-lookup decoding: drafts come from the conversation's own tokens, and a conversation
decoding alone gets exactly the greedy reply it gets without drafts, with fewer forward passes
(the embedded model's quoting case is in test_scheduler.py). Plain decode steps are counted by
row count for the bench. A long prompt joining running conversations is prefilled in chunks
between their steps and still gets the reply it gets alone.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import torch

from bot.llm.engine.model import LoadedModel
from bot.llm.engine.options import DecodingOptions
from bot.llm.engine.scheduler import Scheduler, lookup_draft
from bot.priority import Priority
from tests.llm.conftest import tiny_llama


@pytest.mark.parametrize(
    ("tokens", "want"),
    [
        ([1, 2, 3, 4, 5, 9, 2, 3], [4, 5, 9, 2]),  # the tail "2 3" occurred before: what followed
        ([7, 1, 2, 3, 8, 1, 2, 3, 6, 6, 1, 2, 3], [6, 6, 1, 2]),  # the latest occurrence wins
        ([5, 1, 2, 9, 3, 1, 2], [9, 3, 1, 2]),
        ([1, 2, 3, 4], []),  # nothing repeats
        ([4, 4], []),  # a one-token tail is too weak a hint
        ([], []),
    ],
)
def test_lookup_draft_continues_the_latest_earlier_occurrence(
    tokens: list[int], want: list[int]
) -> None:
    assert lookup_draft(tokens, 4) == want


def test_a_longer_match_is_preferred_to_a_later_shorter_one() -> None:
    # "1 2 3" occurred at the start; "2 3" alone occurred later with something else after it.
    tokens = [1, 2, 3, 10, 11, 2, 3, 20, 1, 2, 3]
    assert lookup_draft(tokens, 2) == [10, 11]
    assert lookup_draft(tokens, 2, ngrams=(2,)) == [20, 1]


class Ids:
    """A stand-in tokenizer: each id decodes to a short word (the scheduler streams text)."""

    eos_token_id = 0

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(f"w{i} " for i in ids if i != 0)


def tiny_loaded(seed: int) -> LoadedModel:
    model = tiny_llama(vocab_size=24, seed=seed, eos_token_id=0)
    return LoadedModel(model, Ids(), "cpu", "float32", "tiny")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("limit", [5, 40])
def test_drafted_replies_equal_plain_greedy_ones(seed: int, limit: int) -> None:
    loaded = tiny_loaded(seed)
    prompt = [3, 4, 5, 6, 7] * 6  # repeats, so drafts exist from the first step
    options = DecodingOptions(max_new_tokens=limit, draft_tokens=4)
    plain = Scheduler(loaded).submit(prompt, replace(options, draft_tokens=0)).result()
    drafting = Scheduler(loaded)
    got = drafting.submit(prompt, options).result()
    assert got.token_ids == plain.token_ids
    assert got.text == plain.text and got.reason == plain.reason
    assert len(got.token_ids) <= limit
    assert drafting.drafted > 0
    assert drafting.accepted <= drafting.drafted


def test_accepted_drafts_save_forward_passes() -> None:
    # A random tiny model soon loops; loops are what lookup drafts predict best.
    loaded = tiny_loaded(0)
    prompt = [3, 4, 5, 6, 7] * 6
    options = DecodingOptions(max_new_tokens=40, stop_on_loop=0, draft_tokens=4)
    plain = Scheduler(loaded)
    drafting = Scheduler(loaded)
    want = plain.submit(prompt, replace(options, draft_tokens=0)).result()
    got = drafting.submit(prompt, options).result()
    assert got.token_ids == want.token_ids
    assert drafting.accepted > 0
    assert drafting.steps == plain.steps - drafting.accepted


def test_sampled_replies_decode_without_drafts() -> None:
    loaded = tiny_loaded(0)
    prompt = [3, 4, 5, 6, 7] * 6
    scheduler = Scheduler(loaded)
    sampled = DecodingOptions(decoding="sample", seed=3, max_new_tokens=12, draft_tokens=4)
    scheduler.submit(prompt, sampled).result()
    assert scheduler.drafted == 0


def test_plain_decode_steps_are_counted_by_rows() -> None:
    # The bench's batched decode throughput reads these counters (bot/bench/batching.py).
    loaded = tiny_loaded(1)
    scheduler = Scheduler(loaded)
    options = DecodingOptions(max_new_tokens=12, draft_tokens=0, stop_on_loop=0)
    handles = [scheduler.submit([3, 4, 5, n], options) for n in (6, 7)]
    tokens = [h.result().tokens for h in handles]
    assert sum(scheduler.step_counts.values()) == scheduler.steps
    assert scheduler.step_counts.get(2, 0) >= 1
    assert all(scheduler.step_seconds[rows] > 0 for rows in scheduler.step_counts)
    # Every token after a request's first comes from one row of one step.
    assert sum(r * n for r, n in scheduler.step_counts.items()) == sum(tokens) - len(tokens)


def test_a_long_prompt_is_prefilled_in_chunks_between_the_others_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.llm.engine import scheduler as module

    monkeypatch.setattr(module, "PREFILL_CHUNK", 8)
    loaded = tiny_loaded(2)
    options = DecodingOptions(max_new_tokens=30, draft_tokens=0, stop_on_loop=0)
    long_prompt = [(7 * n) % 23 + 1 for n in range(40)]  # 5 chunks of 8
    alone = Scheduler(loaded).submit(long_prompt, options).result()

    scheduler = Scheduler(loaded)
    steps_of_first: list[float] = []
    joined = []

    def hook(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        steps_of_first.append(time.perf_counter())
        if len(steps_of_first) == 3:
            joined.append(scheduler.submit(long_prompt, options))
        return scores

    first = scheduler.submit([3, 4, 5, 6], options, [hook])
    first.result()
    second = joined[0].result()
    assert second.token_ids == alone.token_ids
    # The first conversation kept decoding while the long prompt was fed to the model.
    during = [t for t in steps_of_first if second.submitted < t < second.first_token]
    assert len(during) >= 4


def test_closing_cancels_what_is_left_and_stops_the_thread() -> None:
    loaded = tiny_loaded(2)  # its reply to this prompt runs to the token limit
    scheduler = Scheduler(loaded)
    options = DecodingOptions(max_new_tokens=200, draft_tokens=0, stop_on_loop=0)

    def close_at_third_token(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[-1] == 7:  # a 4-token prompt plus 3 chosen tokens
            scheduler.close()  # from the decode thread itself: no join, the loop stops after
        return scores

    handle = scheduler.submit([3, 4, 5, 6], options, [close_at_third_token])
    finished = handle.result()
    assert finished.reason == "cancelled" and finished.tokens < 200
    assert scheduler._thread is not None
    scheduler._thread.join(10)
    assert not scheduler._thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        scheduler.submit([3, 4, 5], options)


class Held:
    """Urgent work held for as long as the test runs, on a fake clock only sleeps advance."""

    def __init__(self, budget: float) -> None:
        self.now = 0.0
        self.priority = Priority(0.125, budget, clock=self.clock, sleep=self.sleep)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize("fast", [True, False])
def test_forward_passes_pause_for_urgent_work_and_the_reply_is_unchanged(fast: bool) -> None:
    loaded = tiny_loaded(1)
    options = DecodingOptions(max_new_tokens=10, draft_tokens=0, stop_on_loop=0)
    prompt = [3, 4, 5, 6]
    quiet = Held(budget=0.25)
    calm = Scheduler(loaded, fast=fast, priority=quiet.priority)
    want = calm.submit(prompt, options).result()
    assert quiet.priority.pauses == 0 and quiet.now == 0.0

    held = Held(budget=0.25)
    scheduler = Scheduler(loaded, fast=fast, priority=held.priority)
    assert (scheduler.fast is not None) is fast
    with held.priority.work():  # a request being answered throughout
        got = scheduler.submit(prompt, options).result()
    assert got.token_ids == want.token_ids
    # The prefill and every decode step paused once each, for their whole allowance.
    passes = 1 + scheduler.steps
    assert held.priority.pauses == passes
    assert held.now == 0.25 * passes
    # The checkpoints of transformers' forward are hooks added for that pass only.
    assert all(not layer._forward_pre_hooks for layer in loaded.model.model.layers)


def test_only_cpu_forward_passes_pause() -> None:
    # A GPU's forward passes leave the CPU cores to the server; they do not pause.
    model = tiny_llama(vocab_size=24, seed=0, eos_token_id=0)
    on_gpu = LoadedModel(model, Ids(), "cuda", "bfloat16", "tiny")  # type: ignore[arg-type]
    assert Scheduler(on_gpu).priority is None
    assert Scheduler(tiny_loaded(0)).priority is not None
