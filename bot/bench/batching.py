"""``rpa-agent bench model``'s measurements of the serving path: the batching scheduler.

For one precision, in one worker process: batch-1 TTFT and decode tok/s through the scheduler's
own decode loop (pre-allocated KV cache, one forward per token, no ``generate()``), its greedy
tokens on the fixed prompts (agreement with plain fp32), aggregate and per-request decode speed
with 1/2/4/8 concurrent requests, TTFT with and without the prefix cache, and the
memory-bandwidth bound: bytes of weights read per token against the device's measured copy
bandwidth.
"""

from __future__ import annotations

import resource
import statistics
import time
from typing import Any

from bot.config import Settings

# Fixed prompts whose greedy replies are compared across precisions and decode paths.
DTYPE_PROMPTS = (
    "What is the capital of France?",
    "Write a short email asking a colleague for the March expense report.",
    "List three steps to onboard a new vendor.",
    "Explain what a purchase order is in two sentences.",
)

CONCURRENCY = (1, 2, 4, 8)
SYSTEM = (
    "You are the operations assistant of the company. Use the tools to file expenses, submit forms "
    "and answer questions from the process documents. "
)


def bytes_per_token(model: Any) -> int:
    """Bytes of weights one decode step reads: every parameter and buffer except the input
    embedding table, of which a step reads one row (unless it is also the tied output head)."""
    from bot.llm.engine.quantize import packed_bytes

    embedding = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    tied = head is not None and getattr(head, "weight", None) is embedding
    seen: set[int] = set()
    total = 0
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.data_ptr() in seen or (tensor is embedding and not tied):
            continue
        seen.add(tensor.data_ptr())
        total += tensor.numel() * tensor.element_size()
    return total + packed_bytes(model)


def copy_bandwidth_gbs(device: str, megabytes: int = 256) -> float:
    """Measured device memory bandwidth: bytes read plus written by a large copy, per second."""
    import torch

    src = torch.empty(megabytes * 2**20 // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        dst.copy_(src)
        if device == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
    return round(2 * src.numel() * 4 / min(timings) / 1e9, 1)


def chat_prompt(tokenizer: Any, system: str, question: str) -> list[int]:
    chat = [{"role": "system", "content": system}] if system else []
    chat.append({"role": "user", "content": question})
    encoded = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_dict=True)
    return list(encoded["input_ids"])


def run_concurrently(scheduler: Any, prompts: list[list[int]], options: Any) -> dict[str, Any]:
    scheduler.step_counts.clear()
    scheduler.step_seconds.clear()
    start = time.perf_counter()
    handles = [scheduler.submit(p, options) for p in prompts]
    done = [h.result() for h in handles]
    wall = time.perf_counter() - start
    rates = [f.decode_tok_s for f in done]
    return {
        "requests": len(prompts),
        "aggregate_tok_s": round(sum(f.tokens for f in done) / wall, 1),
        "per_request_tok_s_min": round(min(rates), 1),
        "per_request_tok_s_max": round(max(rates), 1),
        "ttft_s_max": round(max(f.first_token - f.submitted for f in done), 3),
        # Decode alone: rows decoded per second over the steps that carried every request.
        "full_batch_decode_tok_s": _rows_per_second(scheduler, len(prompts)),
    }


def _rows_per_second(scheduler: Any, rows: int) -> float:
    steps, seconds = scheduler.step_counts.get(rows, 0), scheduler.step_seconds.get(rows, 0.0)
    return round(rows * steps / seconds, 1) if steps and seconds > 0 else 0.0


def _ttft(scheduler: Any, prompt: list[int], options: Any) -> float:
    finished = scheduler.submit(prompt, options.updated(max_new_tokens=1)).result()
    return finished.first_token - finished.submitted


def _prefix_ttft(loaded: Any, filler_tokens: int, repeats: int, options: Any) -> dict[str, Any]:
    """TTFT for a new question after a long shared system prompt, without and with the cache."""
    from bot.llm.engine.prefix_cache import PrefixCache
    from bot.llm.engine.scheduler import Scheduler

    system = SYSTEM + "Policy: receipts are filed within thirty days. " * (filler_tokens // 10)
    questions = [
        f"Question {i}: how do I file taxi receipt number {i}?" for i in range(repeats + 1)
    ]
    prompts = [chat_prompt(loaded.tokenizer, system, q) for q in questions]
    cold = Scheduler(loaded, prefix_cache=None)
    warm = Scheduler(loaded, prefix_cache=PrefixCache(8192))
    _ttft(warm, prompts[0], options)  # the first turn pays for the shared prefix once
    without = statistics.median(_ttft(cold, p, options) for p in prompts[1:])
    with_cache = statistics.median(_ttft(warm, p, options) for p in prompts[1:])
    return {
        "prompt_tokens": len(prompts[1]),
        "ttft_s_without": round(without, 4),
        "ttft_s_with": round(with_cache, 4),
        "speedup": round(without / max(with_cache, 1e-9), 1),
    }


# Replies that copy their prompt, as cited answers and tool arguments do.
QUOTING = (
    "Repeat this sentence word for word: Employees must submit itemised receipts for every "
    "expense above 25 EUR within 30 days of the purchase.",
    "Rewrite as a polite email: send me the March expense report for the Berlin trip by Friday.",
)


def _prompt_lookup(scheduler: Any, options: Any) -> dict[str, Any]:
    """Decode tok/s of replies that quote their prompt, without and with prompt-lookup drafts.

    ``options`` draft nothing; the draft counters of ``scheduler`` then count this run's only.
    """
    plain, drafted, same = [], [], True
    counted = scheduler.drafted, scheduler.accepted
    for question in QUOTING:
        prompt = chat_prompt(scheduler.loaded.tokenizer, "", question)
        without = scheduler.submit(prompt, options).result()
        with_drafts = scheduler.submit(prompt, options.updated(draft_tokens=4)).result()
        plain.append(without.decode_tok_s)
        drafted.append(with_drafts.decode_tok_s)
        same = same and without.token_ids == with_drafts.token_ids
    return {
        "decode_tok_s_without": round(statistics.mean(plain), 1),
        "decode_tok_s_with": round(statistics.mean(drafted), 1),
        "drafted": scheduler.drafted - counted[0],
        "accepted": scheduler.accepted - counted[1],
        "same_tokens": same,
    }


def run_scheduler_variant(
    settings: Settings,
    dtype: str,
    prompt_tokens: int,
    new_tokens: int,
    repeats: int,
    fast: bool = True,
) -> dict[str, Any]:
    """Measure the scheduler path in ``dtype`` (runs inside a spawned worker process).

    ``fast``: decode steps through the lean step (bot/llm/engine/fast_decode.py) as the bot does;
    False calls transformers' forward instead, to show what the lean step saves.
    """
    from transformers import AutoTokenizer

    from bot.llm import loading
    from bot.llm.engine.model import LoadedModel
    from bot.llm.engine.options import DecodingOptions
    from bot.llm.engine.scheduler import Scheduler

    device = loading.pick_device(settings.model_device)
    dtype = loading.pick_dtype(dtype, device)
    directory = loading.ensure_converted(loading.resolve_model(settings.model), settings.models_dir)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = loading.load_weights(directory, device, dtype, settings.adapter)
    loaded = LoadedModel(model, tokenizer, device, dtype, "bench")
    # Prompt-lookup drafts off: the filler prompt repeats itself, which drafts would exploit.
    options = DecodingOptions(
        decoding="greedy", repetition_penalty=1.0, max_new_tokens=new_tokens, draft_tokens=0
    )
    scheduler = Scheduler(loaded, max_batch=max(CONCURRENCY), prefix_cache=None, fast=fast)
    long_prompt = chat_prompt(
        tokenizer, SYSTEM * (prompt_tokens // 30 + 1), "Summarize the policy."
    )
    long_prompt = long_prompt[-prompt_tokens:]
    _ttft(scheduler, long_prompt, options)  # warm-up
    ttft = statistics.median(_ttft(scheduler, long_prompt, options) for _ in range(repeats))
    singles = [scheduler.submit(long_prompt, options).result() for _ in range(repeats)]
    # Same prompts and length as the fp32 baseline's greedy tokens (bench.py: _greedy_tokens).
    greedy = [
        scheduler.submit(chat_prompt(tokenizer, "", t), options.updated(max_new_tokens=48))
        .result()
        .token_ids
        for t in DTYPE_PROMPTS
    ]
    questions = [f"Write a short note to colleague {i} about the March report." for i in range(8)]
    batches = [
        run_concurrently(
            scheduler, [chat_prompt(tokenizer, SYSTEM, q) for q in questions[:n]], options
        )
        for n in CONCURRENCY
    ]
    per_token = bytes_per_token(model)
    bandwidth = copy_bandwidth_gbs(device)
    return {
        "variant": f"scheduler ({dtype}, {'lean step' if fast else 'transformers forward'})",
        "device": device,
        "dtype": dtype,
        "prompt_tokens": len(long_prompt),
        "new_tokens": new_tokens,
        "ttft_s": round(ttft, 4),
        "prefill_tok_s": round(len(long_prompt) / ttft, 1),
        "decode_tok_s": round(statistics.median(f.decode_tok_s for f in singles), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "greedy_tokens": greedy,
        "batched": batches,
        "prefix_cache": _prefix_ttft(loaded, prompt_tokens, repeats, options),
        "prompt_lookup": _prompt_lookup(scheduler, options),
        "weight_mb_per_token": round(per_token / 2**20, 1),
        "copy_bandwidth_gbs": bandwidth,
        "bandwidth_bound_tok_s": round(bandwidth * 1e9 / per_token, 1),
        "note": "",
    }
