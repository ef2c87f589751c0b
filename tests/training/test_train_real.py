"""A --quick LoRA run on the real embedded model lowers validation loss and the bot loads it."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pytest

from bot.agent import Persona
from bot.config import DEFAULT_WORKSPACE, Settings
from bot.training.context import open_registry, workspace_context
from bot.training.data import DataOptions, generate_dataset, write_dataset
from bot.training.facts import WorkspaceFacts
from bot.training.train import TrainConfig, train_adapter


@pytest.mark.real_model
@pytest.mark.timeout(1200)
def test_quick_training_lowers_validation_loss_and_loads(settings: Settings) -> None:
    registry = open_registry(settings)
    context = workspace_context(registry, Persona.of(DEFAULT_WORKSPACE), date(2026, 3, 20))
    options = DataOptions(seed=1, per_template=1, test_per_template=1, max_intents=4)
    directory = write_dataset(
        generate_dataset(context, WorkspaceFacts.load(settings.workspace), options),
        settings.data_dir / "training" / "quick",
    )
    config = TrainConfig(
        epochs=1,
        batch_size=4,
        learning_rate=2e-3,
        max_train_examples=8,
        max_val_examples=4,
        prefix_refresh=1000,
    )
    said: list[str] = []
    result = train_adapter(settings, directory, "quick", config, say=said.append)
    assert result.val_losses[-1] < result.val_losses[0]
    assert said and said[-1].startswith("Expected: about")  # measured after the first step
    adapter = settings.models_dir / "adapters" / "quick"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "loss_curve.png").is_file()
    saved = json.loads((adapter / "training.json").read_text(encoding="utf-8"))
    assert saved["data_hash"] == result.data_hash and saved["config"]["lora_r"] == 16

    # The adapter records what it was trained on; published into a workspace copy, the bot
    # uses it by default and finds it matches; a changed form makes it say what to run.
    from bot.adapters import check_adapter
    from bot.training.publish import publish_adapter

    workspace = settings.workspace
    published = publish_adapter(adapter, workspace)
    here = Settings(_env_file=None, workspace=workspace, data_dir=settings.data_dir)  # type: ignore[call-arg]
    assert here.adapter == published and check_adapter(here).state == "matches"
    form = next((workspace / "forms").glob("*.yaml"))
    form.write_text(form.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    verdict = check_adapter(here)
    assert verdict.state == "changed" and "forms" in verdict.message and verdict.fix

    from bot.llm.loading import clear_cache, load_model

    loaded = load_model(settings.model_copy(update={"adapter": adapter}))
    assert not hasattr(loaded.model, "peft_config")  # merged into plain weights
    clear_cache()

    # Continuing the adapter starts where it ended; Ctrl-C during a step stops training there,
    # validates, and still leaves the run's record.
    def interrupt(phase: str, done: int, total: int, loss: float | None) -> None:
        if phase.startswith("epoch") and done == 1:
            raise KeyboardInterrupt

    config = dataclasses.replace(config, start_from=str(adapter))
    stopped = train_adapter(settings, directory, "stopped", config, interrupt)
    assert stopped.val_losses[0] == pytest.approx(min(result.val_losses), rel=0.05)
    record = json.loads(
        (settings.models_dir / "adapters" / "stopped" / "training.json").read_text(encoding="utf-8")
    )
    assert record["extra"]["interrupted"] is True and record["stopped_early"] is True
    assert len(stopped.val_losses) == 2 and len(stopped.train_losses) == 1
    assert (settings.models_dir / "adapters" / "stopped" / "adapter_config.json").is_file()
