"""Weight-only precisions for CPU decoding: fp16 weights (the CPU default) and int8 weights.

CPU decoding of a small model is bound by the bytes of weights read per token (measured here: fp32
reads 0.54 GB per token of SmolLM2-135M). Storing each Linear weight as int8 with one scale per
output channel reads a quarter of that, while the activations stay in floating point, so the
output stays close to fp32 (unlike dynamic quantization, which also rounds the activations and
made greedy output loop). The matrix-vector product goes through torch's own CPU kernel
``aten._weight_int8pack_mm`` (the kernel torchao uses); it is fast with bf16 activations and
slow with fp32 ones on AVX2 machines, so a decode step casts its activation rows to bf16 for
the product. Prefill (many rows) de-quantizes the weight to fp32 instead: fp32 matrix-matrix
work is fast on CPU where bf16 matrix-matrix work is not.

fp16 weights read half of fp32's bytes and lose nothing that shows: the product goes through
fbgemm's packed fp16 GEMM (``quantized::linear_dynamic_fp16``, shipped in torch's CPU wheels),
which widens the weights to fp32 in registers and keeps fp32 activations and accumulation. On
this project's 2-core AVX2 machine it beats both fp32 and the int8 kernel at every batch size
(a 49152x576 output head, one row: fp16 5.9 ms, int8 7.5 ms, fp32 12.6 ms; a 900-row prefill
runs as fast as fp32), and greedy replies equal fp32's token for token.
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
    return _replace_linears(model, Int8WeightOnlyLinear, skip)


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
