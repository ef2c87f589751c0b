"""Weight-only int8: the layer against float Linear, and the embedded model against fp32."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bot.bench.batching import bytes_per_token
from bot.config import Settings
from bot.llm import loading
from bot.llm.engine.quantize import (
    KERNEL_MAX_ROWS,
    Fp16WeightLinear,
    Int8WeightOnlyLinear,
    fp16_available,
    quantize_int8_weight_only,
)

needs_fbgemm = pytest.mark.skipif(not fp16_available(), reason="torch build without fbgemm fp16")
INT8_CASES = [
    (Int8WeightOnlyLinear, rows, 0.01) for rows in (1, KERNEL_MAX_ROWS, KERNEL_MAX_ROWS + 1, 64)
]
FP16_CASES = [
    pytest.param(Fp16WeightLinear, rows, 1e-3, marks=needs_fbgemm) for rows in (1, 8, 300)
]


# int8: bf16 activations + int8 weights; fp16: fp16 rounding of the weights only.
@pytest.mark.parametrize(("layer", "rows", "tolerance"), [*INT8_CASES, *FP16_CASES])
def test_weight_only_linear_stays_close_to_float(layer: Any, rows: int, tolerance: float) -> None:
    torch.manual_seed(0)
    linear = nn.Linear(96, 160, bias=True)
    x = torch.randn(2, rows, 96)
    with torch.inference_mode():
        want = linear(x)
        got = layer(linear)(x)
    assert got.shape == want.shape and got.dtype == torch.float32
    assert (got - want).norm() / want.norm() < tolerance


def test_quantizing_replaces_every_linear_and_reads_a_quarter_of_the_bytes() -> None:
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
    before = sum(p.numel() * 4 for p in model.parameters())
    quantize_int8_weight_only(model)
    assert [type(m).__name__ for m in model] == [
        "Int8WeightOnlyLinear",
        "ReLU",
        "Int8WeightOnlyLinear",
    ]
    after = sum(b.numel() * b.element_size() for n, b in model.named_buffers() if "int8" in n)
    assert after * 4 == before - 4 * (64 + 8)  # weights only; biases stay float


@pytest.mark.real_model
def test_int8_greedy_reply_equals_fp32_on_a_short_prompt(
    model_settings: Settings, models_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading, "ALLOW_MODEL_LOADS", True)
    resolved = loading.resolve_model(model_settings.model)
    directory = loading.ensure_converted(resolved, model_settings.models_dir)
    fp32 = loading.load_weights(directory, "cpu", "float32")
    int8 = loading.load_weights(directory, "cpu", "int8")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    encoded: Any = tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    ids = encoded["input_ids"]
    with torch.inference_mode():
        replies = [
            m.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=0)[0, ids.shape[1] :]
            for m in (fp32, int8)
        ]
    # Measured: the whole 8-token reply ("The capital of France is Paris.") agrees.
    assert replies[1].tolist() == replies[0].tolist()
    assert bytes_per_token(int8) < bytes_per_token(fp32) / 3
