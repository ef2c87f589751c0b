"""The embedded model for real: loading offline, decoding strategies, streaming, tool calls."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from bot.config import Settings
from bot.llm import loading
from bot.llm.chat_model import LocalChatModel
from bot.llm.engine.model import LoadedModel
from bot.llm.engine.options import DecodingOptions

pytestmark = pytest.mark.real_model

QUESTION = [
    SystemMessage("You are a concise assistant."),
    HumanMessage("What is the capital of France?"),
]


class FileExpense(BaseModel):
    """File an expense claim for the current user."""

    amount_eur: float = Field(gt=0, description="amount in euros")
    category: str = Field(description="taxi, hotel, meals or other")


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "sunny"


def _model(loaded: LoadedModel, **options: Any) -> LocalChatModel:
    return LocalChatModel(
        loaded=loaded, options=DecodingOptions(max_new_tokens=24).updated(**options)
    )


def test_embedded_model_loads_offline_once_per_process(
    loaded_model: LoadedModel, model_settings: Settings
) -> None:
    assert loaded_model.device == "cpu" and loaded_model.dtype == loading.CPU_AUTO_DTYPE
    converted = list(
        (model_settings.models_dir / "converted").glob(
            "smollm2-135m-instruct-q4_1-*/model.safetensors"
        )
    )
    assert len(converted) == 1
    assert loading.load_model(model_settings) is loaded_model


def test_greedy_is_deterministic_and_streaming_matches(loaded_model: LoadedModel) -> None:
    model = _model(loaded_model)
    first, second = model.invoke(QUESTION), model.invoke(QUESTION)
    assert isinstance(first.content, str) and "Paris" in first.content
    assert first.content == second.content
    chunks = list(model.stream(QUESTION))
    assert len(chunks) > 2 and all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(str(c.content) for c in chunks) == first.content


async def test_async_streaming_matches(loaded_model: LoadedModel) -> None:
    model = _model(loaded_model, max_new_tokens=12)
    whole = (await model.ainvoke(QUESTION)).content
    assert "".join([str(c.content) async for c in model.astream(QUESTION)]) == whole


def test_stop_strings_cut_both_paths(loaded_model: LoadedModel) -> None:
    model = _model(loaded_model)
    full = str(model.invoke(QUESTION).content)
    stop = full.split()[2]  # a word the greedy answer is known to contain
    cut = model.invoke(QUESTION, stop=[stop]).content
    assert cut == full[: full.index(stop)]
    assert "".join(str(c.content) for c in model.stream(QUESTION, stop=[stop])) == cut


def test_beam_search_and_sampling_run(loaded_model: LoadedModel) -> None:
    beam = _model(loaded_model, decoding="beam", num_beams=2).invoke(QUESTION)
    assert isinstance(beam.content, str) and beam.content.strip()
    sampler = _model(loaded_model, decoding="sample", temperature=0.8, top_k=20, seed=7)
    a, b = sampler.invoke(QUESTION), sampler.invoke(QUESTION)
    assert str(a.content).strip() and a.content == b.content  # same seed, same draw


@pytest.mark.parametrize("choice", ["FileExpense", "any"])
def test_forced_tool_call_validates_against_its_schema(
    loaded_model: LoadedModel, choice: str
) -> None:
    model = _model(loaded_model, max_new_tokens=64).bind_tools(
        [FileExpense, get_weather], tool_choice=choice
    )
    reply = model.invoke([HumanMessage("I took a taxi for 42 EUR, please file it.")])
    assert isinstance(reply, AIMessage) and reply.invalid_tool_calls == []
    [call] = reply.tool_calls
    schema = {"FileExpense": FileExpense.model_json_schema(), "get_weather": None}[
        call["name"]
    ] or {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    jsonschema.validate(call["args"], schema)
    if choice == "FileExpense":
        assert call["name"] == "FileExpense"


def test_streamed_tool_call_matches_invoke(loaded_model: LoadedModel) -> None:
    model = _model(loaded_model, max_new_tokens=64).bind_tools(
        [get_weather], tool_choice="get_weather"
    )
    whole = model.invoke("Weather in Oslo?")
    chunks = list(model.stream("Weather in Oslo?"))
    total = sum(chunks[1:], chunks[0])
    assert isinstance(whole, AIMessage) and isinstance(total, AIMessageChunk)
    assert [c["args"] for c in total.tool_calls] == [c["args"] for c in whole.tool_calls]
    assert whole.tool_calls[0]["name"] == "get_weather" and isinstance(
        whole.tool_calls[0]["args"]["city"], str
    )


def test_generation_failure_becomes_a_readable_message(
    loaded_model: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: object) -> None:
        raise RuntimeError("device lost")

    # Greedy replies run the model's forward pass through the scheduler.
    monkeypatch.setattr(loaded_model.model, "forward", broken)
    model = _model(loaded_model)
    reply = model.invoke(QUESTION)
    assert "device lost" in str(reply.content) and reply.response_metadata["error_id"].startswith(
        "E-"
    )
    streamed = "".join(str(c.content) for c in model.stream(QUESTION))
    assert "device lost" in streamed and "Error id: E-" in streamed


def test_lora_adapter_is_merged(
    loaded_model: LoadedModel, model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    directory = next(
        p for p in (model_settings.models_dir / "converted").glob("smollm2-*") if p.is_dir()
    )
    base = loading.load_weights(directory, "cpu", "float32")
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    adapter_dir = tmp_path_factory.mktemp("adapter")
    get_peft_model(base, config).save_pretrained(str(adapter_dir))
    plain = loading.load_weights(directory, "cpu", "float32")
    merged = loading.load_weights(directory, "cpu", "float32", adapter=adapter_dir)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.inference_mode():
        assert not torch.allclose(plain(ids).logits, merged(ids).logits)
    assert not any("lora" in name for name, _ in merged.named_parameters())
