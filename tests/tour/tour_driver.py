"""Child process of the tour tests: the real ``rpa-agent`` command line with a stand-in model.

Usage: python -m tests.tour.tour_driver MODEL ARGS... (run in a pseudo-terminal, in a fresh
directory, so the default data dir ``.rpa-agent`` and the absence of ``.env`` are a new user's).
MODEL: ``cited`` answers a question by quoting the best passage the search found, citing it as
[1]; ``paced`` streams a long answer word by word, like a model decoding (for Ctrl-C). The
stand-in replaces only the language model (``bot.llm.make_chat_model``); everything else is
the product as a user runs it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections import Counter
from typing import Any

from langchain_core.messages import BaseMessage, ToolMessage

from tests.fakes.chat_model import ScriptedChatModel
from tests.fakes.paced_model import PacedChatModel

log = logging.getLogger("tour-driver")


def _stems(text: str) -> set[str]:
    return {word[:5] for word in re.findall(r"[a-z]{4,}", text.lower())}


def _sentences(body: str) -> list[str]:
    """A passage's sentences and list items, one line each."""
    return re.split(r"(?<=[.!?])\s+(?:-\s+)?|\s+-\s+", " ".join(body.split()))


def cited_answer(messages: list[BaseMessage]) -> str:
    """The sentence of the passages found (the bot's own search) that best fits the question.

    Words rare among the passages weigh most; a short sentence takes the next one along; the
    citation number is the one the person sees (passages of one section share one citation).
    """
    question = next((str(m.content) for m in messages if m.type == "human"), "")
    found = [m for m in messages if isinstance(m, ToolMessage)]
    text = str(found[-1].content) if found else ""
    passages = re.findall(r'\[\d+\] ([^\n]*)\n"""\n(.+?)\n"""', text, re.S)
    sources = list(dict.fromkeys(source for source, _ in passages))
    candidates = [
        (" ".join(parts[i : i + 2]) if len(part) < 40 else part, sources.index(source) + 1, part)
        for source, body in passages
        for parts in [_sentences(body)]
        for i, part in enumerate(parts)
    ]
    if not candidates:
        return "I found nothing on that in the process documents."
    counts = Counter(stem for *_, part in candidates for stem in _stems(part))
    wanted = _stems(question)
    best, n, _ = max(
        candidates, key=lambda c: sum(1 / counts[stem] for stem in _stems(c[2]) & wanted)
    )
    return f"{best} [{n}]"


def stand_in(kind: str) -> Any:
    if kind == "cited":
        return ScriptedChatModel().enqueue(*[cited_answer] * 5)
    if kind == "paced":
        return PacedChatModel(length=3000, step=0.02)
    raise SystemExit(f"unknown model {kind!r}")


def main(kind: str, *args: str) -> None:
    import bot.llm
    from bot.cli import main as cli

    model = stand_in(kind)
    bot.llm.make_chat_model = lambda settings: model  # type: ignore[assignment]
    sys.argv = ["rpa-agent", *args]
    try:
        cli()
    finally:
        if isinstance(model, PacedChatModel):
            print(f"paced model: {model.pieces} pieces, closed={model.closed.is_set()}")


if __name__ == "__main__":
    main(*sys.argv[1:])
