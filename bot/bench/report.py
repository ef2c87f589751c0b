"""Percentiles and the JSON + Markdown files every benchmark writes."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1..99), interpolated between the two nearest values; 0.0 for none."""
    if len(values) < 2:
        return float(values[0]) if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def machine() -> dict[str, Any]:
    import os

    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def write_results(out: Path, name: str, figures: dict[str, Any]) -> Path:
    """Write ``<out>/<name>.json`` and ``<out>/<name>.md``; returns the JSON path."""
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **machine(),
        **figures,
    }
    path = out / f"{name}.json"
    path.write_text(json.dumps(record, indent=2, default=str))
    rows = [f"| {k} | {v} |" for k, v in record.items() if not isinstance(v, dict | list)]
    (out / f"{name}.md").write_text(
        f"# {name}\n\n| figure | value |\n|---|---|\n" + "\n".join(rows) + "\n"
    )
    return path
