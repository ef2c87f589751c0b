"""``rpa-agent bench engine``: does each part of the serving engine earn its place?

Single runs on this kind of machine vary by 30% or more, so every part is measured against
its absence in alternating rounds inside one process (the same models, the same prompts; the
order of the variants rotates each round) and reported as the median with its range:

- the lean decode step against transformers' own forward (fp16 weights);
- fp16 weight packing against plain fp32 weights;
- pausing between layers for urgent work against no pause, with nothing urgent pending;
- prompt-lookup drafts against none, on replies that quote their prompt and on ones that do not.

Each variant is timed at one request (decode tok/s) and at eight at once (decode-step rows/s).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.bench.batching import QUOTING, SYSTEM, chat_prompt, run_concurrently
from bot.config import Settings


@dataclass(frozen=True)
class EngineVariant:
    name: str
    dtype: str  # weights: float16 or float32
    fast: bool = True  # the lean decode step
    pause: bool = True  # forward passes pause for urgent work (CPU only)


VARIANTS = (
    EngineVariant("fp16, lean step (default)", "float16"),
    EngineVariant("fp16, transformers forward", "float16", fast=False),
    EngineVariant("fp32, lean step", "float32"),
    EngineVariant("fp16, lean step, no pauses", "float16", pause=False),
)


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def run_engine_ab(
    settings: Settings,
    rounds: int = 5,
    new_tokens: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Alternating rounds of every variant; medians and ranges per variant and figure."""
    from transformers import AutoTokenizer

    from bot.llm import loading
    from bot.llm.engine.model import LoadedModel
    from bot.llm.engine.options import DecodingOptions
    from bot.llm.engine.scheduler import Scheduler
    from bot.priority import URGENT

    device = loading.pick_device(settings.model_device)
    directory = loading.ensure_converted(loading.resolve_model(settings.model), settings.models_dir)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    loaded: dict[str, LoadedModel] = {}
    for dtype in dict.fromkeys(v.dtype for v in VARIANTS):
        weights = loading.load_weights(directory, device, dtype, settings.adapter)
        loaded[dtype] = LoadedModel(weights, tokenizer, device, dtype, f"bench-{dtype}")
    schedulers = {
        v.name: Scheduler(
            loaded[v.dtype], prefix_cache=None, fast=v.fast, priority=URGENT if v.pause else None
        )
        for v in VARIANTS
    }
    options = DecodingOptions(
        decoding="greedy", repetition_penalty=1.0, max_new_tokens=new_tokens, draft_tokens=0
    )
    single = chat_prompt(
        tokenizer, SYSTEM, "Write a short note to a colleague about the March report."
    )
    eight = [
        chat_prompt(tokenizer, SYSTEM, f"Write a short note to colleague {i}.") for i in range(8)
    ]
    quoting = [chat_prompt(tokenizer, "", q) for q in QUOTING]
    figures: dict[str, dict[str, list[float]]] = {v.name: {} for v in VARIANTS}
    drafts: dict[str, list[float]] = {}
    for round_ in range(rounds):
        shift = round_ % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            scheduler = schedulers[variant.name]
            rows = figures[variant.name]
            rows.setdefault("batch1_decode_tok_s", []).append(
                scheduler.submit(single, options).result().decode_tok_s
            )
            batch = run_concurrently(scheduler, eight, options)
            rows.setdefault("batch8_step_tok_s", []).append(batch["full_batch_decode_tok_s"])
        _draft_round(schedulers[VARIANTS[0].name], options, single, quoting, drafts)
        if progress:
            progress(round_ + 1, rounds)
    for scheduler in schedulers.values():
        scheduler.close()
    return {
        "device": device,
        "rounds": rounds,
        "new_tokens": new_tokens,
        "variants": {
            name: {metric: _spread(values) for metric, values in rows.items()}
            for name, rows in figures.items()
        },
        "drafts": {name: _spread(values) for name, values in drafts.items()},
        "raw": {"variants": figures, "drafts": drafts},
    }


def _draft_round(
    scheduler: Any,
    options: Any,
    plain: list[int],
    quoting: list[list[int]],
    out: dict[str, list[float]],
) -> None:
    """Decode tok/s with and without 4 drafted tokens, alternating, on both kinds of reply."""
    for label, prompts in (("quoting", quoting), ("not quoting", [plain])):
        for drafts in (0, 4):
            rates = [
                scheduler.submit(p, options.updated(draft_tokens=drafts)).result().decode_tok_s
                for p in prompts
            ]
            out.setdefault(f"{label}, {drafts} drafts", []).append(statistics.mean(rates))


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Engine A/B on {report['device']}: {report['rounds']} alternating rounds, "
        f"{report['new_tokens']} new tokens; median (min-max).",
        "",
        "| variant | 1 request: decode tok/s | 8 at once: decode-step rows/s |",
        "|---|---|---|",
    ]
    cell = "{median} ({min}-{max})".format
    for name, rows in report["variants"].items():
        lines.append(
            f"| {name} | {cell(**rows['batch1_decode_tok_s'])} | {cell(**rows['batch8_step_tok_s'])} |"
        )
    lines += ["", "| prompt-lookup drafts | decode tok/s |", "|---|---|"]
    lines += [f"| {name} | {cell(**spread)} |" for name, spread in report["drafts"].items()]
    return "\n".join(lines) + "\n"
