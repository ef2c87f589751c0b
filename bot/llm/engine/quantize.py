"""fp16 weights for CPU decoding: half of fp32's bytes per token, and nothing lost that shows.

CPU decoding of a small model is bound by the bytes of weights read per token (measured here: fp32
reads 0.54 GB per token of SmolLM2-135M). fp16 weights read half of that: the product goes through
fbgemm's packed fp16 GEMM (``quantized::linear_dynamic_fp16``, shipped in torch's CPU wheels),
which widens the weights to fp32 in registers and keeps fp32 activations and accumulation, so
greedy replies equal fp32's token for token. Measured with ``rpa-agent bench engine`` (7
alternating rounds): decode 25.0 tok/s at one request against 22.0 for fp32 weights, 142 against
103 rows/s at eight. An int8 weight-only path (torch's ``_weight_int8pack_mm``) measured 25.7 and
148 in the same rounds, within the noise of fp16, with greedy text that drifts from fp32's, so it
was removed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Fp16WeightLinear(nn.Module):
    """A Linear whose weight is stored as fp16 in fbgemm's packed layout; math stays fp32."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().float().contiguous()
        bias = linear.bias.detach().float() if linear.bias is not None else None
        self.packed = torch.ops.quantized.linear_prepack_fp16(weight, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2 and x.dtype == torch.float32:  # the lean decode step's rows: no reshapes
            return torch.ops.quantized.linear_dynamic_fp16(x, self.packed)
        rows = x.reshape(-1, self.in_features)
        if rows.dtype != torch.float32:
            rows = rows.float()
        out = torch.ops.quantized.linear_dynamic_fp16(rows, self.packed)
        return out.reshape(*x.shape[:-1], self.out_features)

    def unpacked(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The weight (fp16 values, as fp32) and bias, as a plain Linear would hold them."""
        weight, bias = torch.ops.quantized.linear_unpack_fp16(self.packed)
        return weight, bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp16 weights"


def fp16_available() -> bool:
    """Whether this torch build has fbgemm's packed fp16 GEMM (x86 CPU wheels do)."""
    import torch.backends.quantized

    return "fbgemm" in torch.backends.quantized.supported_engines and hasattr(
        torch.ops.quantized, "linear_prepack_fp16"
    )


def store_fp16_weights(model: Any, skip: tuple[str, ...] = ()) -> Any:
    """Replace every ``nn.Linear`` (a tied ``lm_head`` included) by ``Fp16WeightLinear``."""
    if not fp16_available():
        raise RuntimeError(
            "this torch build lacks fbgemm's fp16 GEMM (quantized::linear_dynamic_fp16)."
        )
    return _replace_linears(model, Fp16WeightLinear, skip)


def _replace_linears(model: Any, make: Any, skip: tuple[str, ...]) -> Any:
    targets = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and not any(name.endswith(s) for s in skip)
    ]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make(module))
    return model


def packed_bytes(model: Any) -> int:
    """Bytes of packed fp16 weights, which are neither parameters nor buffers."""
    return sum(
        2 * m.in_features * m.out_features
        for m in model.modules()
        if isinstance(m, Fp16WeightLinear)
    )
