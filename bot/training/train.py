"""LoRA fine-tuning of the local model on this deployment's tool-call data (``rpa-agent train run``).

The loss is taken only on the assistant's reply. Every example starts with the same long
system prompt (the agent's instructions and 16 one-line tool signatures, ~900 tokens), so the trainer
encodes that shared prefix once (no gradient, with the current adapter weights) and runs only
each example's own tokens with gradients on top of the cached keys and values; the prefix
cache is re-encoded every ``prefix_refresh`` steps so that it follows the adapter. On two CPU
cores this makes a step cost about what its ~100 example tokens cost, not 1,000.

Output, under ``settings.models_dir / "adapters" / NAME``: the peft adapter (what
``bot.llm.loading`` merges when ``RPA_ADAPTER`` points at it), ``training.json`` (config,
data hash, losses, timings) and ``loss_curve.png``.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.llm.loading import ensure_converted, load_weights, pick_device, resolve_model
from bot.training.batches import Encoded, encode_records, shared_prefix
from bot.training.context import ModelContext
from bot.training.data import data_hash, read_context, read_split

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainConfig:
    """Hyperparameters of one run (CLI options override these defaults)."""

    learning_rate: float = 1e-3  # LoRA on a 135M model tolerates a high rate
    epochs: int = 3
    batch_size: int = 8
    grad_accum: int = 1  # optimizer step every N batches
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ALL_LINEAR
    max_length: int = 4096  # prompt + reply tokens; longer examples are left out (and counted)
    seed: int = 0
    patience: int = 1  # epochs without a better validation loss before stopping
    prefix_refresh: int = 4  # re-encode the shared prompt prefix every N optimizer steps
    warmup_share: float = 0.06
    max_train_examples: int | None = None  # --quick: a small sample
    max_val_examples: int | None = None
    max_minutes: float | None = None  # time budget: stop, validate and save once it is spent
    start_from: str | None = None  # an adapter directory to continue training (its LoRA shape wins)


@dataclass
class TrainResult:
    """What a run did, as written to ``training.json``."""

    adapter: str
    config: dict[str, Any]
    data_hash: str
    base_model: str
    device: str
    examples: dict[str, int]
    skipped_too_long: int
    prefix_tokens: int
    val_losses: list[float]  # index 0: before training
    train_losses: list[float]  # per optimizer step
    best_epoch: int
    minutes: float
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


Progress = Callable[[str, int, int, float | None], None]  # (phase, done, total, loss)


GROUP_WINDOW = 32  # batches per window of similar-length examples


def _width(example: Encoded) -> int:
    return len(example.prompt) + len(example.target)


def _batches(items: Sequence[Encoded], size: int, rng: random.Random | None) -> list[list[Encoded]]:
    """Batches of examples of similar length, so that little compute goes to padding.

    Training (``rng`` given): shuffle, sort each window of ``GROUP_WINDOW`` batches by
    length, cut it into batches and shuffle the batches: every epoch sees a new order and a
    long example (a cited answer over three passages) shares its batch with other long ones.
    Evaluation (no ``rng``): simply by length.
    """
    order = list(items)
    if rng is None:
        order.sort(key=_width)
        return [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(order)
    window = size * GROUP_WINDOW
    batches: list[list[Encoded]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=_width)
        batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(batches)
    return batches


class PrefixTrainer:
    """Runs batches on top of a shared, cached prompt prefix."""

    def __init__(self, model: Any, prefix: Sequence[int], pad_id: int, device: str) -> None:
        self.model, self.prefix, self.pad_id, self.device = model, list(prefix), pad_id, device
        self.cached: list[tuple[Any, Any]] = []

    def refresh(self) -> None:
        """Encode the prefix with the adapter as it is now (no gradient, no dropout)."""
        import torch

        from bot.llm.engine.kv_cache import cache_of

        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            ids = torch.tensor([self.prefix], device=self.device)
            out = self.model(input_ids=ids, use_cache=True)
        cache = cache_of(out)
        self.cached = [(layer.keys, layer.values) for layer in cache.layers]
        self.model.train(was_training)

    def loss(self, batch: Sequence[Encoded]) -> Any:
        """Mean cross-entropy over the reply tokens of ``batch`` (a tensor with a graph)."""
        import torch
        from transformers import DynamicCache

        from bot.llm.engine.kv_cache import cache_kwargs

        p = len(self.prefix)
        rows = [list(e.prompt[p:]) + list(e.target) for e in batch]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), p + width), dtype=torch.long)
        for i, (row, e) in enumerate(zip(rows, batch, strict=True)):
            ids[i, : len(row)] = torch.tensor(row)
            labels[i, len(row) - len(e.target) : len(row)] = torch.tensor(e.target)
            mask[i, : p + len(row)] = 1
        n = len(rows)
        cache = DynamicCache(
            ddp_cache_data=[
                (k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in self.cached
            ]
        )
        positions = torch.arange(p, p + width).unsqueeze(0).expand(n, -1)
        out = self.model(
            input_ids=ids.to(self.device), attention_mask=mask.to(self.device), position_ids=positions.to(self.device),
            **cache_kwargs(self.model, cache), use_cache=True,
        )  # fmt: skip
        logits = out.logits[:, :-1].float()
        gold = labels[:, 1:].to(self.device)
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), gold.reshape(-1), ignore_index=-100
        )

    def evaluate(self, items: Sequence[Encoded], batch_size: int) -> float:
        import torch

        self.model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in _batches(items, batch_size, None):
                tokens = sum(len(e.target) for e in batch)
                total += float(self.loss(batch)) * tokens
                count += tokens
        self.model.train()
        return total / max(count, 1)


def _fit(
    examples: list[Encoded], max_length: int, limit: int | None, rng: random.Random
) -> tuple[list[Encoded], int]:
    kept = [e for e in examples if len(e.prompt) + len(e.target) <= max_length]
    if limit is not None and len(kept) > limit:
        kept = rng.sample(kept, limit)
    return kept, len(examples) - len(
        [e for e in examples if len(e.prompt) + len(e.target) <= max_length]
    )


def _peft_model(base: Any, config: TrainConfig) -> Any:
    from peft import LoraConfig, PeftModel, get_peft_model

    if config.start_from:
        start = Path(config.start_from)
        if not (start / "adapter_config.json").is_file():
            raise ValueError(f"{str(start)!r} is not an adapter directory (no adapter_config.json)")
        return PeftModel.from_pretrained(base, str(start), is_trainable=True)

    lora = LoraConfig(
        task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout, target_modules=list(config.target_modules),
    )  # fmt: skip
    return get_peft_model(base, lora)


def _schedule(optimizer: Any, total_steps: int, warmup_share: float) -> Any:
    import torch

    warmup = max(1, int(total_steps * warmup_share))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.05, 1.0 - (step - warmup) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_adapter(
    settings: Settings,
    data_dir: Path,
    name: str,
    config: TrainConfig,
    progress: Progress | None = None,
    say: Callable[[str], None] = lambda _text: None,
) -> TrainResult:
    """Fine-tune a LoRA adapter on ``data_dir``'s train split; keep the best by validation loss.

    ``say`` hears the expected time before training starts (from the rate the last run on this
    device measured, else from the first step).
    """
    import torch
    from transformers import AutoTokenizer

    started = time.perf_counter()
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    context = read_context(data_dir)
    resolved = resolve_model(settings.model)
    directory = ensure_converted(resolved, settings.models_dir)
    device = pick_device(settings.model_device)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    train_all = encode_records(tokenizer, read_split(data_dir, "train"), context)
    val_all = encode_records(tokenizer, read_split(data_dir, "validation"), context)
    train, skipped = _fit(train_all, config.max_length, config.max_train_examples, rng)
    val, skipped_val = _fit(val_all, config.max_length, config.max_val_examples, rng)
    if not train or not val:
        raise ValueError(
            f"no training or validation examples fit max_length={config.max_length} in {str(data_dir)!r}"
        )
    prefix_len = shared_prefix(train + val)
    model = _peft_model(load_weights(directory, device, "float32"), config)
    model.train()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    runner = PrefixTrainer(model, train[0].prompt[:prefix_len], int(pad), device)
    out_dir = settings.models_dir / "adapters" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    steps_per_epoch = math.ceil(len(train) / (config.batch_size * config.grad_accum))
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.learning_rate,
        weight_decay=0.0,
    )
    scheduler = _schedule(optimizer, steps_per_epoch * config.epochs, config.warmup_share)
    work = _tokens(train, prefix_len) * config.epochs + _tokens(val, prefix_len) * (
        config.epochs + 1
    )
    rate = _known_rate(settings, device)
    if rate:
        say(f"Expected: about {work / rate / 60:.0f} min ({work:,} tokens at the {rate:.0f} tokens/s "
            f"the last run measured on {device}).")  # fmt: skip
    else:
        say(f"{work:,} tokens to process; the expected time follows the first step.")
    loop_started = time.perf_counter()
    runner.refresh()
    val_losses = [runner.evaluate(val, config.batch_size)]
    train_losses: list[float] = []
    best, best_epoch, stale, stopped = val_losses[0], 0, 0, False
    interrupted = False
    step = 0
    deadline = started + config.max_minutes * 60 if config.max_minutes else math.inf
    for epoch in range(1, config.epochs + 1):
        batches = _batches(train, config.batch_size, rng)
        try:
            for i in range(0, len(batches), config.grad_accum):
                if time.perf_counter() > deadline:  # the partial epoch is validated like a full one
                    stopped = True
                    break
                if step and step % config.prefix_refresh == 0:  # step 0: refreshed above
                    runner.refresh()
                group = batches[i : i + config.grad_accum]
                loss_sum = 0.0
                for batch in group:
                    loss = runner.loss(batch) / len(group)
                    loss.backward()
                    loss_sum += float(loss.detach())
                torch.nn.utils.clip_grad_norm_(
                    [p for p in model.parameters() if p.requires_grad], 1.0
                )
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                train_losses.append(loss_sum)
                step += 1
                if step == 1 and not rate:
                    done = _tokens(val, prefix_len) + sum(_tokens(b, prefix_len) for b in group)
                    first = done / max(time.perf_counter() - loop_started, 1e-9)
                    say(f"Expected: about {work / first / 60:.0f} min at {first:.0f} tokens/s.")
                if progress:
                    progress(
                        f"epoch {epoch}/{config.epochs}",
                        step,
                        steps_per_epoch * config.epochs,
                        loss_sum,
                    )
        except KeyboardInterrupt:  # Ctrl-C: stop here, validate what was learned, keep the best
            optimizer.zero_grad(set_to_none=True)
            stopped = interrupted = True
        runner.refresh()
        val_losses.append(runner.evaluate(val, config.batch_size))
        if progress:
            progress(
                f"validation after epoch {epoch}",
                step,
                steps_per_epoch * config.epochs,
                val_losses[-1],
            )
        if val_losses[-1] < best:
            best, best_epoch, stale = val_losses[-1], epoch, 0
            model.save_pretrained(str(out_dir))
        else:
            stale += 1
            if stale >= config.patience:
                stopped = True
        if stopped:
            break
    if best_epoch == 0:  # never improved: still leave a loadable adapter behind
        model.save_pretrained(str(out_dir))
    result = TrainResult(
        adapter=str(out_dir), config=asdict(config), data_hash=data_hash(data_dir), base_model=resolved.label,
        device=device, examples={"train": len(train), "validation": len(val)}, skipped_too_long=skipped + skipped_val,
        prefix_tokens=prefix_len, val_losses=val_losses, train_losses=train_losses, best_epoch=best_epoch,
        minutes=(time.perf_counter() - started) / 60, stopped_early=stopped, extra={"interrupted": interrupted},
    )  # fmt: skip
    (out_dir / "training.json").write_text(json.dumps(asdict(result), indent=2), encoding="utf-8")
    write_fingerprint(out_dir, settings, context, result)
    seconds = time.perf_counter() - loop_started
    processed = _tokens(train, prefix_len) * max(1, len(val_losses) - 1) + _tokens(
        val, prefix_len
    ) * len(val_losses)
    _record_rate(settings, device, processed / max(seconds, 1e-9))
    plot_losses(result, out_dir / "loss_curve.png")
    return result


RATE_FILE = "training_rate.json"


def _tokens(examples: Sequence[Encoded], prefix_len: int) -> int:
    """Tokens a pass over ``examples`` feeds the model (the shared prefix is encoded apart)."""
    return sum(len(e.prompt) - prefix_len + len(e.target) for e in examples)


def _known_rate(settings: Settings, device: str) -> float | None:
    path = settings.models_dir / RATE_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get(device)


def _record_rate(settings: Settings, device: str, rate: float) -> None:
    path = settings.models_dir / RATE_FILE
    known = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    path.write_text(json.dumps({**known, device: round(rate, 1)}, indent=2), encoding="utf-8")


def write_fingerprint(
    out_dir: Path, settings: Settings, context: ModelContext, result: TrainResult
) -> None:
    """What this adapter was trained on, for ``rpa-agent doctor`` and start-up to compare."""
    from bot.adapters import FINGERPRINT_FILE, fingerprint

    record = {
        "workspace": fingerprint(settings.workspace, list(context.tools)),
        "data_hash": result.data_hash,
        "base_model": result.base_model,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out_dir / FINGERPRINT_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")


def plot_losses(result: TrainResult, path: Path) -> Path:
    """Training loss per step and validation loss per epoch, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(
        range(1, len(result.train_losses) + 1),
        result.train_losses,
        label="train (per step)",
        alpha=0.7,
    )
    steps_per_epoch = max(1, len(result.train_losses) // max(1, len(result.val_losses) - 1))
    xs = [i * steps_per_epoch for i in range(len(result.val_losses))]
    ax.plot(xs, result.val_losses, "o-", label="validation (per epoch)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (reply tokens)")
    ax.set_title(f"LoRA on {result.base_model}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
