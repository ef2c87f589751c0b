"""How to choose tokens and when to stop: the options every decoding path shares.

``DecodingOptions`` is what a caller asks for (greedy, sampling, beam search, limits, stop
strings, prompt-lookup drafts); ``StopFilter`` holds back streamed text that might begin a stop
string. The scheduler, the samplers and the LangChain-facing decoding functions all read these,
so they live below all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from bot.config import Settings

Strategy = Literal["greedy", "sample", "beam"]

# Options a caller may override per call (``model.invoke(msgs, temperature=0.2)``).
OVERRIDABLE = (
    "decoding",
    "max_new_tokens",
    "temperature",
    "top_p",
    "top_k",
    "num_beams",
    "repetition_penalty",
    "seed",
    "stop_on_loop",
    "draft_tokens",
)


@dataclass(frozen=True)
class DecodingOptions:
    """How to choose the next token and when to stop."""

    decoding: Strategy = "greedy"
    max_new_tokens: int = 256
    temperature: float = 0.7  # sample only
    top_p: float = 0.95  # sample only
    top_k: int = 50  # sample only; 0 disables
    num_beams: int = 4  # beam only
    repetition_penalty: float = 1.1
    stop: tuple[str, ...] = field(default_factory=tuple)  # cut the reply before any of these
    seed: int | None = None  # sample only: reproducible draws
    # A prose reply ends once its last N tokens already appeared, in order, earlier in it: a
    # small model that starts repeating itself repeats until the token limit (0: never stop).
    stop_on_loop: int = 24
    # Greedy only, while the reply decodes alone: tokens per step drafted by prompt lookup and
    # checked in one forward pass (bot/llm/engine/scheduler.py); the reply is unchanged. 0: off.
    draft_tokens: int = 4

    @classmethod
    def from_settings(cls, settings: Settings) -> DecodingOptions:
        return cls(
            decoding=settings.decoding,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            top_p=settings.top_p,
            top_k=settings.top_k,
            num_beams=settings.num_beams,
            repetition_penalty=settings.repetition_penalty,
            draft_tokens=settings.draft_tokens,
        )

    def updated(self, stop: list[str] | None = None, **overrides: Any) -> DecodingOptions:
        """A copy with per-call overrides; unknown keys are ignored by the caller, not here."""
        values = {k: v for k, v in overrides.items() if k in OVERRIDABLE and v is not None}
        if stop:
            values["stop"] = tuple(dict.fromkeys((*self.stop, *stop)))
        return replace(self, **values)


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """The text before the first stop string (LangChain's convention: the stop is not kept)."""
    cut = len(text)
    for s in stop:
        at = text.find(s)
        if at != -1:
            cut = min(cut, at)
    return text[:cut]


class StopFilter:
    """Holds back streamed text that might be the start of a stop string, cuts at a stop."""

    def __init__(self, stop: tuple[str, ...]) -> None:
        self.stop = stop
        self.pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """The part of ``pending + piece`` that is safe to show now."""
        if self.stopped:
            return ""
        self.pending += piece
        if not self.stop:
            out, self.pending = self.pending, ""
            return out
        cut = cut_at_stop(self.pending, self.stop)
        if len(cut) < len(self.pending):
            self.stopped = True
            self.pending = ""
            return cut
        hold = max(
            (k for s in self.stop for k in range(1, len(s)) if cut.endswith(s[:k])), default=0
        )
        out, self.pending = cut[: len(cut) - hold], cut[len(cut) - hold :]
        return out

    def flush(self) -> str:
        out, self.pending = ("" if self.stopped else self.pending), ""
        return out
