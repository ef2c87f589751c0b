"""Tool calling for the local model: schemas into the prompt, a grammar over the output, parsing.

``bind_tools`` follows LangChain's semantics (BaseTool, pydantic model, dict or callable; a
``tool_choice`` of ``"auto"``, ``"any"``/``"required"``, ``"none"`` or a tool's name) and returns
a Runnable. At generation time the bound tools become an xgrammar grammar whose root is either

* ``<tool_call>{"name": NAME, "arguments": ARGS}</tool_call>`` with ARGS constrained by NAME's
  JSON schema (one alternative per allowed tool), or
* free text that does not begin with ``<`` (only when ``tool_choice`` is ``"auto"``),

so every call the model writes parses and validates; ``parse_reply`` turns the text into an
``AIMessage`` with ``tool_calls``. Grammar decoding runs with greedy or sampling; beam search
with tools falls back to greedy (xgrammar's matcher follows one sequence per batch row, and
beams reorder rows).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from bot.llm.rendering import CALL_CLOSE, CALL_OPEN, ToolBinding, ToolSpec

log = logging.getLogger(__name__)

ToolLike = dict[str, Any] | type | Callable[..., Any] | BaseTool

# JSON separators the grammar enforces; the same ones format_call writes into history.
SEPARATORS = (", ", ": ")

# A tool call copies values from the request (ids, amounts, dates, "<tool_call>" itself), and a
# repetition penalty counts the prompt's tokens too, so it pushes the model off exactly those.
# The grammar already rules out loops inside the call. Measured on the demo test split (33 cases,
# one per held-out template, adapter r2): penalty 1.1 -> 15% tool selection, 0% exact arguments;
# 1.0 -> 27% and 18%. A caller can still pass repetition_penalty to bind_tools.
TOOL_CALL_REPETITION_PENALTY = 1.0


def to_openai_tools(tools: Sequence[ToolLike]) -> list[dict[str, Any]]:
    """Any LangChain tool-like object -> the OpenAI ``{"type": "function", ...}`` form."""
    return [convert_to_openai_tool(tool) for tool in tools]


def normalize_choice(tool_choice: Any, names: Sequence[str]) -> str | None:
    """LangChain's tool_choice values -> ``"auto"``, ``"any"``, a tool name, or None (no tools)."""
    if tool_choice is None or tool_choice == "auto" or tool_choice is False:
        return "auto"
    if tool_choice == "none":
        return None
    if tool_choice in ("any", "required") or tool_choice is True:
        return "any"
    if isinstance(tool_choice, dict):
        tool_choice = tool_choice.get("function", {}).get("name") or tool_choice.get("name")
    if isinstance(tool_choice, str) and tool_choice in names:
        return tool_choice
    raise ValueError(f"tool_choice {tool_choice!r} names no bound tool; bound: {list(names)!r}.")


def binding_from(
    tools: Sequence[dict[str, Any]] | None, tool_choice: Any = None
) -> ToolBinding | None:
    """The binding for a call's ``tools``/``tool_choice`` kwargs (OpenAI form), or None."""
    if not tools:
        return None
    specs = tuple(_spec(t) for t in tools)
    choice = normalize_choice(tool_choice, [s.name for s in specs])
    return None if choice is None else ToolBinding(specs, choice)


def _spec(tool: dict[str, Any]) -> ToolSpec:
    fn = tool.get("function", tool)
    params = dict(fn.get("parameters") or {"type": "object", "properties": {}})
    params.setdefault("type", "object")
    return ToolSpec(
        name=fn["name"], description=(fn.get("description") or "").strip(), parameters=params
    )


def bind_tools(
    model: Any, tools: Sequence[ToolLike], *, tool_choice: Any = None, **kwargs: Any
) -> Runnable[LanguageModelInput, AIMessage]:
    """``model`` with ``tools`` bound: each call renders them into the prompt and constrains output."""
    formatted = to_openai_tools(tools)
    normalize_choice(tool_choice, [t["function"]["name"] for t in formatted])  # fail early
    kwargs.setdefault("repetition_penalty", TOOL_CALL_REPETITION_PENALTY)
    return model.bind(tools=formatted, tool_choice=tool_choice, **kwargs)


# ---- grammar ---------------------------------------------------------------------------------


def call_schema(spec: ToolSpec) -> dict[str, Any]:
    """The JSON schema of one whole call to ``spec``: its name is fixed, its arguments checked."""
    return {
        "type": "object",
        "properties": {"name": {"const": spec.name}, "arguments": spec.parameters},
        "required": ["name", "arguments"],
    }


def build_grammar(binding: ToolBinding) -> Any:
    """The xgrammar ``Grammar`` for ``binding`` (see the module docstring for its shape)."""
    import xgrammar as xgr

    allowed = binding.allowed()
    if not allowed:
        raise ValueError(f"tool_choice {binding.choice!r} leaves no tool to call.")
    calls = [
        xgr.Grammar.from_json_schema(call_schema(s), any_whitespace=False, separators=SEPARATORS)
        for s in allowed
    ]
    body = calls[0] if len(calls) == 1 else xgr.Grammar.union(*calls)
    tagged = xgr.Grammar.concat(
        xgr.Grammar.from_ebnf(f'root ::= "{CALL_OPEN}"'),
        body,
        xgr.Grammar.from_ebnf(f'root ::= "{CALL_CLOSE}"'),
    )
    if binding.choice != "auto":
        return tagged
    # Free text: anything that does not open with "<", so it can never start a malformed call.
    text = xgr.Grammar.from_ebnf(r"root ::= [^<] [^\0]*")
    return xgr.Grammar.union(tagged, text)


class GrammarCache:
    """Compiled grammars for one tokenizer, keyed by the binding (compiling takes ~20 ms)."""

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        import xgrammar as xgr

        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        self._compiler = xgr.GrammarCompiler(info)
        self._compiled: dict[str, Any] = {}
        self._lock = threading.Lock()

    def compiled(self, binding: ToolBinding) -> Any:
        key = json.dumps(
            [binding.choice, [(s.name, s.parameters) for s in binding.tools]], sort_keys=True
        )
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = self._compiler.compile_grammar(build_grammar(binding))
            return self._compiled[key]

    def processor(self, binding: ToolBinding) -> Any:
        """A fresh logits processor (xgrammar's HF processor is single-use)."""
        from xgrammar.contrib.hf import LogitsProcessor

        return LogitsProcessor(self.compiled(binding))


# ---- parsing ---------------------------------------------------------------------------------


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def _validate(spec: ToolSpec | None, name: str, args: Any) -> str | None:
    """Why ``args`` is not a valid call of ``name``, or None when it is."""
    import jsonschema

    if spec is None:
        return f"unknown tool {name!r}"
    if not isinstance(args, dict):
        return "arguments are not a JSON object"
    try:
        jsonschema.validate(args, spec.parameters)
    except jsonschema.ValidationError as exc:
        return f"arguments do not match the schema of {name!r}: {exc.message}"
    except jsonschema.SchemaError as exc:
        log.warning("tool %r has an invalid JSON schema: %s", name, exc.message)
    return None


def parse_reply(text: str, binding: ToolBinding | None) -> AIMessage:
    """The model's text as an AIMessage: a validated tool call, an invalid one, or plain text."""
    stripped = text.strip()
    if binding is None or not stripped.startswith(CALL_OPEN):
        return AIMessage(content=text)
    raw = stripped[len(CALL_OPEN) :]
    raw = raw[: raw.find(CALL_CLOSE)] if CALL_CLOSE in raw else raw
    call_id = new_call_id()
    try:
        payload = json.loads(raw)
        name, args = str(payload["name"]), payload.get("arguments", {})
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        error = f"tool call is not valid JSON with a name: {exc}"
        return AIMessage(
            content="",
            invalid_tool_calls=[
                {
                    "type": "invalid_tool_call",
                    "name": None,
                    "args": raw,
                    "id": call_id,
                    "error": error,
                }
            ],
        )
    specs = {s.name: s for s in binding.tools}
    problem = _validate(specs.get(name), name, args)
    if problem:
        bad = {
            "type": "invalid_tool_call",
            "name": name,
            "args": json.dumps(args),
            "id": call_id,
            "error": problem,
        }
        return AIMessage(content="", invalid_tool_calls=[bad])  # type: ignore[list-item]
    return AIMessage(
        content="", tool_calls=[{"type": "tool_call", "name": name, "args": args, "id": call_id}]
    )


def tool_names(messages: Sequence[BaseMessage]) -> list[str]:
    """Names of the tools called in ``messages`` (for logs and tests)."""
    return [c["name"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
