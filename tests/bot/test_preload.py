"""``rpa-agent run`` loads the model before serving; a model that cannot load is reported and the
bot serves anyway."""

from __future__ import annotations

import pytest

from bot.cli.ops import _preload
from bot.config import Settings
from bot.wiring import build_app
from memory.errors import ModelNotAvailable
from tests.fakes.chat_model import ScriptedChatModel


class LoadingModel(ScriptedChatModel):
    """A chat model whose weights load on ``runtime()``, like the local one."""

    loads: int = 0
    fails: bool = False

    def runtime(self) -> object:
        if self.fails:
            raise ModelNotAvailable("no weights at /nowhere/model.gguf")
        self.loads += 1
        return object()


def test_the_model_is_loaded_before_the_first_message(app_settings: Settings) -> None:
    model = LoadingModel()
    app = build_app(app_settings, chat_model=model)
    try:
        _preload(app)
        assert model.loads == 1
        assert app.service.agent().model is model  # built once, kept for the first message
    finally:
        app.service.close()


def test_a_model_that_cannot_load_is_reported_and_serving_goes_on(
    app_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    model = LoadingModel(fails=True)
    app = build_app(app_settings, chat_model=model)
    try:
        _preload(app)  # does not raise
    finally:
        app.service.close()
    out = capsys.readouterr().out
    assert "The model is not available" in out and "/nowhere/model.gguf" in out


def test_no_model_configured_is_reported(
    app_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = build_app(app_settings, with_model=False)
    try:
        _preload(app)  # the /commands still work
    finally:
        app.service.close()
    assert "no language model is configured" in capsys.readouterr().out
