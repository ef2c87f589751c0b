"""``LocalChatModel``: a LangChain chat model over a transformers model running in this process.

It renders messages with the tokenizer's chat template (``bot/llm/rendering.py``), decodes with
the configured strategy (``bot/llm/decoding.py``; every option can be overridden per call:
``model.invoke(msgs, decoding="sample", temperature=0.3)``) through the model's shared
continuous-batching scheduler (``bot/llm/engine/scheduler.py``), so concurrent conversations decode in
one batch and reuse cached prompt prefixes, streams token pieces as they are generated, and supports ``bind_tools`` with grammar-constrained tool calls
(``bot/llm/tool_calls.py``).

Failures: a missing or unloadable model raises ``ModelNotAvailable`` (a configuration error
the surface reports). A failure *inside* generation never raises: it becomes an ``AIMessage``
whose text says what failed and quotes an error id, with ``response_metadata["error_id"]``
set and the traceback logged under that id, so an agent run ends with a readable answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, Field, PrivateAttr

from bot.config import Settings
from bot.llm import decoding
from bot.llm.engine.model import LoadedModel
from bot.llm.engine.options import DecodingOptions
from bot.llm.loading import load_model
from bot.llm.rendering import CALL_OPEN, ToolBinding, render_chat
from bot.llm.tool_calls import GrammarCache, binding_from, parse_reply
from bot.llm.tool_calls import bind_tools as _bind_tools
from memory.errors import new_error_id

log = logging.getLogger(__name__)

# Errors generate() raises for a bad request or a failing device (OOM is a RuntimeError).
GENERATION_ERRORS = (RuntimeError, ValueError, IndexError)


class LocalChatModel(BaseChatModel):
    """The local model as a LangChain chat model; build it with ``from_settings``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    options: DecodingOptions = Field(default_factory=DecodingOptions)
    # Either a loaded model (tests share one) or settings to load it from on first use.
    loaded: Any = Field(default=None, exclude=True)  # a LoadedModel
    settings: Settings | None = Field(default=None, exclude=True)
    _grammars: GrammarCache | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> LocalChatModel:
        """A model decoding as ``settings`` say (``overrides`` win); weights load on first use."""
        options = DecodingOptions.from_settings(settings).updated(**overrides)
        return cls(options=options, settings=settings)

    @property
    def _llm_type(self) -> str:
        return "rpa-agent-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": self.settings.model if self.settings else "preloaded",
            **self.options.__dict__,
        }

    # ---- runtime -------------------------------------------------------------------------

    def runtime(self) -> LoadedModel:
        """The loaded model (loaded now if needed; shared per process through the loader)."""
        if self.loaded is None:
            if self.settings is None:
                raise ValueError("LocalChatModel needs `loaded` or `settings`.")
            self.loaded = load_model(self.settings)
        return self.loaded

    def _grammar_cache(self, loaded: LoadedModel) -> GrammarCache:
        if self._grammars is None:
            vocab = getattr(loaded.model.config, "vocab_size", None) or len(loaded.tokenizer)
            self._grammars = GrammarCache(loaded.tokenizer, vocab)
        return self._grammars

    def _prepare(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[LoadedModel, decoding.Prompt, DecodingOptions, list[Any], ToolBinding | None]:
        loaded = self.runtime()
        binding = binding_from(kwargs.get("tools"), kwargs.get("tool_choice"))
        options = self.options.updated(stop=stop, **kwargs)
        processors: list[Any] = []
        if binding is not None:
            if options.decoding == "beam":
                options = options.updated(decoding="greedy")
            # A tool call's length is the grammar's business (values may repeat legitimately).
            options = options.updated(stop_on_loop=0)
            processors.append(self._grammar_cache(loaded).processor(binding))
        prompt = decoding.encode_chat(loaded, render_chat(messages, binding))
        return loaded, prompt, options, processors, binding

    # ---- LangChain interface ---------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        loaded, prompt, options, processors, binding = self._prepare(messages, stop, kwargs)
        try:
            text, n_new = decoding.generate_text(loaded, prompt, options, processors)
        except GENERATION_ERRORS as exc:
            return ChatResult(generations=[ChatGeneration(message=_failure_message(exc))])
        message = parse_reply(text, binding)
        message.response_metadata = {"model": loaded.label, "decoding": options.decoding}
        message.usage_metadata = {
            "input_tokens": prompt.length,
            "output_tokens": n_new,
            "total_tokens": prompt.length + n_new,
        }
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        loaded, prompt, options, processors, binding = self._prepare(messages, stop, kwargs)
        pieces = decoding.stream_text(loaded, prompt, options, processors)
        try:
            for chunk in stream_chunks(pieces, binding):
                if run_manager and isinstance(chunk.content, str) and chunk.content:
                    run_manager.on_llm_new_token(
                        chunk.content, chunk=ChatGenerationChunk(message=chunk)
                    )
                yield ChatGenerationChunk(message=chunk)
        except GENERATION_ERRORS as exc:
            failed = _failure_message(exc)
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="\n" + str(failed.content), response_metadata=failed.response_metadata
                )
            )

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (LangChain semantics); see ``bot/llm/tool_calls.py``."""
        return _bind_tools(self, tools, tool_choice=tool_choice, **kwargs)


def stream_chunks(pieces: Iterator[str], binding: ToolBinding | None) -> Iterator[AIMessageChunk]:
    """Text pieces as chunks; a reply that turns out to be a tool call is held and parsed whole.

    A call that does not parse (cut off by ``max_new_tokens``) streams as its raw text with the
    problem in ``response_metadata["invalid_tool_calls"]``: LangChain would re-parse partial
    JSON chunks into a misleading call.
    """
    held = ""
    for piece in pieces:
        start = (held + piece).lstrip()
        if binding is None or (start and not CALL_OPEN.startswith(start[: len(CALL_OPEN)])):
            yield AIMessageChunk(content=held + piece)  # plain text: stream from here on
            yield from (AIMessageChunk(content=p) for p in pieces)
            return
        held += piece
    message = parse_reply(held, binding)
    if message.invalid_tool_calls:
        yield AIMessageChunk(
            content=held, response_metadata={"invalid_tool_calls": message.invalid_tool_calls}
        )
        return
    calls = [
        tool_call_chunk(
            name=c["name"], args=json.dumps(c["args"], ensure_ascii=False), id=c["id"], index=i
        )
        for i, c in enumerate(message.tool_calls)
    ]
    yield AIMessageChunk(content=message.content, tool_call_chunks=calls)


def _failure_message(exc: BaseException) -> AIMessage:
    error_id = new_error_id()
    log.error("generation failed [%s]", error_id, exc_info=exc)
    text = f"The language model failed while writing a reply ({type(exc).__name__}: {exc}). Error id: {error_id}."
    return AIMessage(
        content=text, response_metadata={"error": type(exc).__name__, "error_id": error_id}
    )
