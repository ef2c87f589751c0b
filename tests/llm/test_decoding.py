"""Decoding options and stop-string handling, without model weights."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.llm.engine.options import DecodingOptions, StopFilter, cut_at_stop


def test_options_come_from_settings_and_calls_override_them(settings: Settings) -> None:
    options = DecodingOptions.from_settings(
        settings.model_copy(update={"decoding": "beam", "num_beams": 3})
    )
    assert (options.decoding, options.num_beams, options.max_new_tokens) == (
        "beam",
        3,
        settings.max_new_tokens,
    )
    changed = options.updated(stop=["END"], decoding="sample", temperature=0.2, unrelated="ignored")
    assert (changed.decoding, changed.temperature, changed.stop) == ("sample", 0.2, ("END",))
    assert options.decoding == "beam"  # the original is untouched


def test_cut_at_stop_takes_the_earliest_stop() -> None:
    assert cut_at_stop("a b STOP c END", ("END", "STOP")) == "a b "
    assert cut_at_stop("nothing", ("X",)) == "nothing"


@pytest.mark.parametrize("split", [1, 2, 3, 5])
def test_streamed_text_is_cut_exactly_like_whole_text(split: int) -> None:
    text, stop = "Answer: 42\nObservation: more", ("\nObservation:",)
    pieces = [text[i : i + split] for i in range(0, len(text), split)]
    stops = StopFilter(stop)
    streamed = "".join(stops.feed(p) for p in pieces) + stops.flush()
    assert streamed == cut_at_stop(text, stop) == "Answer: 42"


def test_held_prefix_is_released_when_it_is_not_a_stop() -> None:
    stops = StopFilter(("END",))
    assert stops.feed("the E") == "the "
    assert stops.feed("ND") == ""
    stops = StopFilter(("END",))
    assert stops.feed("the E") + stops.feed("ast") + stops.flush() == "the East"


def test_every_decoding_mode_has_a_repetition_guard() -> None:
    from types import SimpleNamespace

    from bot.llm.decoding import generation_config

    base = SimpleNamespace(eos_token_id=2, pad_token_id=0, bos_token_id=1)
    loaded = SimpleNamespace(model=SimpleNamespace(generation_config=base), tokenizer=None)
    beam = generation_config(DecodingOptions(decoding="beam", stop_on_loop=24), loaded)  # type: ignore[arg-type]
    assert beam.no_repeat_ngram_size == 12
    # Greedy and sampled replies stop on a loop in the scheduler (stop_on_loop) instead.
    assert (
        DecodingOptions().stop_on_loop > 0 and DecodingOptions(decoding="sample").stop_on_loop > 0
    )
