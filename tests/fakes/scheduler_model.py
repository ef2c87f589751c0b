"""A chat model that decodes on the real serving engine: a tiny random model's scheduler.

``EngineChatModel`` submits a fixed prompt to ``scheduler_for(loaded)`` (the scheduler every
conversation of a process shares) and streams the pieces it decodes, as ``LocalChatModel``
does, without a chat template or a tool grammar (the tiny model has neither). A ``gate``
logits processor holds decoding after ``hold_after`` tokens until the test opens it, so a
test can act while the request is mid-reply; ``handles`` keeps every request's handle, whose
``finished`` says how it ended ("cancelled" for a stopped one).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from bot.llm.engine.options import DecodingOptions
from bot.llm.engine.scheduler import GenerationHandle, scheduler_for

PROMPT = [3, 4, 5, 6]  # tiny_loaded(2) replies to it up to the token limit


class EngineChatModel(BaseChatModel):
    """Streams the engine's reply to ``PROMPT``; decoding waits at ``hold_after`` tokens."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    loaded: Any = Field(exclude=True)  # a LoadedModel
    max_new_tokens: int = 200
    hold_after: int = 6
    _gate: threading.Event = PrivateAttr(default_factory=threading.Event)
    _held: threading.Event = PrivateAttr(default_factory=threading.Event)
    _handles: list[GenerationHandle] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "engine-test-model"

    @property
    def gate(self) -> threading.Event:
        """Set it to let decoding go on."""
        return self._gate

    @property
    def held(self) -> threading.Event:
        """Set once decoding waits at the gate."""
        return self._held

    @property
    def handles(self) -> list[GenerationHandle]:
        return self._handles

    def _hold(self, input_ids: Any, scores: Any) -> Any:
        if input_ids.shape[-1] >= len(PROMPT) + self.hold_after and not self._gate.is_set():
            self._held.set()
            self._gate.wait(30)
        return scores

    def _submit(self) -> GenerationHandle:
        options = DecodingOptions(
            max_new_tokens=self.max_new_tokens, draft_tokens=0, stop_on_loop=0
        )
        handle = scheduler_for(self.loaded).submit(PROMPT, options, [self._hold])
        self._handles.append(handle)
        return handle

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        pieces = iter(self._submit())
        for piece in pieces:
            if run_manager:
                run_manager.on_llm_new_token(piece)
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self._submit().result().text
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self  # it never calls a tool
