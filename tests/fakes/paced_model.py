"""A chat model whose reply streams only as far as the test lets it: for stopping answers midway.

``PacedChatModel`` streams a long reply through the real ``LocalChatModel`` code path shape: a
token source (a generator, like the scheduler's ``GenerationHandle``) read by ``_stream``, which
reports each piece to LangChain's callbacks. The first piece comes at once; each later one waits
until ``release`` is set, or ``step`` seconds (a decode step's time, for a child process). ``closed`` is set when the source is closed (the reader left it), and
``pieces`` counts what it produced, so a test can see that a stopped answer really stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, PrivateAttr


class PacedChatModel(BaseChatModel):
    """Replies "word0 word1 ..." (``length`` words); all but the first wait for ``release``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    length: int = 500
    step: float = 30.0  # longest wait per piece until ``release``: a decode step's time, at most
    _release: threading.Event = PrivateAttr(default_factory=threading.Event)
    _closed: threading.Event = PrivateAttr(default_factory=threading.Event)
    _pieces: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "paced-test-model"

    @property
    def release(self) -> threading.Event:
        return self._release

    @property
    def closed(self) -> threading.Event:
        return self._closed

    @property
    def pieces(self) -> int:
        return self._pieces

    def source(self) -> Iterator[str]:
        """The token source; its ``finally`` is where a scheduler frees the request's row."""
        try:
            for n in range(self.length):
                if n >= 1:
                    self._release.wait(timeout=self.step)
                self._pieces += 1
                yield f"word{n} "
        finally:
            self._closed.set()

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        pieces = self.source()  # held in a local, as LocalChatModel holds the scheduler's stream
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
        text = "".join(self.source())
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self  # it never calls a tool
