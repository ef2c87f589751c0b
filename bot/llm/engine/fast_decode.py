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

On this project's 2-core machine each small op costs several microseconds whatever its size,
so the step keeps their number down (1,688 ops per token before, 840 now, for 30 layers):
rows stay 2D (a projection's ``[rows, heads * dim]`` output is viewed as attention's
``[rows, heads, 1, dim]``, no transposes or reshapes), RMSNorm is ``torch.rms_norm``, the
rotary embedding is three ops (``_rotate``), and the padding mask becomes one additive float
mask per step instead of a boolean one that SDPA converts in every layer.

Prefill stays on transformers (its overhead is paid once per prompt). ``FastDecoder.build``
returns ``None`` for any architecture it does not know, and the scheduler then keeps calling
the model itself; ``tests/llm/test_fast_decode.py`` checks the two give the same logits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F

from bot.llm.engine.kv_cache import SlabCache, SlabLayer

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


def _fused(*linears: Any) -> Any:
    """One projection computing ``linears`` side by side, or None for other module types."""
    from torch import nn

    from bot.llm.engine.quantize import Fp16WeightLinear

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


def _rotate(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding: ``x * cos + rotate_half(x) * sin`` in three ops.

    ``rotate_half(x)`` is ``cat(-x2, x1)``: ``roll`` gives ``cat(x2, x1)`` and ``signed_sin``
    (the sine with its first half negated) supplies the minus sign.
    """
    return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, dims=-1), signed_sin)


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
        half = self.head_dim // 2
        self.half_signs = torch.cat([-torch.ones(half), torch.ones(half)]).to(self.norm)
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
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor,
        cache: SlabCache,
        checkpoint: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """Feed one token per row; returns next-token logits ``[rows, vocab]``.

        ``ids`` and ``positions`` are ``[rows, 1]``; ``mask`` is ``[rows, columns]`` with the
        new token's column included (1 for real tokens, 0 for left padding). ``checkpoint``
        runs before every layer (the scheduler pauses there for urgent work, see
        ``bot/priority.py``).
        """
        rows = ids.shape[0]
        x = F.embedding(ids[:, 0], self.embedding)  # [rows, hidden]: one token per row
        cos, sin = self.rotary(x, positions)
        # [rows, 1, 1, head_dim]; the sine carries rotate_half's sign (see _rotate)
        cos, sin = cos[:, None], (sin * self.half_signs)[:, None]
        # One additive mask for every layer (a float mask spares SDPA a conversion per layer):
        # 0 where a row attends, -inf on its left padding.
        bias = torch.zeros(mask.shape, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill_(mask == 0, float("-inf"))[:, None, None, :]
        heads, kv_heads, dim, eps = self.heads, self.kv_heads, self.head_dim, self.eps
        width = (x.shape[-1],)
        slabs = cast("list[SlabLayer]", cache.layers)
        for layer, slab in zip(self.layers, slabs, strict=True):
            if checkpoint is not None:
                checkpoint()
            h = torch.rms_norm(x, width, layer.norm_in, eps)
            # Projections come out [rows, heads * dim]; with one token per row that is already
            # attention's [rows, heads, 1, dim] layout, so a view replaces the transposes.
            if layer.qkv is not None:
                qkv = layer.qkv(h).view(rows, heads + 2 * kv_heads, 1, dim)
                qk = _rotate(qkv[:, : heads + kv_heads], cos, sin)
                q, k, v = qk[:, :heads], qk[:, heads:], qkv[:, heads + kv_heads :]
            else:
                q = _rotate(layer.q(h).view(rows, heads, 1, dim), cos, sin)
                k = _rotate(layer.k(h).view(rows, kv_heads, 1, dim), cos, sin)
                v = layer.v(h).view(rows, kv_heads, 1, dim)
            keys, values = slab.update(k, v)
            attended = F.scaled_dot_product_attention(
                q, keys, values, attn_mask=bias, scale=self.scaling, enable_gqa=True
            )
            x = x + layer.o(attended.view(rows, heads * dim))
            h = torch.rms_norm(x, width, layer.norm_post, eps)
            x = x + layer.down(F.silu(layer.gate(h)) * layer.up(h))
        logits: torch.Tensor = self.head(torch.rms_norm(x, width, self.norm, eps))
        return logits
