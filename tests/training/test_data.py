"""Training data: deterministic by seed, split by template, gold calls valid for their tools."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.agent import Persona
from bot.config import DEFAULT_WORKSPACE, Settings
from bot.training.context import open_registry, workspace_catalogue, workspace_context
from bot.training.data import DataOptions, data_hash, generate_dataset, read_split, write_dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, object]:
    data = tmp_path_factory.mktemp("data")
    s = Settings(_env_file=None, data_dir=data)  # type: ignore[call-arg]
    registry = open_registry(s)
    return s, registry


def _generate(built: tuple[Settings, object], target: Path, seed: int = 3) -> Path:
    s, registry = built
    context = workspace_context(registry, Persona.of(DEFAULT_WORKSPACE), date(2026, 3, 20))
    forms, wraps, processes = workspace_catalogue(s)
    dataset = generate_dataset(
        context,
        forms,
        wraps,
        processes,
        DataOptions(seed=seed, per_template=2, test_per_template=1),
    )
    return write_dataset(dataset, target)


def test_same_seed_same_files_other_seed_other_files(
    built: tuple[Settings, object], tmp_path: Path
) -> None:
    first = _generate(built, tmp_path / "a")
    again = _generate(built, tmp_path / "b")
    other = _generate(built, tmp_path / "c", seed=4)
    assert data_hash(first) == data_hash(again)
    assert data_hash(first) != data_hash(other)


def test_splits_share_no_template_and_cover_every_split(
    built: tuple[Settings, object], tmp_path: Path
) -> None:
    directory = _generate(built, tmp_path / "d")
    templates = {
        s: {r["template"] for r in read_split(directory, s)}
        for s in ("train", "validation", "test")
    }
    assert all(templates.values())
    assert not templates["train"] & templates["test"]
    assert not templates["train"] & templates["validation"]
    assert not templates["validation"] & templates["test"]


def test_gold_calls_validate_against_the_registry(
    built: tuple[Settings, object], tmp_path: Path
) -> None:
    _, registry = built
    directory = _generate(built, tmp_path / "e")
    records = read_split(directory, "train") + read_split(directory, "test")
    calls = [r["expect"] for r in records if "tool" in r["expect"]]
    asks = [r for r in records if "ask" in r["expect"]]
    assert len(calls) > 50 and asks
    for expect in calls:
        registry.validate(expect["tool"], expect["args"])  # type: ignore[attr-defined]
    starts = [e for e in calls if e["tool"] == "start_process"]
    assert {e["args"]["name"] for e in starts} == {
        "expense_reimbursement",
        "leave_request",
        "vendor_onboarding",
    }
    assert all(
        list(e["args"]) == ["name", "inputs"] for e in starts
    )  # schema order, as the grammar writes


def test_report_counts_every_intent(built: tuple[Settings, object], tmp_path: Path) -> None:
    directory = _generate(built, tmp_path / "f")
    report = (directory / "report.md").read_text(encoding="utf-8")
    assert "| start_process:expense_claim |" in report
    assert "| ask:it_access |" in report
    assert "**total**" in report
