"""LangChain messages -> the role/content list a tokenizer's chat template expects.

Every message kind an agent produces is rendered: system text (with the tool section appended
when tools are bound), human turns, assistant turns with their tool calls written in the same
``<tool_call>`` form the model is asked to produce, and tool results as delimited data inside
``<tool_result>`` tags (in a user turn, since many chat templates know no ``tool`` role).
Consecutive turns of one role are merged because some templates insist on alternation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from prompts import render_prompt

CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"
RESULT_CLOSE = "</tool_result>"


@dataclass(frozen=True)
class ToolSpec:
    """One bound tool as the model sees it: name, description, JSON schema of the arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    @property
    def schema_json(self) -> str:
        return json.dumps(self.parameters, ensure_ascii=False)

    @property
    def signature(self) -> str:
        """``name(arg: type, opt?: type)``: the arguments in a few tokens (see ``compact_type``)."""
        return f"{self.name}({_fields(self.parameters)})"

    @property
    def summary(self) -> str:
        """The description's first sentence."""
        return first_sentence(self.description)


# A sentence ends at . ! or ? followed by a capital letter or the end (so "e.g. an" goes on).
_SENTENCE = re.compile(r"^(.+?[.!?])(?=\s+[A-Z]|\s*$)", re.DOTALL)


def first_sentence(text: str) -> str:
    match = _SENTENCE.match(text.strip())
    return " ".join((match.group(1) if match else text).split())


def _fields(schema: dict[str, Any]) -> str:
    required = set(schema.get("required") or ())
    props = schema.get("properties") or {}
    return ", ".join(
        f"{name}{'' if name in required else '?'}: {compact_type(sub)}"
        for name, sub in props.items()
    )


def compact_type(schema: Any) -> str:
    """A JSON schema as a short type: ``string``, ``"a"|"b"``, ``string[]``, ``{k: string}``.

    The prompt only has to tell the model what to write; the grammar built from the full
    schema still enforces every constraint (bounds, patterns, required keys).
    """
    if not isinstance(schema, dict):
        return "any"
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    if "enum" in schema:
        return "|".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        kept = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
        return "|".join(compact_type(o) for o in kept) or "null"
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(compact_type({**schema, "type": k}) for k in kind if k != "null")
    if kind == "array":
        return f"{compact_type(schema.get('items', {}))}[]"
    if kind == "object" or "properties" in schema:
        if schema.get("properties"):
            return "{" + _fields(schema) + "}"
        extra = schema.get("additionalProperties")
        return f"{{name: {compact_type(extra)}}}" if isinstance(extra, dict) else "object"
    return str(kind) if kind else "any"


@dataclass(frozen=True)
class ToolBinding:
    """The tools bound to a call and whether one must be called.

    ``choice`` is ``"auto"`` (call a tool or answer in text), ``"any"`` (call some tool) or the
    name of the one tool that must be called.
    """

    tools: tuple[ToolSpec, ...]
    choice: str = "auto"

    def allowed(self) -> tuple[ToolSpec, ...]:
        """The tools the grammar lets the model call."""
        if self.choice in ("auto", "any"):
            return self.tools
        return tuple(t for t in self.tools if t.name == self.choice)


def text_of(content: str | list[Any]) -> str:
    """The plain text of a message's content (string, or a list of content blocks)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def format_call(name: str, args: dict[str, Any]) -> str:
    """A tool call exactly as the model is asked to write it."""
    return f"{CALL_OPEN}{json.dumps({'name': name, 'arguments': args}, ensure_ascii=False)}{CALL_CLOSE}"


def _escape_data(text: str) -> str:
    # A tool result must not be able to close its own delimiter and speak as the user.
    return text.replace(RESULT_CLOSE, "<\\/tool_result>")


def render_tool_result(message: ToolMessage) -> str:
    return render_prompt(
        "tool_call_result.jinja",
        tool_name=message.name or "tool",
        call_id=message.tool_call_id,
        failed=message.status == "error",
        content=_escape_data(text_of(message.content)),
    ).strip()


def _render_ai(message: AIMessage) -> str:
    text = text_of(message.content).strip()
    calls = [format_call(c["name"], c["args"]) for c in message.tool_calls]
    return "\n".join(part for part in (text, *calls) if part)


def system_text(messages: Sequence[BaseMessage], binding: ToolBinding | None) -> str:
    """All system messages joined, with the tool section when tools are bound."""
    system = "\n\n".join(
        text_of(m.content).strip() for m in messages if isinstance(m, SystemMessage)
    )
    if binding is None or not binding.tools:
        return system
    return render_prompt(
        "tool_call_system.jinja", system=system, tools=binding.allowed(), choice=binding.choice
    ).strip()


def _turn(message: BaseMessage) -> tuple[str, str]:
    if isinstance(message, HumanMessage):
        return "user", text_of(message.content)
    if isinstance(message, AIMessage):
        return "assistant", _render_ai(message)
    if isinstance(message, ToolMessage):
        return "user", render_tool_result(message)
    if isinstance(message, ChatMessage):
        return message.role, text_of(message.content)
    raise ValueError(f"Cannot render a message of type {message.type!r} for the local model.")


def render_chat(
    messages: Sequence[BaseMessage], binding: ToolBinding | None = None
) -> list[dict[str, str]]:
    """The chat-template input for ``messages`` (and the bound tools, if any)."""
    chat: list[dict[str, str]] = []
    system = system_text(messages, binding)
    if system:
        chat.append({"role": "system", "content": system})
    for message in messages:
        if isinstance(message, SystemMessage):
            continue
        role, content = _turn(message)
        if chat and chat[-1]["role"] == role and role != "system":
            chat[-1]["content"] += "\n\n" + content
        else:
            chat.append({"role": role, "content": content})
    return chat
