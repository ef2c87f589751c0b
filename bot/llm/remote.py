"""The remote backend: any OpenAI-compatible ``/v1/chat/completions`` server (vLLM, TGI, Ollama).

When one machine no longer suffices, the model moves to a GPU server by configuration
(``RPA_LLM_BACKEND=remote``, ``RPA_REMOTE_BASE_URL``, ``RPA_REMOTE_MODEL``, ``RPA_REMOTE_API_KEY``)
and the rest of the bot does not change. Two ways to call tools, by ``RPA_REMOTE_TOOLS``:

- ``project`` (default): the bot renders the tools and the conversation exactly as the local
  model sees them (``bot.llm.rendering``: the ``<tool_call>`` format the LoRA adapter was
  trained on) and parses the reply itself, so an adapter served next to the base model keeps
  working. With ``RPA_REMOTE_GRAMMAR=vllm`` the tool grammar (xgrammar EBNF, the same one the
  local model decodes under) goes in vLLM's ``structured_outputs.grammar`` field, so every call
  parses and validates; ``none`` sends no constraint and reports a malformed call as invalid.
- ``native``: tools go to the server's own tool-call parser (``ChatOpenAI.bind_tools``), for
  large models trained on their own format.

Beam search has no standard field and becomes greedy (temperature 0).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict

from bot.config import Settings
from bot.llm.rendering import ToolBinding, render_chat
from bot.llm.tool_calls import bind_tools as _bind_tools
from bot.llm.tool_calls import binding_from, build_grammar, parse_reply
from memory.errors import ConfigError

log = logging.getLogger(__name__)


def remote_chat_model(settings: Settings, **overrides: Any) -> BaseChatModel:
    """The configured endpoint as a chat model; ``overrides`` go to ``ChatOpenAI``."""
    openai = _openai_model(settings, **overrides)
    if settings.remote_tools == "native":
        return openai
    return ProjectFormatChatModel(inner=openai, grammar=settings.remote_grammar)


def _openai_model(settings: Settings, **overrides: Any) -> BaseChatModel:
    """A ``ChatOpenAI`` for the configured endpoint; ``overrides`` go to its constructor."""
    from langchain_openai import ChatOpenAI

    if not settings.remote_base_url:
        raise ConfigError(
            "RPA_LLM_BACKEND=remote needs RPA_REMOTE_BASE_URL (e.g. http://gpu-box:8000/v1)."
        )
    key = settings.remote_api_key.get_secret_value() if settings.remote_api_key else "not-needed"
    params: dict[str, Any] = {
        "base_url": settings.remote_base_url,
        "model": settings.remote_model,
        "api_key": key,
        "max_tokens": settings.max_new_tokens,
        "stream_usage": True,
        "max_retries": 2,
    }
    if settings.decoding == "sample":
        params.update(temperature=settings.temperature, top_p=settings.top_p)
    else:
        if settings.decoding == "beam":
            log.info("beam search is not part of the OpenAI API; the remote model decodes greedily")
        params["temperature"] = 0.0
    params.update(overrides)
    return ChatOpenAI(**params)


class ProjectFormatChatModel(BaseChatModel):
    """A server-side model prompted in the project's own tool format, its reply parsed here."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: Any  # the ChatOpenAI that carries the requests
    grammar: Literal["vllm", "none"] = "vllm"

    @property
    def _llm_type(self) -> str:
        return "rpa-agent-remote-project-format"

    def _request(
        self, messages: list[BaseMessage], kwargs: dict[str, Any]
    ) -> tuple[list[BaseMessage], dict[str, Any], ToolBinding | None]:
        binding = binding_from(kwargs.get("tools"), kwargs.get("tool_choice"))
        chat = [_as_message(turn) for turn in render_chat(messages, binding)]
        extra: dict[str, Any] = {}
        if binding is not None and self.grammar == "vllm":
            extra["extra_body"] = {"structured_outputs": {"grammar": str(build_grammar(binding))}}
        return chat, extra, binding

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chat, extra, binding = self._request(messages, kwargs)
        reply = self.inner.invoke(chat, stop=stop, **extra)
        message = parse_reply(str(reply.content), binding)
        message.response_metadata = dict(reply.response_metadata or {})
        message.usage_metadata = reply.usage_metadata
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        from bot.llm.chat_model import stream_chunks

        chat, extra, binding = self._request(messages, kwargs)
        pieces = (str(c.content) for c in self.inner.stream(chat, stop=stop, **extra) if c.content)
        for chunk in stream_chunks(pieces, binding):
            yield ChatGenerationChunk(message=chunk)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return _bind_tools(self, tools, tool_choice=tool_choice, **kwargs)


def _as_message(turn: dict[str, str]) -> BaseMessage:
    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return kinds[turn["role"]](content=turn["content"])
