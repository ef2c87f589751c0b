"""Training records -> token ids, rendered exactly as ``LocalChatModel`` renders at inference.

Each record's conversation goes through ``bot.llm.rendering.render_chat`` with the bound
tools and then the tokenizer's chat template with ``add_generation_prompt=True`` (what
``decoding.encode_chat`` does); the target is what the same template writes for the gold
assistant turn, up to and including the end-of-turn token. The loss is taken on the target
only. Every record shares the system prompt, so ``shared_prefix`` finds the tokens common to
all prompts: the trainer encodes them once per refresh instead of once per example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.llm.rendering import render_chat
from bot.training.context import ModelContext
from bot.training.data import example_messages, gold_message


@dataclass(frozen=True)
class Encoded:
    """One example as ids: the prompt the model reads and the reply it must write."""

    prompt: tuple[int, ...]
    target: tuple[int, ...]


def _ids(encoded: Any) -> list[int]:
    ids = encoded["input_ids"] if isinstance(encoded, dict) or hasattr(encoded, "keys") else encoded
    return [int(i) for i in ids]


def encode_record(tokenizer: Any, record: dict[str, Any], context: ModelContext) -> Encoded:
    """The ids of one record's prompt and gold reply (raises if the template disagrees)."""
    binding = context.binding()
    messages = example_messages(record, context.system_prompt)
    prompt_chat = render_chat(messages, binding)
    full_chat = render_chat([*messages, gold_message(record)], binding)
    prompt_text = tokenizer.apply_chat_template(
        prompt_chat, add_generation_prompt=True, tokenize=False
    )
    full_text = tokenizer.apply_chat_template(full_chat, tokenize=False)
    if not full_text.startswith(prompt_text):
        raise ValueError(
            f"record {record['id']!r}: the chat template renders the reply apart from its prompt"
        )
    reply = full_text[len(prompt_text) :]
    end = tokenizer.eos_token or ""
    if end and end in reply:
        reply = reply[: reply.index(end) + len(end)]
    prompt = _ids(
        tokenizer.apply_chat_template(
            prompt_chat, add_generation_prompt=True, tokenize=True, return_dict=True
        )
    )
    target = _ids(tokenizer(reply, add_special_tokens=False))
    return Encoded(tuple(prompt), tuple(target))


def encode_records(
    tokenizer: Any, records: Sequence[dict[str, Any]], context: ModelContext
) -> list[Encoded]:
    return [encode_record(tokenizer, r, context) for r in records]


def shared_prefix(examples: Sequence[Encoded]) -> int:
    """How many leading prompt tokens every example has in common (at least one is kept apart)."""
    if not examples:
        return 0
    first = examples[0].prompt
    n = min(len(e.prompt) for e in examples) - 1
    for e in examples[1:]:
        i = 0
        while i < n and e.prompt[i] == first[i]:
            i += 1
        n = i
    return max(0, n)
