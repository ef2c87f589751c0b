"""The language-model runtime: the local transformers model or a remote OpenAI-compatible one.

``make_chat_model(settings)`` is the one entry point the rest of the bot uses. Importing this
package is cheap: torch and transformers load inside the functions that need them.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from bot.config import Settings


def make_chat_model(settings: Settings, **overrides: Any) -> BaseChatModel:
    """The configured chat model; the local one loads its weights on first use.

    ``overrides`` change decoding options (local: ``decoding``, ``max_new_tokens``,
    ``temperature``, ...; remote: ``ChatOpenAI`` constructor arguments).
    """
    if settings.llm_backend == "remote":
        from bot.llm.remote import remote_chat_model

        return remote_chat_model(settings, **overrides)
    from bot.llm.chat_model import LocalChatModel

    return LocalChatModel.from_settings(settings, **overrides)


__all__ = ["make_chat_model"]
