"""Every prompt is prefilled in chunks, a lone one too, and a request whose caller stopped it
(``bot.priority.stop_scope``) ends at the next step boundary, during its prefill as well."""

from __future__ import annotations

import threading

import pytest
import torch

from bot.llm.engine.options import DecodingOptions
from bot.llm.engine.scheduler import Scheduler
from bot.priority import stop_scope
from tests.llm.engine.test_scheduler_tiny import tiny_loaded

OPTIONS = DecodingOptions(max_new_tokens=200, draft_tokens=0, stop_on_loop=0)
LONG_PROMPT = [(7 * n) % 23 + 1 for n in range(40)]  # 5 chunks of 8


@pytest.fixture
def chunk_of_8(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.llm.engine import scheduler as module

    monkeypatch.setattr(module, "PREFILL_CHUNK", 8)


def _count_passes(model: torch.nn.Module, lengths: list[int]) -> torch.utils.hooks.RemovableHandle:
    def note(module: torch.nn.Module, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        lengths.append(int(kwargs["input_ids"].shape[1]))  # type: ignore[attr-defined]

    return model.register_forward_pre_hook(note, with_kwargs=True)


@pytest.mark.usefixtures("chunk_of_8")
def test_a_lone_prompt_is_prefilled_in_chunks_and_gets_the_same_reply() -> None:
    loaded = tiny_loaded(2)
    options = DecodingOptions(max_new_tokens=12, draft_tokens=0, stop_on_loop=0)
    lengths: list[int] = []
    hook = _count_passes(loaded.model, lengths)
    try:
        chunked = Scheduler(loaded, fast=False).submit(LONG_PROMPT, options).result()
    finally:
        hook.remove()
    assert lengths[:5] == [8, 8, 8, 8, 8]  # the prompt went in five passes, none of them whole
    assert all(n == 1 for n in lengths[5:])  # then one token per decode step
    # Feeding the prompt in one pass gives the same greedy reply.
    with torch.inference_mode():
        ids = torch.tensor([LONG_PROMPT])
        whole = loaded.model.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=0)
    assert chunked.token_ids == whole[0, len(LONG_PROMPT) :].tolist()[: len(chunked.token_ids)]


def test_a_stopped_request_ends_at_the_next_step() -> None:
    loaded = tiny_loaded(2)  # its reply to this prompt runs to the token limit
    stop = threading.Event()

    def stop_at_third_token(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[-1] == 7:  # a 4-token prompt plus 3 chosen tokens
            stop.set()
        return scores

    scheduler = Scheduler(loaded)
    with stop_scope(stop):
        handle = scheduler.submit([3, 4, 5, 6], OPTIONS, [stop_at_third_token])
    finished = handle.result()
    assert finished.reason == "cancelled"
    assert 3 <= finished.tokens <= 5  # a step or two at most after the stop
    other = scheduler.submit([3, 4, 5, 6], DecodingOptions(max_new_tokens=4, draft_tokens=0))
    assert other.result().tokens == 4  # the scheduler goes on with the next request


@pytest.mark.usefixtures("chunk_of_8")
def test_a_request_stopped_during_its_prefill_ends_before_its_first_token() -> None:
    loaded = tiny_loaded(2)
    stop = threading.Event()
    lengths: list[int] = []

    def note(module: torch.nn.Module, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        lengths.append(int(kwargs["input_ids"].shape[1]))  # type: ignore[attr-defined]
        if len(lengths) == 2:
            stop.set()  # while the second chunk goes in

    hook = loaded.model.register_forward_pre_hook(note, with_kwargs=True)
    try:
        with stop_scope(stop):
            finished = Scheduler(loaded, fast=False).submit(LONG_PROMPT, OPTIONS).result()
    finally:
        hook.remove()
    assert finished.reason == "cancelled" and finished.tokens == 0
    assert lengths == [8, 8]  # the three chunks left were never fed
