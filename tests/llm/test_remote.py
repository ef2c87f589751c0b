"""The remote backend (ChatOpenAI) against a local server that speaks the OpenAI API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from pydantic import SecretStr

from bot.config import Settings
from bot.llm import make_chat_model
from memory.errors import ConfigError
from tests.fakes.openai_server import FakeOpenAIServer, FakeReply


def get_weather(city: str) -> str:
    """Weather for a city."""
    return "sunny"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


@pytest.fixture
def remote(settings: Settings, server: FakeOpenAIServer) -> Settings:
    return settings.model_copy(
        update={
            "llm_backend": "remote",
            "remote_base_url": server.base_url,
            "remote_model": "smol",
            "remote_api_key": SecretStr("sk-test-123"),
        }
    )


def test_plain_reply_and_request_shape(remote: Settings, server: FakeOpenAIServer) -> None:
    server.enqueue(FakeReply(text="Paris."))
    reply = make_chat_model(remote).invoke([HumanMessage("Capital of France?")])
    assert reply.content == "Paris."
    [request] = server.requests
    assert request.body["model"] == "smol" and request.body["temperature"] == 0.0
    assert request.body["messages"][-1] == {"role": "user", "content": "Capital of France?"}
    assert request.headers["Authorization"] == "Bearer sk-test-123"


@pytest.fixture
def native(remote: Settings) -> Settings:
    return remote.model_copy(update={"remote_tools": "native"})


def test_tool_call_round_trip(native: Settings, server: FakeOpenAIServer) -> None:
    remote = native
    server.enqueue(
        FakeReply(tool_calls=[("get_weather", {"city": "Oslo"})]), FakeReply(text="Sunny in Oslo.")
    )
    model = make_chat_model(remote).bind_tools([get_weather])
    first = model.invoke([HumanMessage("Weather in Oslo?")])
    assert isinstance(first, AIMessage)
    [call] = first.tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Oslo"})
    second = model.invoke(
        [HumanMessage("Weather in Oslo?"), first, ToolMessage("sunny", tool_call_id=call["id"])]
    )
    assert second.content == "Sunny in Oslo."
    sent = server.requests[1].body
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["messages"][-1] == {"role": "tool", "content": "sunny", "tool_call_id": call["id"]}


def test_streaming_text_and_tool_call(native: Settings, server: FakeOpenAIServer) -> None:
    remote = native
    server.enqueue(
        FakeReply(text="Hello there, colleague."),
        FakeReply(tool_calls=[("get_weather", {"city": "Rome"})]),
    )
    model = make_chat_model(remote)
    pieces = [c.content for c in model.stream("hi")]
    assert (
        len([p for p in pieces if p]) > 3 and "".join(map(str, pieces)) == "Hello there, colleague."
    )
    assert server.requests[0].body["stream"] is True
    chunks = list(model.bind_tools([get_weather]).stream("weather?"))
    total = sum(chunks[1:], chunks[0])
    assert isinstance(total, AIMessageChunk) and total.tool_calls[0]["args"] == {"city": "Rome"}


async def test_async_streaming(remote: Settings, server: FakeOpenAIServer) -> None:
    server.enqueue(FakeReply(text="async works"))
    pieces = [c.content async for c in make_chat_model(remote).astream("hi")]
    assert "".join(map(str, pieces)) == "async works"


def test_remote_needs_a_base_url(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="RPA_REMOTE_BASE_URL"):
        make_chat_model(settings.model_copy(update={"llm_backend": "remote"}))


def _call_text(name: str, **args: object) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': args})}</tool_call>"


def test_the_project_format_sends_the_rendered_prompt_and_the_grammar(
    remote: Settings, server: FakeOpenAIServer
) -> None:
    server.enqueue(FakeReply(text=_call_text("get_weather", city="Oslo")), FakeReply(text="Sunny."))
    model = make_chat_model(remote).bind_tools([get_weather])
    first = model.invoke([HumanMessage("Weather in Oslo?")])
    assert isinstance(first, AIMessage)
    [call] = first.tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Oslo"})
    sent = server.requests[0].body
    assert "tools" not in sent  # the server's own parser is not involved
    assert (
        sent["messages"][0]["role"] == "system" and "get_weather(" in sent["messages"][0]["content"]
    )
    grammar = sent["structured_outputs"]["grammar"]
    assert "<tool_call>" in grammar and "root ::=" in grammar
    # The history goes back in the same format the adapter was trained on.
    second = model.invoke(
        [HumanMessage("Weather in Oslo?"), first, ToolMessage("sunny", tool_call_id=call["id"])]
    )
    assert second.content == "Sunny." and not second.tool_calls
    history = [m["content"] for m in server.requests[1].body["messages"]]
    assert any("<tool_call>" in h for h in history) and all(
        m["role"] in ("system", "user", "assistant") for m in server.requests[1].body["messages"]
    )


def test_the_project_format_streams_text_and_holds_a_call_whole(
    remote: Settings, server: FakeOpenAIServer
) -> None:
    server.enqueue(
        FakeReply(text="Hello there, colleague."),
        FakeReply(text=_call_text("get_weather", city="Rome")),
    )
    model = make_chat_model(remote).bind_tools([get_weather])
    assert "".join(str(c.content) for c in model.stream("hi")) == "Hello there, colleague."
    chunks = list(model.stream("weather?"))
    total = sum(chunks[1:], chunks[0])
    assert isinstance(total, AIMessageChunk) and total.tool_calls[0]["args"] == {"city": "Rome"}


def test_without_a_grammar_a_malformed_call_is_reported_not_guessed(
    remote: Settings, server: FakeOpenAIServer
) -> None:
    server.enqueue(FakeReply(text='<tool_call>{"name": "get_weather", "arguments": {"city": '))
    model = make_chat_model(remote.model_copy(update={"remote_grammar": "none"})).bind_tools(
        [get_weather]
    )
    reply = model.invoke([HumanMessage("Weather?")])
    assert "structured_outputs" not in server.requests[0].body
    assert not reply.tool_calls and reply.invalid_tool_calls
