"""Stopping an agent turn whose reader has gone (Ctrl-C in the terminal, a closed stream).

The model runs inside LangGraph's worker threads, out of the service's reach. A LangChain
configure hook puts ``StopTurn`` on every callback manager created while a turn's
``cancel_scope`` is active (context variables travel into those threads), so the next token,
model call or tool call of a cancelled turn raises ``TurnCancelled``. The model's token
stream is closed on the way out, which frees its row in the serving scheduler
(``GenerationHandle``) at the next token instead of after the whole reply.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from memory.errors import RpaError


class TurnCancelled(RpaError):
    """The person stopped waiting for this turn; nothing more of it should run."""


class StopTurn(BaseCallbackHandler):
    """Raises ``TurnCancelled`` at the next LangChain event once ``cancelled`` is set."""

    raise_error = True  # LangChain re-raises a handler's error only when this is set

    def __init__(self, cancelled: threading.Event) -> None:
        self.cancelled = cancelled

    def _check(self, *args: Any, **kwargs: Any) -> None:
        if self.cancelled.is_set():
            raise TurnCancelled("the turn was cancelled")

    on_llm_new_token = _check
    on_chat_model_start = _check
    on_llm_start = _check
    on_tool_start = _check


_CURRENT: ContextVar[StopTurn | None] = ContextVar("rpa_stop_turn", default=None)
_registered = False
_register_lock = threading.Lock()


def _register() -> None:
    global _registered
    with _register_lock:
        if not _registered:
            register_configure_hook(_CURRENT, inheritable=True)
            _registered = True


@contextmanager
def cancel_scope(cancelled: threading.Event) -> Iterator[None]:
    """Within this block, LangChain work stops at its next event once ``cancelled`` is set."""
    _register()
    token = _CURRENT.set(StopTurn(cancelled))
    try:
        yield
    finally:
        _CURRENT.reset(token)
