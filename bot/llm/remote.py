"""The remote backend: any OpenAI-compatible ``/v1/chat/completions`` server (vLLM, TGI, Ollama).

When one machine no longer suffices, the model moves to a GPU server by configuration
(``RPA_LLM_BACKEND=remote``, ``RPA_REMOTE_BASE_URL``, ``RPA_REMOTE_MODEL``, ``RPA_REMOTE_API_KEY``)
and the rest of the bot does not change: LangChain's ``ChatOpenAI`` speaks the protocol,
including tool calls and streaming. Only standard request fields are sent, so strict servers
accept them; beam search has no standard field and becomes greedy (temperature 0).
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.language_models import BaseChatModel

from bot.config import Settings
from memory.errors import ConfigError

log = logging.getLogger(__name__)


def remote_chat_model(settings: Settings, **overrides: Any) -> BaseChatModel:
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
