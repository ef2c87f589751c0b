"""Putting a trained adapter into the workspace, where the bot finds it by default.

``rpa-agent train publish NAME`` copies ``DATA_DIR/models/adapters/NAME`` to
``<workspace>/adapter/`` with its LoRA weights in fp16 (half the bytes, the same merged model to
within fp16 rounding), its fingerprint and its training record. A workspace that ships an
adapter gets a trained model on a fresh clone, with nothing to run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

KEPT = ("adapter_config.json", "fingerprint.json", "training.json")
WEIGHTS = "adapter_model.safetensors"


def publish_adapter(source: Path, workspace: Path) -> Path:
    """Copy ``source`` into ``workspace/adapter`` (replacing what was there); returns that path."""
    from safetensors.torch import load_file, save_file

    missing = [name for name in (*KEPT, WEIGHTS) if not (source / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{source} is not a complete adapter: no {', '.join(missing)}")
    target = Path(workspace) / "adapter"
    staging = target.with_name("adapter.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in KEPT:
        shutil.copy2(source / name, staging / name)
    tensors = {k: v.half().contiguous() for k, v in load_file(str(source / WEIGHTS)).items()}
    save_file(tensors, str(staging / WEIGHTS), metadata={"format": "pt"})
    _trim_training_record(staging / "training.json")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _trim_training_record(path: Path) -> None:
    """Keep the figures, drop machine paths and the per-step losses (they are in the PNG)."""
    record = json.loads(path.read_text(encoding="utf-8"))
    record["adapter"] = "adapter"
    record.pop("train_losses", None)
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")


def size_mb(adapter: Path) -> float:
    return round(sum(p.stat().st_size for p in adapter.iterdir() if p.is_file()) / 2**20, 2)
