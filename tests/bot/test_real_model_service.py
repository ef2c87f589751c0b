"""One conversation through the whole service on the real embedded model (proves the wiring).

The small untuned model's wording is not asserted; what is: the question is searched for, what
is streamed is the final answer (never tool-call markup; an answer the model could not write
streams nothing and quotes the best passage), it cites the demo documents, and a second turn in
the same thread sees the first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import Settings
from bot.wiring import build_app
from tests.bot.conftest import collect, inbound, of_kind


@pytest.mark.real_model
async def test_a_process_question_on_the_real_model(
    settings: Settings, demo_chroma: Path, models_data_dir: Path
) -> None:
    shutil.copytree(demo_chroma, settings.chroma_dir)
    settings.models_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.models_dir.symlink_to(models_data_dir / "models", target_is_directory=True)
    (models_data_dir / "models").mkdir(exist_ok=True)
    app = build_app(settings.model_copy(update={"max_new_tokens": 48, "model_device": "cpu"}))
    try:
        events = await collect(
            app.service.handle(inbound("Who approves an expense claim above 500 EUR?"))
        )
        assert not of_kind(events, "error"), events
        final = of_kind(events, "final")[0]
        assert final.text.strip()
        assert any("xpense" in c.title for c in final.citations)
        streamed = "".join(e.text for e in of_kind(events, "text_delta"))
        assert "<tool_call>" not in streamed
        if streamed.strip():
            assert final.text == streamed.strip()  # streamed while the model wrote
        else:
            assert final.text.startswith("From the process documents")
        history = app.service.agent().history(inbound("").conversation_id)
        assert any("500 EUR" in str(m.content) for m in history)
    finally:
        app.service.close()
