"""A scripted tool-calling chat model for tests: replies come from a queue, calls are recorded.

``ScriptedChatModel`` stands in for the local model anywhere a ``BaseChatModel`` goes,
``langchain.agents.create_agent`` included (simonw/llm's ``MockModel``, smolagents' scripted
fakes). Each reply is an ``AIMessage``, a ``str``, or a callable that receives the messages
of the call and returns either, so a reply can depend on the conversation so far::

    model = ScriptedChatModel()
    model.enqueue(tool_call("search_process_docs", query="taxi"), "Here is the policy.")

An empty queue fails the test with an ``AssertionError`` that shows the last messages.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

Reply = AIMessage | str | Callable[[list[BaseMessage]], AIMessage | str]


def tool_call(name: str, /, **args: Any) -> AIMessage:
    """A reply that calls tool ``name`` with ``args``."""
    call_id = f"call_{uuid.uuid4().hex[:8]}"
    return AIMessage(
        content="", tool_calls=[{"type": "tool_call", "name": name, "args": args, "id": call_id}]
    )


class ScriptedChatModel(BaseChatModel):
    """Replies from a queue; records every call's messages and every bound tool name."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    replies: deque[Any] = Field(default_factory=deque)
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    bound_tools: list[str] = Field(default_factory=list)
    # The tool names each call was made with (empty: the call had no tools bound).
    tools_per_call: list[list[str]] = Field(default_factory=list)
    chunk_size: int = 4  # characters per streamed chunk

    @property
    def _llm_type(self) -> str:
        return "scripted-test-model"

    def enqueue(self, *replies: Reply) -> ScriptedChatModel:
        """Add replies to the end of the queue; returns self for chaining."""
        self.replies.extend(replies)
        return self

    @property
    def remaining(self) -> int:
        return len(self.replies)

    def _next(self, messages: list[BaseMessage], kwargs: dict[str, Any] | None = None) -> AIMessage:
        self.calls.append(list(messages))
        tools = (kwargs or {}).get("tools") or []
        self.tools_per_call.append([t["function"]["name"] for t in tools if "function" in t])
        if not self.replies:
            tail = "\n".join(f"  {m.type}: {str(m.content)[:120]!r}" for m in messages[-3:])
            raise AssertionError(
                f"ScriptedChatModel has no reply queued for call {len(self.calls)}; last messages:\n{tail}"
            )
        reply = self.replies.popleft()
        if callable(reply) and not isinstance(reply, AIMessage):
            reply = reply(list(messages))
        if isinstance(reply, str):
            return AIMessage(content=reply)
        if isinstance(reply, AIMessage):
            return reply.model_copy(deep=True)
        raise TypeError(
            f"A scripted reply must be an AIMessage or str, got {type(reply).__name__!r}."
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages, kwargs)
        text = message.content if isinstance(message.content, str) else ""
        for start in range(0, len(text), self.chunk_size):
            piece = text[start : start + self.chunk_size]
            if run_manager:
                run_manager.on_llm_new_token(piece)
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        if message.tool_calls:
            import json

            chunks = [
                tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i)
                for i, c in enumerate(message.tool_calls)
            ]
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=chunks))

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Record the bound tool names; the scripted replies decide what gets called."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        self.bound_tools = [t["function"]["name"] for t in formatted]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)
