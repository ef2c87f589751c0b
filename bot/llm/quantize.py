"""Weight-only int8 quantization of a model's Linear layers for CPU decoding.

CPU decoding of a small model is bound by the bytes of weights read per token (FACTS.md: fp32
reads 0.54 GB per token of SmolLM2-135M). Storing each Linear weight as int8 with one scale per
output channel reads a quarter of that, while the activations stay in floating point, so the
output stays close to fp32 (unlike dynamic quantization, which also rounds the activations and
made greedy output loop). The matrix-vector product goes through torch's own CPU kernel
``aten._weight_int8pack_mm`` (the kernel torchao uses); it is fast with bf16 activations and
slow with fp32 ones on AVX2 machines, so a decode step casts its activation rows to bf16 for
the product. Prefill (many rows) de-quantizes the weight to fp32 instead: fp32 matrix-matrix
work is fast on CPU where bf16 matrix-matrix work is not.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

# Rows at or below which the int8 kernel runs (decode steps, small batches); above it the
# weight is de-quantized for one fp32 matrix-matrix product (prefill).
KERNEL_MAX_ROWS = 16


class Int8WeightOnlyLinear(nn.Module):
    """A Linear whose weight is int8 with a per-output-channel scale; activations stay float."""

    weight_int8: torch.Tensor  # [out, in]
    scales: torch.Tensor  # [out], bf16: the kernel's scale dtype follows its activations
    scales_fp32: torch.Tensor  # [out], for the de-quantized prefill product
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scales = weight.abs().amax(dim=1).clamp(min=1e-8) / 127.0
        quantized = torch.round(weight / scales[:, None]).clamp(-128, 127).to(torch.int8)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight_int8", quantized.contiguous())
        self.register_buffer("scales", scales.to(torch.bfloat16))
        self.register_buffer("scales_fp32", scales)
        bias = linear.bias.detach().float() if linear.bias is not None else None
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        if rows.shape[0] <= KERNEL_MAX_ROWS:
            out = torch.ops.aten._weight_int8pack_mm(
                rows.to(torch.bfloat16), self.weight_int8, self.scales
            ).to(x.dtype)
        else:
            weight = self.weight_int8.to(x.dtype) * self.scales_fp32.to(x.dtype)[:, None]
            out = rows @ weight.t()
        if self.bias is not None:
            out = out + self.bias.to(out.dtype)
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weight-only"


def available() -> bool:
    """Whether this torch build has the int8 weight-only CPU kernel."""
    return hasattr(torch.ops.aten, "_weight_int8pack_mm")


def quantize_int8_weight_only(model: Any, skip: tuple[str, ...] = ()) -> Any:
    """Replace every ``nn.Linear`` (including a tied ``lm_head``) in place; returns ``model``.

    A tied output head gets its own int8 copy; the embedding keeps the float table it reads
    one row of per token.
    """
    if not available():
        raise RuntimeError("this torch build lacks aten._weight_int8pack_mm (int8 weight-only).")
    targets = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and not any(name.endswith(s) for s in skip)
    ]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, Int8WeightOnlyLinear(module))
    return model


def weight_bytes(model: Any) -> int:
    """Bytes of parameters and buffers: what one decode step reads, roughly (the bandwidth bound)."""
    seen: set[int] = set()
    total = 0
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        total += tensor.numel() * tensor.element_size()
    return total
