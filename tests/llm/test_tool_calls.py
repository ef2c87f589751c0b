"""Tool binding, grammar construction and reply parsing, without model weights."""

from __future__ import annotations

import json
from typing import Any

import pytest
import xgrammar as xgr
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from bot.llm.rendering import ToolBinding
from bot.llm.tool_calls import (
    binding_from,
    build_grammar,
    normalize_choice,
    parse_reply,
    to_openai_tools,
)


class SendEmail(BaseModel):
    """Send an email to a colleague."""

    to: str = Field(description="recipient address")
    amount: int = Field(ge=0)


@tool
def search_docs(query: str) -> str:
    """Search the process documents."""
    return query


def get_weather(city: str, days: int = 1) -> str:
    """Weather for a city."""
    return city


RAW = {
    "type": "function",
    "function": {
        "name": "ping",
        "description": "Ping.",
        "parameters": {"type": "object", "properties": {}},
    },
}


def _binding(choice: Any = None) -> ToolBinding:
    binding = binding_from(to_openai_tools([SendEmail, search_docs, get_weather, RAW]), choice)
    assert binding is not None
    return binding


def test_every_tool_kind_becomes_a_spec() -> None:
    specs = {s.name: s for s in _binding().tools}
    assert set(specs) == {"SendEmail", "search_docs", "get_weather", "ping"}
    assert specs["SendEmail"].parameters["required"] == ["to", "amount"]
    assert specs["get_weather"].description == "Weather for a city."


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, "auto"),
        ("auto", "auto"),
        ("any", "any"),
        ("required", "any"),
        (True, "any"),
        ("none", None),
        ("ping", "ping"),
        ({"type": "function", "function": {"name": "ping"}}, "ping"),
    ],
)
def test_tool_choice_follows_langchain_semantics(choice: Any, expected: str | None) -> None:
    assert normalize_choice(choice, ["ping", "x"]) == expected


def test_unknown_tool_choice_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        normalize_choice("nope", ["ping"])


def _matcher(binding: ToolBinding) -> xgr.GrammarMatcher:
    # A byte-level vocabulary stands in for a real tokenizer: the grammar is what is tested.
    vocab = [chr(i) for i in range(32, 127)] + ["\n", "<eos>"]
    info = xgr.TokenizerInfo(vocab, stop_token_ids=[len(vocab) - 1])
    return xgr.GrammarMatcher(xgr.GrammarCompiler(info).compile_grammar(build_grammar(binding)))


def _accepts(binding: ToolBinding, text: str) -> bool:
    matcher = _matcher(binding)
    return matcher.accept_string(text) and matcher.is_completed()


def _call(name: str, args: dict[str, Any]) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': args})}</tool_call>"


def test_grammar_accepts_valid_calls_and_free_text() -> None:
    binding = _binding()
    assert _accepts(binding, _call("SendEmail", {"to": "a@acme.example", "amount": 3}))
    assert _accepts(binding, _call("get_weather", {"city": "Oslo"}))
    assert _accepts(binding, _call("ping", {}))
    assert _accepts(binding, "Sure, the policy says <b>no</b>.")


@pytest.mark.parametrize(
    "text",
    [
        _call("SendEmail", {"to": "a@acme.example"}),  # missing required argument
        _call("SendEmail", {"to": "a", "amount": "3"}),  # wrong type
        _call("SendEmail", {"to": "a", "amount": 3, "cc": "b"}),  # unknown argument
        _call("delete_all", {}),  # unknown tool
        "<tool_call>not json</tool_call>",
        "<b>text may not open with a tag</b>",
    ],
)
def test_grammar_rejects_what_would_not_validate(text: str) -> None:
    assert not _accepts(_binding(), text)


def test_forced_choice_excludes_text_and_other_tools() -> None:
    forced = _binding("get_weather")
    assert _accepts(forced, _call("get_weather", {"city": "Oslo", "days": 2}))
    assert not _accepts(forced, _call("ping", {}))
    assert not _accepts(forced, "Plain answer.")
    assert not _accepts(_binding("any"), "Plain answer.")


def test_parse_valid_call() -> None:
    message = parse_reply(_call("SendEmail", {"to": "x@acme.example", "amount": 2}), _binding())
    assert message.content == ""
    [call] = message.tool_calls
    assert call["name"] == "SendEmail" and call["args"] == {"to": "x@acme.example", "amount": 2}
    assert call["id"] and call["id"].startswith("call_")


def test_parse_plain_text_and_unbound_output() -> None:
    assert parse_reply("Hello", _binding()).content == "Hello"
    assert parse_reply(_call("ping", {}), None).tool_calls == []


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('<tool_call>{"name": "SendEmail", "arguments": {"to": "x"', "not valid JSON"),
        (_call("SendEmail", {"to": "x", "amount": -1}), "do not match the schema"),
        (_call("nope", {}), "unknown tool 'nope'"),
    ],
)
def test_parse_invalid_calls_become_invalid_tool_calls(text: str, error: str) -> None:
    message = parse_reply(text, _binding())
    assert message.tool_calls == []
    [bad] = message.invalid_tool_calls
    assert error in (bad["error"] or "")


def test_bound_tool_calls_decode_without_repetition_penalty_unless_asked() -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from bot.llm.tool_calls import TOOL_CALL_REPETITION_PENALTY, bind_tools

    def lookup(order_id: str) -> str:
        """Look up an order."""
        return order_id

    model = FakeListChatModel(responses=["x"])
    bound = bind_tools(model, [lookup])
    assert bound.kwargs["repetition_penalty"] == TOOL_CALL_REPETITION_PENALTY == 1.0  # type: ignore[attr-defined]
    chosen = bind_tools(model, [lookup], repetition_penalty=1.3)
    assert chosen.kwargs["repetition_penalty"] == 1.3  # type: ignore[attr-defined]
