"""``bench slack`` with the embedded model decoding in the same process throughout the burst:
every event is still acknowledged and handled, and the reply was decoding until the burst ended."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bench import slack as bench
from bot.config import Settings
from bot.llm.engine.model import LoadedModel


@pytest.mark.real_model
def test_a_burst_is_acknowledged_while_the_model_decodes(
    loaded_model: LoadedModel, tmp_path: Path
) -> None:
    figures = bench.run_slack_bench(
        Settings(slack_agent=False),
        events=12,
        concurrency=12,
        workdir=tmp_path,
        decoding=loaded_model,
    )
    assert figures["reached_service"] == 12
    assert figures["threads_with_an_update"] == 12
    assert figures["model_decoding"] is True
    assert figures["model_busy_throughout"] is True  # the reply was stopped, it did not end
    assert figures["model_decoded_tokens"] > 0
    assert figures["model_paused_ms"] >= 0  # how long it yielded to the acknowledgements
