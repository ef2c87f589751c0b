"""fp16 weights: the packed layer against a float Linear."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from bot.llm.engine.quantize import Fp16WeightLinear, fp16_available

needs_fbgemm = pytest.mark.skipif(not fp16_available(), reason="torch build without fbgemm fp16")
FP16_CASES = [
    pytest.param(Fp16WeightLinear, rows, 1e-3, marks=needs_fbgemm) for rows in (1, 8, 300)
]


# fp16 rounding of the weights only: activations and accumulation stay fp32.
@pytest.mark.parametrize(("layer", "rows", "tolerance"), FP16_CASES)
def test_weight_only_linear_stays_close_to_float(layer: Any, rows: int, tolerance: float) -> None:
    torch.manual_seed(0)
    linear = nn.Linear(96, 160, bias=True)
    x = torch.randn(2, rows, 96)
    with torch.inference_mode():
        want = linear(x)
        got = layer(linear)(x)
    assert got.shape == want.shape and got.dtype == torch.float32
    assert (got - want).norm() / want.norm() < tolerance
