"""Fixtures for real-model tests: one converted-model cache per test run, one loaded model per module.

A fresh clone converts the embedded GGUF once (~30 s) into a session-wide models directory;
every real-model test after that loads from it in about a second, and tests in one module share
the same loaded model (as conversations share it in the bot).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from bot.config import Settings
from bot.llm import loading
from bot.llm.loading import LoadedModel


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


@pytest.fixture(scope="session")
def model_settings(models_data_dir: Path) -> Settings:
    return Settings(_env_file=None, data_dir=models_data_dir, model_device="cpu")  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def loaded_model(model_settings: Settings) -> Iterator[LoadedModel]:
    """The embedded model on CPU in the automatic dtype, loaded once per module."""
    # Module fixtures run before the per-test guard, so allow loads explicitly here.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loading, "ALLOW_MODEL_LOADS", True)
        yield loading.load_model(model_settings)
