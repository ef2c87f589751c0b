"""Fixtures of the model tests: a tiny random Llama (the real model's fixtures are in tests/conftest.py)."""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def tiny_llama(vocab_size: int = 101, seed: int = 0, **config: int) -> LlamaForCausalLM:
    """A randomly initialised 2-layer Llama with grouped-query attention (no weights to load)."""
    torch.manual_seed(seed)
    settings = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=vocab_size,
        max_position_embeddings=256,
        **config,
    )
    return LlamaForCausalLM(settings).eval()
