"""The embedded model on a CUDA device (skipped without one): bf16 by default, grammar on GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from bot.config import Settings
from bot.llm import loading
from bot.llm.chat_model import LocalChatModel

pytestmark = [pytest.mark.gpu, pytest.mark.real_model]


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "sunny"


def test_cuda_model_generates_streams_and_calls_tools(models_data_dir: Path) -> None:
    settings = Settings(
        _env_file=None, data_dir=models_data_dir, model_device="auto", max_new_tokens=48
    )  # type: ignore[call-arg]
    loaded = loading.load_model(settings)
    assert loaded.device == "cuda" and loaded.dtype == "bfloat16"
    model = LocalChatModel.from_settings(settings)
    whole = model.invoke([HumanMessage("What is the capital of France?")])
    assert (
        "".join(
            str(c.content) for c in model.stream([HumanMessage("What is the capital of France?")])
        )
        == whole.content
    )
    reply = model.bind_tools([get_weather], tool_choice="get_weather").invoke("Weather in Oslo?")
    assert isinstance(reply, AIMessage) and reply.tool_calls[0]["name"] == "get_weather"
    assert isinstance(reply.tool_calls[0]["args"]["city"], str)
