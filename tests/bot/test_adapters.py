"""Which adapter the model uses, and whether it matches the workspace as it is now."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bot.adapters import FINGERPRINT_FILE, check_adapter, workspace_fingerprint
from bot.config import Settings


def _settings(workspace: Path, data_dir: Path, **extra: object) -> Settings:
    return Settings(_env_file=None, workspace=workspace, data_dir=data_dir, **extra)  # type: ignore[arg-type]


def _ship(workspace: Path, fingerprint: dict[str, str] | None) -> Path:
    adapter = workspace / "adapter"
    shutil.rmtree(adapter, ignore_errors=True)
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    if fingerprint is not None:
        (adapter / FINGERPRINT_FILE).write_text(json.dumps({"workspace": fingerprint}))
    return adapter


def test_a_shipped_adapter_is_the_default_and_base_turns_it_off(
    workspace: Path, data_dir: Path
) -> None:
    assert _settings(workspace, data_dir).adapter is None
    assert check_adapter(_settings(workspace, data_dir)).state == "none"
    adapter = _ship(workspace, None)
    assert _settings(workspace, data_dir).adapter == adapter
    assert _settings(workspace, data_dir, adapter="base").adapter is None
    assert check_adapter(_settings(workspace, data_dir)).state == "unrecorded"


def test_the_check_says_when_the_workspace_changed_and_what_to_run(
    workspace: Path, data_dir: Path
) -> None:
    _ship(workspace, workspace_fingerprint(_settings(workspace, data_dir)))
    assert check_adapter(_settings(workspace, data_dir)).state == "matches"
    form = sorted((workspace / "forms").glob("*.yaml"))[0]
    form.write_text(form.read_text().replace("label:", "label:", 1) + "\n# a new comment\n")
    found = check_adapter(_settings(workspace, data_dir))
    assert found.state == "changed" and "forms" in found.message
    assert "rpa-agent train" in found.fix and not found.ok


def test_a_directory_that_is_no_adapter_is_named(workspace: Path, data_dir: Path) -> None:
    found = check_adapter(_settings(workspace, data_dir, adapter=str(data_dir)))
    assert found.state == "missing" and str(data_dir) in found.message
