"""The knowledge commands end to end on a copy of the demo workspace: ingest, search, eval, bench."""

from __future__ import annotations

import re
import shutil

import pytest
from typer.testing import CliRunner

import bot.cli.common
from bot.config import DEFAULT_WORKSPACE, Settings

runner = CliRunner()


@pytest.fixture(scope="module")
def cli_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("cli-kb")
    shutil.copytree(DEFAULT_WORKSPACE, root / "workspace")
    (root / "data").mkdir()
    return Settings(_env_file=None, workspace=root / "workspace", data_dir=root / "data")  # type: ignore[call-arg]


@pytest.fixture
def invoke(cli_settings: Settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(bot.cli.common, "_settings", cli_settings)
    app = bot.cli.get_app()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    return run


def test_search_before_ingest_says_what_to_do(invoke) -> None:  # type: ignore[no-untyped-def]
    code, out = invoke("search", "receipts")
    assert code == 1 and "rpa-agent ingest" in out


def test_ingest_the_demo_workspace_then_nothing_to_do(invoke) -> None:  # type: ignore[no-untyped-def]
    code, out = invoke("ingest")
    assert code == 0, out
    assert "files seen 10: added 10" in out and "failed 0" in out
    code, out = invoke("ingest")
    assert code == 0 and "skipped 10" in out and "chunks written 0" in out


def test_search_prints_ranked_passages_with_citations(invoke) -> None:  # type: ignore[no-untyped-def]
    code, out = invoke("search", "who approves a purchase order of 12,000 EUR", "-k", "3")
    assert code == 0, out
    assert out.startswith("1. Purchase Order Procedure › Approval limits")
    assert "docs/procurement/purchase-orders.md" in out
    assert "finance director approves" in out
    code, out = invoke("search", "retention of invoices", "--tag", "compliance", "-k", "1")
    assert code == 0 and "docs/compliance/data-retention.pdf, p." in out


def test_eval_retrieval_prints_all_three_modes(invoke) -> None:  # type: ignore[no-untyped-def]
    code, out = invoke("eval", "retrieval")
    assert code == 0, out
    rows = dict(
        (m.group(1), [float(x) for x in m.groups()[1:]])
        for m in re.finditer(r"^all \(\d+\)\s+(\w+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)
    )
    assert set(rows) == {"hybrid", "vector", "keyword"}
    # A quality floor well under today's figures: a broken ranking or citation drops far below.
    assert rows["hybrid"][1] >= 0.8 and rows["hybrid"][2] >= 0.6


def test_bench_retrieval_on_a_tiny_corpus(invoke) -> None:  # type: ignore[no-untyped-def]
    code, out = invoke("bench", "retrieval", "--sizes", "40", "--queries", "3")
    assert code == 0, out
    row = out.strip().splitlines()[-1].split()
    assert row[0] == "40" and row[1] == "2"  # 40 chunks in 2 files
    code, out = invoke("bench", "retrieval", "--sizes", "ten")
    assert code != 0 and "--sizes" in out
