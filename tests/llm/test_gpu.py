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


def test_cuda_scheduler_batches_and_reports_the_bandwidth_bound(models_data_dir: Path) -> None:
    from bot.bench.batching import bytes_per_token, copy_bandwidth_gbs
    from bot.llm.engine.options import DecodingOptions
    from bot.llm.engine.scheduler import Scheduler

    settings = Settings(_env_file=None, data_dir=models_data_dir, model_device="cuda")  # type: ignore[call-arg]
    loaded = loading.load_model(settings)
    scheduler = Scheduler(loaded)
    options = DecodingOptions(max_new_tokens=16)
    prompts = [
        list(
            loaded.tokenizer.apply_chat_template(
                [{"role": "user", "content": q}], add_generation_prompt=True, return_dict=True
            )["input_ids"]
        )
        for q in ("What is the capital of France?", "Name three fruits.")
    ]
    alone = [scheduler.submit(p, options).result().token_ids for p in prompts]
    together = [scheduler.submit(p, options) for p in prompts]
    # bf16 rounding makes long greedy runs sensitive to batch shape; the opening must agree.
    assert [h.result().token_ids[:4] for h in together] == [a[:4] for a in alone]
    assert scheduler.max_rows_seen == 2
    assert copy_bandwidth_gbs("cuda") > 100 and bytes_per_token(loaded.model) > 0
