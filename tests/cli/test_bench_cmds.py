"""``rpa-agent bench slack``: rounds alternate the runs; the figures are the medians, with ranges.
``bench all`` gives every bench a value for each of its options."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.models import OptionInfo
from typer.testing import CliRunner

from tests.cli.conftest import run


def test_bench_slack_reports_the_median_round_and_the_range(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "results"
    code, output = run(
        cli, "bench", "slack", "--events", "5", "--concurrency", "5", "--no-decoding",
        "--repeat", "3", "--out", str(out),
    )  # fmt: skip
    assert code == 0, output
    record = json.loads((out / "slack.json").read_text())
    assert record["rounds"] == 3
    assert set(record["runs"]) == {"burst", "steady"}
    for label in ("burst", "steady"):
        rounds = record["runs"][label]
        assert len(rounds) == 3 and all(r["reached_service"] == 5 for r in rounds)
        p99s = sorted(r["ack_ms_p99"] for r in rounds)
        assert record[f"{label}_ack_ms_p99"] == p99s[1]
        assert record[f"{label}_ack_ms_p99_range"] == f"{p99s[0]}-{p99s[2]}"
    assert "burst_decoding_ack_ms_p99" not in record
    assert "median of 3" in output
    # ... and the two-replica row, once: two processes on a SQLite file they share.
    assert record["two_replicas_state"] == "sqlite"
    assert record["two_replicas_answered_once"] == 5 and record["two_replicas_deliveries"] == 6


def test_bench_all_gives_every_bench_a_value_for_each_option(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Called as plain functions, typer commands get an OptionInfo for any option left out.
    from bot.cli import bench_cmds

    called: list[str] = []

    def recorder(real: Callable[..., None]) -> Callable[..., None]:
        def record(*args: object, **kwargs: object) -> None:
            bound = inspect.signature(real).bind(*args, **kwargs)
            bound.apply_defaults()
            left_out = [k for k, v in bound.arguments.items() if isinstance(v, OptionInfo)]
            assert not left_out, f"{real.__name__} got no value for {left_out}"
            called.append(real.__name__)

        return record

    monkeypatch.setattr(bench_cmds, "bench_model", recorder(bench_cmds.bench_model))
    monkeypatch.setattr(bench_cmds, "bench_retrieval", recorder(bench_cmds.bench_retrieval))
    monkeypatch.setattr(bench_cmds, "bench_slack", recorder(bench_cmds.bench_slack))
    monkeypatch.setattr(bench_cmds, "bench_e2e", recorder(bench_cmds.bench_e2e))
    bench_cmds.bench_all(out=tmp_path, retrieval_sizes="100")
    assert called == ["bench_model", "bench_retrieval", "bench_slack", "bench_e2e"]
    assert (tmp_path / "SUMMARY.md").exists()
