"""The batching scheduler with the real model: batching never changes a greedy answer.

One loaded model for the module; each test makes its own ``Scheduler`` so that prefix caches and
counters start empty. Replies are short (16-24 tokens) to keep the module fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from bot.config import Settings
from bot.llm.engine.model import LoadedModel
from bot.llm.engine.options import DecodingOptions
from bot.llm.engine.prefix_cache import PrefixCache
from bot.llm.engine.scheduler import GenerationHandle, Scheduler, scheduler_for
from bot.llm.rendering import ToolBinding, ToolSpec
from bot.llm.tool_calls import GrammarCache, parse_reply

pytestmark = pytest.mark.real_model

QUESTIONS = (
    "What is the capital of France?",
    "Write a short email asking a colleague for the March expense report.",
    "List three steps to onboard a new vendor.",
    "Explain what a purchase order is in two sentences.",
)
GREEDY = DecodingOptions(max_new_tokens=16)


def ids(loaded: LoadedModel, question: str, system: str = "") -> list[int]:
    chat = [{"role": "system", "content": system}] if system else []
    chat.append({"role": "user", "content": question})
    encoded = loaded.tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_dict=True
    )
    return list(encoded["input_ids"])


class Hook:
    """A logits processor that runs ``action`` on its ``at``-th call (inside a decode step)."""

    def __init__(self, at: int, action: Callable[[], Any]) -> None:
        self.at, self.action, self.calls = at, action, 0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.at:
            self.action()
        return scores


@pytest.fixture(scope="module")
def alone(loaded_model: LoadedModel) -> list[str]:
    """Each question's greedy reply decoded on its own."""
    scheduler = Scheduler(loaded_model)
    return [scheduler.submit(ids(loaded_model, q), GREEDY).result().text for q in QUESTIONS]


def test_concurrent_requests_get_what_they_get_alone(
    loaded_model: LoadedModel, alone: list[str]
) -> None:
    scheduler = Scheduler(loaded_model)
    handles = [scheduler.submit(ids(loaded_model, q), GREEDY) for q in QUESTIONS]
    assert [h.result().text for h in handles] == alone
    assert scheduler.max_rows_seen == len(QUESTIONS)
    # One decode step per token of the longest reply, not one per token of every reply.
    assert scheduler.steps < sum(h.result().tokens for h in handles)


def test_a_request_joining_mid_batch_changes_nothing(
    loaded_model: LoadedModel, alone: list[str]
) -> None:
    scheduler = Scheduler(loaded_model)
    joined: list[GenerationHandle] = []
    join = Hook(4, lambda: joined.append(scheduler.submit(ids(loaded_model, QUESTIONS[2]), GREEDY)))
    first = scheduler.submit(ids(loaded_model, QUESTIONS[1]), GREEDY, [join])
    assert first.result().text == alone[1]
    assert joined[0].result().text == alone[2]
    assert scheduler.max_rows_seen == 2  # the second request decoded beside the first


def test_a_failing_request_does_not_take_down_the_others(
    loaded_model: LoadedModel, alone: list[str]
) -> None:
    def explode() -> None:
        raise RuntimeError("grammar matcher broke")

    scheduler = Scheduler(loaded_model)
    ok = [scheduler.submit(ids(loaded_model, QUESTIONS[i]), GREEDY) for i in (0, 1)]
    bad = scheduler.submit(ids(loaded_model, QUESTIONS[2]), GREEDY, [Hook(3, explode)])
    with pytest.raises(RuntimeError, match="grammar matcher broke"):
        bad.result()
    assert [h.result().text for h in ok] == alone[:2]
    later = scheduler.submit(ids(loaded_model, QUESTIONS[3]), GREEDY)
    assert later.result().text == alone[3]  # the scheduler carries on


def test_stop_strings_and_tool_grammars_are_per_request(
    loaded_model: LoadedModel, alone: list[str]
) -> None:
    weather = ToolSpec(
        "get_weather",
        "Current weather for a city.",
        {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    )
    binding = ToolBinding((weather,), "get_weather")
    grammar = GrammarCache(loaded_model.tokenizer, loaded_model.model.config.vocab_size)
    stop = alone[1].split()[3]
    scheduler = Scheduler(loaded_model)
    plain = scheduler.submit(ids(loaded_model, QUESTIONS[0]), GREEDY)
    cut = scheduler.submit(ids(loaded_model, QUESTIONS[1]), GREEDY.updated(stop=[stop]))
    call = scheduler.submit(
        ids(loaded_model, "Weather in Oslo?"),
        GREEDY.updated(max_new_tokens=48),
        [grammar.processor(binding)],
    )
    assert plain.result().text == alone[0]
    assert cut.result().text == alone[1][: alone[1].index(stop)]
    assert cut.result().reason == "stop"
    message = parse_reply(call.result().text, binding)
    assert message.tool_calls[0]["name"] == "get_weather"
    assert isinstance(message.tool_calls[0]["args"]["city"], str)


def test_prefix_cache_gives_the_same_tokens_as_no_cache(loaded_model: LoadedModel) -> None:
    system = "You are the Acme operations assistant. Expenses are filed within thirty days. " * 3
    first, second = (ids(loaded_model, q, system) for q in QUESTIONS[:2])
    plain = Scheduler(loaded_model, prefix_cache=None)
    expected = plain.submit(second, GREEDY).result().token_ids
    cache = PrefixCache()
    cached = Scheduler(loaded_model, prefix_cache=cache)
    cached.submit(first, GREEDY).result()
    assert cached.submit(second, GREEDY).result().token_ids == expected
    assert cache.hits == 1  # the second prompt started from the first one's system prefix


def test_streamed_pieces_join_to_the_reply_and_sampling_is_seeded(
    loaded_model: LoadedModel, alone: list[str]
) -> None:
    scheduler = scheduler_for(loaded_model)
    assert scheduler_for(loaded_model) is scheduler  # one per loaded model
    pieces = list(scheduler.submit(ids(loaded_model, QUESTIONS[1]), GREEDY))
    assert len(pieces) > 2 and "".join(pieces) == alone[1]
    sample = GREEDY.updated(decoding="sample", temperature=0.9, seed=11)
    draws = [scheduler.submit(ids(loaded_model, QUESTIONS[3]), sample) for _ in range(2)]
    assert draws[0].result().token_ids == draws[1].result().token_ids  # seeded, batched together


class Cycle:
    """A logits processor that forces the reply to repeat ``tokens`` forever."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens, self.calls = tokens, 0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        forced = torch.full_like(scores, float("-inf"))
        forced[..., self.tokens[self.calls % len(self.tokens)]] = 0.0
        self.calls += 1
        return forced


def test_a_looping_reply_stops_once_it_repeats_itself(loaded_model: LoadedModel) -> None:
    words = loaded_model.tokenizer.encode(" receipts are filed within thirty days of the trip.")
    scheduler = Scheduler(loaded_model)
    prompt = ids(loaded_model, QUESTIONS[0])
    options = DecodingOptions(max_new_tokens=200, stop_on_loop=24)
    looped = scheduler.submit(prompt, options, [Cycle(words)]).result()
    assert looped.reason == "loop"
    assert looped.tokens == 24 + len(words)  # one period after the first full window
    assert looped.text.count("thirty days") == 3
    unchecked = scheduler.submit(prompt, options.updated(stop_on_loop=0), [Cycle(words)])
    assert unchecked.result().reason == "length" and unchecked.result().tokens == 200


def test_prompt_lookup_drafts_leave_a_quoting_reply_unchanged(loaded_model: LoadedModel) -> None:
    sentence = (
        "Employees must submit itemised receipts for every expense above 25 EUR within 30 days."
    )
    prompt = ids(loaded_model, f"Repeat this sentence word for word: {sentence}")
    options = DecodingOptions(max_new_tokens=32)
    plain = Scheduler(loaded_model).submit(prompt, replace(options, draft_tokens=0)).result()
    drafting = Scheduler(loaded_model)
    got = drafting.submit(prompt, options).result()
    assert got.token_ids == plain.token_ids
    # Measured: the reply copies the sentence, and most of it comes from accepted drafts.
    assert drafting.accepted >= 8
    assert drafting.steps == len(got.token_ids) - 1 - drafting.accepted


def test_a_process_that_decoded_with_the_model_exits_cleanly(
    model_settings: Settings, tmp_path: Path
) -> None:
    # The decode thread used to be inside a torch op while the interpreter tore down, and the
    # process aborted (status 134) after every command that had used the model.
    import subprocess
    import sys

    from bot.llm import loading

    resolved = loading.resolve_model(model_settings.model)
    directory = str(loading.ensure_converted(resolved, model_settings.models_dir))
    script = tmp_path / "decode.py"
    script.write_text(
        "from transformers import AutoTokenizer\n"
        "from bot.llm import loading\n"
        "from bot.llm.engine.model import LoadedModel\n"
        "from bot.llm.engine.options import DecodingOptions\n"
        "from bot.llm.engine.scheduler import Scheduler\n"
        f"directory = {directory!r}\n"
        "model = loading.load_weights(directory, 'cpu', 'float16')\n"
        "tokenizer = AutoTokenizer.from_pretrained(directory)\n"
        "loaded = LoadedModel(model, tokenizer, 'cpu', 'float16', 'x')\n"
        "reply = Scheduler(loaded).submit([1, 2, 3, 4], DecodingOptions(max_new_tokens=4))\n"
        "print(len(reply.result().token_ids))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=Path.cwd()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "4"
    assert "terminate called" not in done.stderr
