"""The lean decode step against transformers' own forward pass, and fp16 weights against fp32.

A tiny randomly initialised Llama checks the step's arithmetic on a left-padded batch (no
weights to load); the embedded model checks that the scheduler's greedy replies are the same
token for token with and without the lean step, and with fp16 weights.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from transformers import (
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaForCausalLM,
)

from bot.bench.batching import bytes_per_token
from bot.config import Settings
from bot.llm import loading
from bot.llm.engine.fast_decode import FastDecoder
from bot.llm.engine.kv_cache import BatchKV, SlabCache, cache_kwargs
from bot.llm.engine.model import LoadedModel
from bot.llm.engine.options import DecodingOptions
from bot.llm.engine.quantize import fp16_available, store_fp16_weights
from bot.llm.engine.scheduler import Scheduler
from tests.llm.conftest import tiny_llama

needs_fbgemm = pytest.mark.skipif(not fp16_available(), reason="torch build without fbgemm fp16")


def prefilled(model: LlamaForCausalLM, prompts: list[list[int]]) -> BatchKV:
    """Each prompt prefilled alone, then joined into one left-padded batch (as the scheduler does)."""
    batch: BatchKV | None = None
    for prompt in prompts:
        cache = SlabCache(model.config.num_hidden_layers)
        model(input_ids=torch.tensor([prompt]), **cache_kwargs(model, cache), use_cache=True)
        kv = BatchKV(cache, torch.ones(1, len(prompt), dtype=torch.long))
        if batch is None:
            batch = kv
        else:
            batch.add(kv)
    assert batch is not None
    return batch


@pytest.mark.parametrize("weights", ["float32", "float16"])
def test_the_lean_step_gives_transformers_logits_on_a_left_padded_batch(weights: str) -> None:
    model = tiny_llama()
    if weights == "float16":
        if not fp16_available():
            pytest.skip("torch build without fbgemm fp16")
        store_fp16_weights(model)
    prompts = [[5, 9, 14, 3, 7, 22, 1], [40, 2, 8]]
    decoder = FastDecoder.build(model)
    assert decoder is not None
    # float and fp16 projections are stacked into one q/k/v product.
    assert all(layer.qkv is not None for layer in decoder.layers)
    with torch.inference_mode():
        for step in range(3):  # several steps: the cache each path wrote must agree too
            if step == 0:
                lean, reference = prefilled(model, prompts), prefilled(model, prompts)
            ids = torch.tensor([[11 + step], [60 + step]])
            positions = lean.positions()
            lean.extend_mask()
            reference.extend_mask()
            got = decoder.step(ids, positions, lean.mask, lean.cache)
            want = model(
                input_ids=ids,
                attention_mask=reference.mask,
                position_ids=positions,
                **cache_kwargs(model, reference.cache),
                use_cache=True,
            ).logits[:, -1, :]
            assert got.shape == (2, 101)
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_architectures_the_step_does_not_know_keep_transformers_forward() -> None:
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=50))
    assert FastDecoder.build(gpt2) is None
    gelu = tiny_llama()
    gelu.config.hidden_act = "gelu"
    assert FastDecoder.build(gelu) is None


@needs_fbgemm
def test_fp16_weights_halve_the_bytes_a_step_reads() -> None:
    model = tiny_llama()
    before = bytes_per_token(model)
    store_fp16_weights(model)
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    # Every Linear (the untied output head included) halves; norms and buffers stay fp32.
    fixed = sum(p.numel() * 4 for n, p in model.named_parameters() if "norm" in n)
    fixed += sum(b.numel() * b.element_size() for b in model.buffers())
    assert bytes_per_token(model) - fixed == (before - fixed) // 2


QUESTIONS = (
    "What is the capital of France?",
    "Write a short email asking a colleague for the March expense report.",
    "List three steps to onboard a new vendor.",
)


def greedy_replies(loaded: LoadedModel, fast: bool) -> list[list[int]]:
    scheduler = Scheduler(loaded, fast=fast)
    assert (scheduler.fast is not None) == fast
    options = DecodingOptions(max_new_tokens=24)
    handles = []
    for question in QUESTIONS:
        chat = [{"role": "user", "content": question}]
        prompt = loaded.tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_dict=True
        )["input_ids"]
        handles.append(scheduler.submit(list(prompt), options))
    return [h.result().token_ids for h in handles]


@pytest.mark.real_model
@needs_fbgemm
def test_the_embedded_model_answers_the_same_with_the_lean_step_and_fp16_weights(
    model_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading, "ALLOW_MODEL_LOADS", True)
    resolved = loading.resolve_model(model_settings.model)
    directory: Path = loading.ensure_converted(resolved, model_settings.models_dir)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    fp32 = LoadedModel(
        loading.load_weights(directory, "cpu", "float32"), tokenizer, "cpu", "float32", "fp32"
    )
    fp16 = LoadedModel(
        loading.load_weights(directory, "cpu", "float16"), tokenizer, "cpu", "float16", "fp16"
    )
    reference = greedy_replies(fp32, fast=False)
    assert greedy_replies(fp32, fast=True) == reference
    # Measured: fp16 weights give fp32's greedy tokens on every prompt (3 x 24 tokens here).
    assert greedy_replies(fp16, fast=True) == reference
    assert bytes_per_token(fp16.model) < 0.55 * bytes_per_token(fp32.model)
