"""``rpa-agent bench slack``: rounds alternate the runs; the figures are the medians, with ranges."""

from __future__ import annotations

import json
from pathlib import Path

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
