"""Decoding a reply: strategy options, stop strings, streaming.

``DecodingOptions`` says how to pick tokens (greedy, sampling, beam search) and when to stop;
``generate_text`` returns the whole reply and ``stream_text`` yields it piece by piece as the
model writes. Greedy and sampled replies go through the model's continuous-batching scheduler
(``bot/llm/scheduler.py``: concurrent conversations share decode steps and cached prompt
prefixes); beam search, which reorders rows, runs one ``model.generate`` call under the model's
lock. Whole and streamed replies come from the same path, so under greedy decoding both give the
same text. Both take optional logits processors (the tool-call grammar).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from bot.config import Settings
from bot.llm.loading import LoadedModel

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
    # checked in one forward pass (bot/llm/scheduler.py); the reply is unchanged. 0: off.
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


def generation_config(options: DecodingOptions, loaded: LoadedModel) -> Any:
    """A complete ``GenerationConfig``, so the checkpoint's own defaults never leak in."""
    from transformers import GenerationConfig

    base = loaded.model.generation_config
    eos = base.eos_token_id if base.eos_token_id is not None else loaded.tokenizer.eos_token_id
    pad = base.pad_token_id if base.pad_token_id is not None else eos
    kwargs: dict[str, Any] = {
        "max_new_tokens": options.max_new_tokens,
        "repetition_penalty": options.repetition_penalty,
        "eos_token_id": eos,
        "pad_token_id": pad,
        "bos_token_id": base.bos_token_id,
    }
    if options.decoding == "sample":
        kwargs.update(
            do_sample=True,
            temperature=options.temperature,
            top_p=options.top_p,
            top_k=options.top_k,
        )
    elif options.decoding == "beam":
        kwargs.update(do_sample=False, num_beams=options.num_beams, early_stopping=True)
    else:
        kwargs.update(do_sample=False, num_beams=1)
    if options.stop:
        kwargs["stop_strings"] = list(options.stop)
    return GenerationConfig(**kwargs)


@dataclass
class Prompt:
    """A tokenized prompt ready for ``generate``."""

    input_ids: Any  # torch.LongTensor [1, n]
    attention_mask: Any

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[1])


def encode_chat(loaded: LoadedModel, chat: list[dict[str, str]]) -> Prompt:
    """Apply the tokenizer's chat template and move the ids to the model's device."""
    encoded = loaded.tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    return Prompt(
        encoded["input_ids"].to(loaded.device), encoded["attention_mask"].to(loaded.device)
    )


def _generate_kwargs(
    loaded: LoadedModel, prompt: Prompt, options: DecodingOptions, processors: list[Any]
) -> dict[str, Any]:
    import torch
    from transformers import LogitsProcessorList

    if options.seed is not None:
        torch.manual_seed(options.seed)
    kwargs: dict[str, Any] = {
        "input_ids": prompt.input_ids,
        "attention_mask": prompt.attention_mask,
        "generation_config": generation_config(options, loaded),
        "logits_processor": LogitsProcessorList(processors),
    }
    if options.stop:
        kwargs["tokenizer"] = loaded.tokenizer  # generate needs it to match stop strings
    return kwargs


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """The text before the first stop string (LangChain's convention: the stop is not kept)."""
    cut = len(text)
    for s in stop:
        at = text.find(s)
        if at != -1:
            cut = min(cut, at)
    return text[:cut]


def generate_text(
    loaded: LoadedModel,
    prompt: Prompt,
    options: DecodingOptions,
    processors: list[Any] | None = None,
) -> tuple[str, int]:
    """The whole reply and how many tokens it took."""
    if options.decoding != "beam":
        finished = _submit(loaded, prompt, options, processors).result()
        return finished.text, finished.tokens
    import torch

    kwargs = _generate_kwargs(loaded, prompt, options, processors or [])
    with loaded.lock, torch.inference_mode():
        output = loaded.model.generate(**kwargs)
    new_tokens = output[0, prompt.length :]
    text = loaded.tokenizer.decode(new_tokens, skip_special_tokens=True)
    return cut_at_stop(text, options.stop), int(new_tokens.shape[0])


def _submit(
    loaded: LoadedModel, prompt: Prompt, options: DecodingOptions, processors: list[Any] | None
) -> Any:
    """Hand a greedy or sampled request to the model's scheduler (a ``GenerationHandle``)."""
    from bot.llm.scheduler import scheduler_for

    ids = prompt.input_ids[0].tolist()
    return scheduler_for(loaded).submit(ids, options, processors or [])


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


def stream_text(
    loaded: LoadedModel,
    prompt: Prompt,
    options: DecodingOptions,
    processors: list[Any] | None = None,
) -> Iterator[str]:
    """Yield the reply as the model writes it; a failure in generation is re-raised here."""
    if options.decoding != "beam":
        yield from _submit(loaded, prompt, options, processors)
        return
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
    kwargs = _generate_kwargs(loaded, prompt, options, processors or [])
    failure: list[BaseException] = []
    worker = threading.Thread(
        target=_run_generate, args=(loaded, kwargs, streamer, failure), daemon=True
    )
    worker.start()
    stops = StopFilter(options.stop)
    for piece in streamer:
        shown = stops.feed(piece)
        if shown:
            yield shown
    worker.join()
    if failure:
        raise failure[0]
    tail = stops.flush()
    if tail:
        yield tail


def _run_generate(
    loaded: LoadedModel, kwargs: dict[str, Any], streamer: Any, failure: list[BaseException]
) -> None:
    import torch

    try:
        with loaded.lock, torch.inference_mode():
            loaded.model.generate(**kwargs, streamer=streamer)
    except Exception as exc:  # handed to the consuming thread, which re-raises it
        failure.append(exc)
        streamer.end()  # unblock the consumer; it sees the failure after the loop
