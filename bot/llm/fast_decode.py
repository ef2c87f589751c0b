"""One decode step of a Llama-family model without transformers' per-module overhead.

A decode step of a 135M model is small work spread over many small calls: on the 2-core CPU
a step through ``LlamaForCausalLM.forward`` spends about as long in Python (module calls,
mask building, cache bookkeeping, output dataclasses) as in the matrix products. This step
runs the same modules' weights, in the same order and with the same formulas (RMSNorm, rotary
embedding, grouped-query SDPA, SiLU-gated MLP), straight from tensors: one token per row,
rows left-padded with a 2D mask, keys and values appended to the scheduler's slab cache.

Where the projections are plain or fp16 Linears, the step multiplies by one fused q/k/v weight
(built once, about 33 MB of fp16 for the embedded model) instead of three: the key and value
projections are small enough that a call's fixed cost outweighs its arithmetic, and the rotary
embedding then turns queries and keys in one go.

Prefill stays on transformers (its overhead is paid once per prompt). ``FastDecoder.build``
returns ``None`` for any architecture it does not know, and the scheduler then keeps calling
the model itself; ``tests/llm/test_fast_decode.py`` checks the two give the same logits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F

from bot.llm.kv_cache import SlabCache, SlabLayer

log = logging.getLogger(__name__)

SUPPORTED = frozenset({"llama"})


@dataclass(frozen=True)
class _Layer:
    norm_in: torch.Tensor
    q: Any  # the model's own projection modules (nn.Linear or a weight-only replacement)
    k: Any
    v: Any
    qkv: Any  # q, k and v stacked into one projection, or None where they cannot be
    o: Any
    norm_post: torch.Tensor
    gate: Any
    up: Any
    down: Any


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # LlamaRMSNorm's formula, op for op (in fp32), so the step's numbers match transformers'.
    wide = x.float()
    return weight * (wide * torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def _fused(*linears: Any) -> Any:
    """One projection computing ``linears`` side by side, or None for other module types."""
    from torch import nn

    from bot.llm.quantize import Fp16WeightLinear

    if all(isinstance(m, Fp16WeightLinear) for m in linears):
        parts = [m.unpacked() for m in linears]
    elif all(type(m) is nn.Linear for m in linears):
        parts = [
            (m.weight.detach(), m.bias.detach() if m.bias is not None else None) for m in linears
        ]
    else:
        return None
    weights = [w for w, _ in parts]
    stacked = nn.Linear(weights[0].shape[1], sum(w.shape[0] for w in weights), bias=False)
    stacked.weight = nn.Parameter(torch.cat(weights).to(weights[0]), requires_grad=False)
    if any(b is not None for _, b in parts):
        biases = [b if b is not None else w.new_zeros(w.shape[0]) for w, b in parts]
        stacked.bias = nn.Parameter(torch.cat(biases).to(weights[0]), requires_grad=False)
    return Fp16WeightLinear(stacked) if isinstance(linears[0], Fp16WeightLinear) else stacked


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class FastDecoder:
    """The decode step for one loaded model; build it with ``FastDecoder.build``."""

    def __init__(self, model: Any) -> None:
        config = model.config
        inner = model.model
        self.embedding = inner.embed_tokens.weight
        self.rotary = inner.rotary_emb
        self.norm = inner.norm.weight
        self.eps = float(inner.norm.variance_epsilon)
        self.head = model.lm_head
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(config.num_key_value_heads)
        self.head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // self.heads)
        self.scaling = float(inner.layers[0].self_attn.scaling)
        self.layers = [
            _Layer(
                layer.input_layernorm.weight,
                layer.self_attn.q_proj,
                layer.self_attn.k_proj,
                layer.self_attn.v_proj,
                _fused(layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj),
                layer.self_attn.o_proj,
                layer.post_attention_layernorm.weight,
                layer.mlp.gate_proj,
                layer.mlp.up_proj,
                layer.mlp.down_proj,
            )
            for layer in inner.layers
        ]

    @classmethod
    def build(cls, model: Any) -> FastDecoder | None:
        """A decoder for ``model``, or ``None`` when its architecture is not one this step knows."""
        config = getattr(model, "config", None)
        if config is None or getattr(config, "model_type", None) not in SUPPORTED:
            return None
        if getattr(config, "hidden_act", "silu") != "silu":
            return None
        if getattr(config, "pretraining_tp", 1) != 1:
            return None
        try:
            return cls(model)
        except AttributeError as exc:  # a variant laid out differently: keep transformers' path
            log.info("fast decode step not available for this model: %s", exc)
            return None

    def step(
        self, ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor, cache: SlabCache
    ) -> torch.Tensor:
        """Feed one token per row; returns next-token logits ``[rows, vocab]``.

        ``ids`` and ``positions`` are ``[rows, 1]``; ``mask`` is ``[rows, columns]`` with the
        new token's column included (1 for real tokens, 0 for left padding).
        """
        rows = ids.shape[0]
        x = F.embedding(ids, self.embedding)
        cos, sin = self.rotary(x, positions)
        cos, sin = cos[:, None], sin[:, None]  # [rows, 1, 1, head_dim]
        attend = mask.bool()[:, None, None, :]
        heads, kv_heads, dim, eps = self.heads, self.kv_heads, self.head_dim, self.eps
        slabs = cast("list[SlabLayer]", cache.layers)
        for layer, slab in zip(self.layers, slabs, strict=True):
            h = _rms(x, layer.norm_in, eps)
            if layer.qkv is not None:
                qkv = layer.qkv(h).view(rows, 1, heads + 2 * kv_heads, dim).transpose(1, 2)
                qk = _rotate(qkv[:, : heads + kv_heads], cos, sin)
                q, k, v = qk[:, :heads], qk[:, heads:], qkv[:, heads + kv_heads :]
            else:
                q = _rotate(layer.q(h).view(rows, 1, heads, dim).transpose(1, 2), cos, sin)
                k = _rotate(layer.k(h).view(rows, 1, kv_heads, dim).transpose(1, 2), cos, sin)
                v = layer.v(h).view(rows, 1, kv_heads, dim).transpose(1, 2)
            keys, values = slab.update(k, v)
            attended = F.scaled_dot_product_attention(
                q, keys, values, attn_mask=attend, scale=self.scaling, enable_gqa=True
            )
            x = x + layer.o(attended.transpose(1, 2).reshape(rows, 1, heads * dim))
            h = _rms(x, layer.norm_post, eps)
            x = x + layer.down(F.silu(layer.gate(h)) * layer.up(h))
        logits: torch.Tensor = self.head(_rms(x, self.norm, eps))
        return logits[:, -1, :]
