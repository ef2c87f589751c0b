"""Decoding a reply: strategy options, stop strings, streaming.

``DecodingOptions`` says how to pick tokens (greedy, sampling, beam search) and when to stop;
``generate_text`` returns the whole reply and ``stream_text`` yields it piece by piece as the
model writes. Greedy and sampled replies go through the model's continuous-batching scheduler
(``bot/llm/engine/scheduler.py``: concurrent conversations share decode steps and cached prompt
prefixes); beam search, which reorders rows, runs one ``model.generate`` call under the model's
lock. Whole and streamed replies come from the same path, so under greedy decoding both give the
same text. Both take optional logits processors (the tool-call grammar).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.llm.engine.model import LoadedModel
from bot.llm.engine.options import DecodingOptions, StopFilter, cut_at_stop


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
        if options.stop_on_loop:
            # Beam search runs in generate(), not the scheduler that stops a looping reply:
            # forbid repeating a long n-gram instead, so no mode can loop to the token limit.
            kwargs["no_repeat_ngram_size"] = max(4, options.stop_on_loop // 2)
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
    from bot.llm.engine.scheduler import scheduler_for

    ids = prompt.input_ids[0].tolist()
    return scheduler_for(loaded).submit(ids, options, processors or [])


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
