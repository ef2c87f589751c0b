"""``rpa-agent bench model``: how fast the configured model runs, against a plain fp32 baseline.

Each variant runs in its own spawned process so that its peak RSS is its own. A variant loads
the model, builds a prompt of exactly ``prompt_tokens`` tokens and measures, greedy and batch 1:
time to first token (a one-token ``generate``: prefill plus one step), prefill tokens/s, and
decode tokens/s (the remaining ``new_tokens - 1`` steps). Medians over ``repeats`` runs.
``compare_dtypes`` adds every CPU precision and how many greedy tokens each shares with fp32
on fixed prompts: the measurement behind ``loading.CPU_AUTO_DTYPE``.
"""

from __future__ import annotations

import copy
import json
import platform
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bot.bench.batching import DTYPE_PROMPTS
from bot.config import Settings

FILLER = "The expense policy says receipts are filed within thirty days of the trip. "


@dataclass
class Variant:
    name: str
    dtype: str  # a Settings.model_dtype value
    plain: bool = False  # plain transformers generate() with its defaults, no runtime options


@dataclass
class Figures:
    variant: str
    device: str
    dtype: str
    prompt_tokens: int
    new_tokens: int
    ttft_s: float
    prefill_tok_s: float
    decode_tok_s: float
    peak_rss_mb: float
    agreement: list[int] = field(default_factory=list)  # greedy tokens equal to fp32's, per prompt
    note: str = ""


def _prompt_ids(tokenizer: Any, n: int, device: str) -> Any:
    import torch

    chat = [{"role": "user", "content": FILLER * (n // 8 + 4)}]
    ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_dict=True)[
        "input_ids"
    ]
    ids = ids[:n]
    return torch.tensor([ids], device=device)


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _greedy_tokens(model: Any, tokenizer: Any, device: str, n: int) -> list[list[int]]:
    import torch

    outs = []
    for text in DTYPE_PROMPTS:
        enc = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        with torch.inference_mode():
            out = model.generate(
                **{k: v.to(device) for k, v in enc.items()},
                max_new_tokens=n,
                do_sample=False,
                pad_token_id=tokenizer.eos_token_id,
            )
        outs.append(out[0, enc["input_ids"].shape[1] :].tolist())
    return outs


def run_variant(
    settings: Settings, variant: Variant, prompt_tokens: int, new_tokens: int, repeats: int
) -> dict[str, Any]:
    """Measure one variant (runs inside a spawned worker process)."""
    import torch

    from bot.llm import loading
    from bot.llm.decoding import generation_config
    from bot.llm.engine.model import LoadedModel
    from bot.llm.engine.options import DecodingOptions

    device = loading.pick_device(settings.model_device)
    dtype = loading.pick_dtype(variant.dtype, device)
    resolved = loading.resolve_model(settings.model)
    directory = loading.ensure_converted(resolved, settings.models_dir)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = loading.load_weights(
        directory, device, dtype, None if variant.plain else settings.adapter
    )
    loaded = LoadedModel(model, tokenizer, device, dtype, resolved.label)
    config = generation_config(DecodingOptions(decoding="greedy", repetition_penalty=1.0), loaded)
    ids = _prompt_ids(tokenizer, prompt_tokens, device)

    def gen(n: int) -> None:
        with torch.inference_mode():
            if variant.plain:
                model.generate(
                    ids,
                    do_sample=False,
                    pad_token_id=tokenizer.eos_token_id,
                    max_new_tokens=n,
                    min_new_tokens=n,
                )
            else:
                exact = copy.deepcopy(config)
                exact.max_new_tokens = exact.min_new_tokens = n
                model.generate(ids, generation_config=exact)
        if device == "cuda":
            torch.cuda.synchronize()

    gen(4)  # warm-up: first-call allocations and kernel selection
    firsts = [_timed(lambda: gen(1)) for _ in range(repeats)]
    wholes = [_timed(lambda: gen(new_tokens)) for _ in range(repeats)]
    ttft, whole = statistics.median(firsts), statistics.median(wholes)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = Figures(
        variant.name,
        device,
        dtype,
        int(ids.shape[1]),
        new_tokens,
        round(ttft, 4),
        round(ids.shape[1] / ttft, 1),
        _rate(new_tokens - 1, whole - ttft),
        round(peak, 1),
    )
    result = asdict(figures)
    result["greedy_tokens"] = _greedy_tokens(model, tokenizer, device, 48)
    return result


def _rate(tokens: int, seconds: float) -> float:
    """Tokens per second; 0.0 when the run was too short to time (raise --new-tokens)."""
    return round(tokens / seconds, 1) if seconds > 0 else 0.0


def _in_worker(
    settings: Settings, variant: Variant, prompt_tokens: int, new_tokens: int, repeats: int
) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(
            run_variant, settings, variant, prompt_tokens, new_tokens, repeats
        ).result()


def _serving_in_worker(
    settings: Settings, dtype: str, fast: bool, prompt_tokens: int, new_tokens: int, repeats: int
) -> dict[str, Any]:
    from bot.bench.batching import run_scheduler_variant

    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(
            run_scheduler_variant, settings, dtype, prompt_tokens, new_tokens, repeats, fast
        ).result()


def serving_variants(settings: Settings) -> list[tuple[str, bool]]:
    """(precision, lean decode step) pairs whose serving path is measured.

    On CPU: fp16 weights with and without the lean step (what the step saves), then fp32
    weights with it; elsewhere the configured precision with and without the step.
    """
    from bot.llm import loading

    if loading.pick_device(settings.model_device) == "cpu":
        return [("float16", True), ("float16", False), ("float32", True)]
    return [(settings.model_dtype, True), (settings.model_dtype, False)]


def _agreement(base: list[list[int]], other: list[list[int]]) -> list[int]:
    counts = []
    for a, b in zip(base, other, strict=True):
        k = 0
        while k < min(len(a), len(b)) and a[k] == b[k]:
            k += 1
        counts.append(k)
    return counts


def _llama_cpp(settings: Settings, prompt_tokens: int, new_tokens: int) -> dict[str, Any] | None:
    """The same GGUF through llama.cpp, when the optional ``llamacpp`` extra is installed."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    from bot.llm import loading

    resolved = loading.resolve_model(settings.model)
    if resolved.gguf_file is None:
        return None
    import torch

    # The same cores as the torch rows: llama-cpp-python's default is half the CPUs, which on
    # the 2-core machine measured 37 tok/s against 63 with both.
    threads = torch.get_num_threads()
    llm = Llama(
        model_path=str(Path(resolved.source) / resolved.gguf_file),
        n_ctx=prompt_tokens + new_tokens + 64,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    prompt = llm.tokenize(FILLER.encode() * (prompt_tokens // 8 + 4))[:prompt_tokens]
    start = time.perf_counter()
    first = time.perf_counter()
    count = 0
    for count, _ in enumerate(llm.generate(prompt, temp=0.0), start=1):
        if count == 1:
            first = time.perf_counter()
        if count >= new_tokens:
            break
    end = time.perf_counter()
    ttft = first - start
    return {
        "variant": "llama.cpp (GGUF)",
        "device": "cpu",
        "dtype": "q4_1",
        "prompt_tokens": len(prompt),
        "new_tokens": count,
        "ttft_s": round(ttft, 4),
        "prefill_tok_s": round(len(prompt) / ttft, 1),
        "decode_tok_s": round((count - 1) / max(end - first, 1e-9), 1),
        "peak_rss_mb": None,
        "agreement": [],
        "note": f"{threads} threads",
    }


def run_bench(
    settings: Settings,
    prompt_tokens: int = 256,
    new_tokens: int = 64,
    repeats: int = 3,
    compare_dtypes: bool = False,
    serving: bool = True,
) -> dict[str, Any]:
    """Every variant's figures plus the configured/baseline decode ratio.

    ``serving`` adds the scheduler rows (bot/bench/batching.py): its own decode loop per
    precision, batched throughput, the prefix cache's TTFT and the bandwidth bound.
    """
    variants = [
        Variant(f"configured ({settings.model_dtype})", settings.model_dtype),
        Variant("baseline: plain fp32 generate()", "float32", plain=True),
    ]
    if compare_dtypes:
        variants += [Variant(f"dtype {d}", d) for d in ("float32", "bfloat16")]
    rows = [_in_worker(settings, v, prompt_tokens, new_tokens, repeats) for v in variants]
    if serving:
        rows += [
            _serving_in_worker(settings, d, fast, prompt_tokens, new_tokens, repeats)
            for d, fast in serving_variants(settings)
        ]
    base = rows[1]["greedy_tokens"]
    for row in rows:
        row["agreement"] = _agreement(base, row.pop("greedy_tokens"))
    extra = _llama_cpp(settings, prompt_tokens, new_tokens)
    notes = (
        []
        if extra
        else ["llama-cpp-python is not installed (optional extra `llamacpp`): no llama.cpp row."]
    )
    if extra:
        rows.append(extra)
        best = max(r["decode_tok_s"] for r in rows if r is not extra)
        notes.append(
            f"fastest decode here is {round(100 * best / max(extra['decode_tok_s'], 1e-9))}% "
            "of llama.cpp's on the same machine."
        )
    notes.append(_load_note())
    return {
        "model": settings.model,
        "machine": platform.platform(),
        "processor": platform.processor(),
        "rows": rows,
        "decode_speedup_vs_fp32": round(
            rows[0]["decode_tok_s"] / max(rows[1]["decode_tok_s"], 1e-9), 2
        ),
        "notes": notes,
    }


def _load_note() -> str:
    import os

    one, five, _ = os.getloadavg()
    return f"load average while measuring: {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores."


def _serving_markdown(rows: list[dict[str, Any]]) -> str:
    served = [r for r in rows if "batched" in r]
    if not served:
        return ""
    text = "\n## Serving path: continuous batching (aggregate and per-request decode tok/s)\n\n"
    text += "Aggregate: all tokens over the wall time, prefill included. Decode steps: rows per second over the steps that carried every request (no prefill).\n\n"
    text += "| variant | concurrent | aggregate tok/s | x single | decode steps tok/s | x single | per-request min | per-request max | max TTFT s |\n"
    text += "|---|---|---|---|---|---|---|---|---|\n"
    for r in served:
        single = max(r["batched"][0]["aggregate_tok_s"], 1e-9)
        single_steps = max(r["batched"][0].get("full_batch_decode_tok_s", 0.0), 1e-9)
        for b in r["batched"]:
            steps = b.get("full_batch_decode_tok_s", 0.0)
            text += (
                f"| {r['variant']} | {b['requests']} | {b['aggregate_tok_s']} | "
                f"{round(b['aggregate_tok_s'] / single, 1)} | {steps} | "
                f"{round(steps / single_steps, 1)} | {b['per_request_tok_s_min']} | "
                f"{b['per_request_tok_s_max']} | {b['ttft_s_max']} |\n"
            )
    text += "\n## Prefix cache: TTFT of a new question after a shared system prompt\n\n"
    text += "| variant | prompt tok | TTFT s without | TTFT s with | speed-up |\n|---|---|---|---|---|\n"
    for r in served:
        p = r["prefix_cache"]
        text += f"| {r['variant']} | {p['prompt_tokens']} | {p['ttft_s_without']} | {p['ttft_s_with']} | {p['speedup']}x |\n"
    text += "\n## Prompt lookup: replies that quote their prompt, batch 1\n\n"
    text += "| variant | decode tok/s without drafts | with drafts | drafted | accepted | same tokens |\n|---|---|---|---|---|---|\n"
    for r in served:
        q = r.get("prompt_lookup")
        if q:
            text += f"| {r['variant']} | {q['decode_tok_s_without']} | {q['decode_tok_s_with']} | {q['drafted']} | {q['accepted']} | {q['same_tokens']} |\n"
    text += "\n## Memory-bandwidth bound (batch 1)\n\n"
    text += "| variant | weight MB read per token | measured copy GB/s | bound tok/s | decode tok/s | % of bound |\n|---|---|---|---|---|---|\n"
    for r in served:
        share = round(100 * r["decode_tok_s"] / max(r["bandwidth_bound_tok_s"], 1e-9))
        text += f"| {r['variant']} | {r['weight_mb_per_token']} | {r['copy_bandwidth_gbs']} | {r['bandwidth_bound_tok_s']} | {r['decode_tok_s']} | {share}% |\n"
    return text


def markdown(report: dict[str, Any]) -> str:
    head = "| variant | device | dtype | prompt tok | TTFT s | prefill tok/s | decode tok/s | peak RSS MB | greedy tokens = fp32 |\n"
    head += "|---|---|---|---|---|---|---|---|---|\n"
    body = "".join(
        f"| {r['variant']} | {r['device']} | {r['dtype']} | {r['prompt_tokens']} | {r['ttft_s']} | {r['prefill_tok_s']} | "
        f"{r['decode_tok_s']} | {r['peak_rss_mb']} | {'/'.join(map(str, r['agreement'])) or '-'} |\n"
        for r in report["rows"]
    )
    tail = f"\nDecode speed-up of the configured runtime over plain fp32: **{report['decode_speedup_vs_fp32']}x**\n"
    return (
        f"# Model benchmark: {report['model']}\n\n{head}{body}{tail}"
        + _serving_markdown(report["rows"])
        + "".join(f"\n- {n}" for n in report["notes"])
        + "\n"
    )


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path, md_path = out / f"model-{stamp}.json", out / f"model-{stamp}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(report), encoding="utf-8")
    return json_path, md_path
