"""Training data from any workspace: deterministic, split by template, covering every form,
process, sheet and id format of the workspace, and nothing of another company."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.agent import Persona
from bot.config import REPO_ROOT, Settings
from bot.training.context import open_registry, workspace_context
from bot.training.data import DataOptions, data_hash, generate_dataset, read_split, write_dataset
from bot.training.facts import WorkspaceFacts, _id_pattern
from tools.workspace import load_profile

DEMOS = sorted(p.parent for p in (REPO_ROOT / "examples").glob("*/workspace.yaml"))


@pytest.fixture(scope="module", params=DEMOS, ids=lambda p: p.name)
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    workspace: Path = request.param
    s = Settings(_env_file=None, workspace=workspace, data_dir=tmp_path_factory.mktemp("d"))  # type: ignore[call-arg]
    return workspace, open_registry(s)


def _generate(built: Any, target: Path, seed: int = 3) -> Path:
    workspace, registry = built
    context = workspace_context(registry, Persona.of(workspace), date(2026, 3, 20))
    options = DataOptions(seed=seed, per_template=2, test_per_template=1)
    return write_dataset(generate_dataset(context, WorkspaceFacts.load(workspace), options), target)


def _records(directory: Path) -> list[dict[str, Any]]:
    return [r for s in ("train", "validation", "test") for r in read_split(directory, s)]


def test_same_seed_same_files_other_seed_other_files(built: Any, tmp_path: Path) -> None:
    first = _generate(built, tmp_path / "a")
    again = _generate(built, tmp_path / "b")
    other = _generate(built, tmp_path / "c", seed=4)
    assert data_hash(first) == data_hash(again)
    assert data_hash(first) != data_hash(other)


def test_splits_share_no_template_and_cover_every_split(built: Any, tmp_path: Path) -> None:
    directory = _generate(built, tmp_path / "d")
    templates = {
        s: {r["template"] for r in read_split(directory, s)}
        for s in ("train", "validation", "test")
    }
    assert all(templates.values())
    assert not templates["train"] & templates["test"]
    assert not templates["train"] & templates["validation"]
    assert not templates["validation"] & templates["test"]


def test_gold_calls_validate_against_the_registry(built: Any, tmp_path: Path) -> None:
    _, registry = built
    records = _records(_generate(built, tmp_path / "e"))
    calls = [r["expect"] for r in records if "tool" in r["expect"]]
    assert len(calls) > 50 and any("ask" in r["expect"] for r in records)
    for expect in calls:
        registry.validate(expect["tool"], expect["args"])
    starts = [e for e in calls if e["tool"] == "start_process"]
    assert all(list(e["args"]) == ["name", "inputs"] for e in starts)  # the grammar's order


def test_every_form_process_sheet_and_id_format_is_covered(built: Any, tmp_path: Path) -> None:
    workspace, _ = built
    facts = WorkspaceFacts.load(workspace)
    records = _records(_generate(built, tmp_path / "f"))
    calls = [r["expect"] for r in records if "tool" in r["expect"]]
    started = {c["args"]["name"] for c in calls if c["tool"] == "start_process"}
    submitted = {c["args"]["form"] for c in calls if c["tool"] == "submit_form"}
    wrapped = {p.form for p in facts.processes.values()}
    assert started == set(facts.processes)
    assert submitted == set(facts.forms) - wrapped
    asked = {r["intent"] for r in records if "ask" in r["expect"]}
    assert asked == {f"ask:{name}" for name in facts.forms}
    read = {c["args"]["path"] for c in calls if c["tool"] in ("read_sheet", "update_sheet_row")}
    assert read == {t.path for t in facts.sheets}
    looked_up = [
        c["args"].get("run_id") or c["args"].get("submission_id")
        for c in calls
        if c["tool"] in ("process_status", "get_submission")
    ]
    for name, form in facts.forms.items():
        pattern = _id_pattern(form.id_format, name)
        assert any(pattern.fullmatch(x) for x in looked_up), name
    mailed = {
        to for c in calls if c["tool"] in ("send_email", "draft_email") for to in c["args"]["to"]
    }
    assert mailed and mailed <= set(facts.mail_addresses())


def _marks(workspace: Path) -> list[str]:
    """What names one company: its name, mail domains, id prefixes, sheet files."""
    profile = load_profile(workspace)
    facts = WorkspaceFacts.load(workspace)
    marks = [profile.company.name, profile.company.called, *profile.company.mail_domains]
    marks += [re.split(r"[-{]", f.id_format)[0] + "-" for f in facts.forms.values()]
    marks += [t.path for t in facts.sheets]
    return [m for m in marks if len(m) >= 3]


def test_nothing_of_another_company_leaks_in(built: Any, tmp_path: Path) -> None:
    workspace, _ = built
    text = "\n".join(
        f"{r['messages'][0]['content']} {r['expect']}"
        for r in _records(_generate(built, tmp_path / "g"))
    )
    for other in DEMOS:
        if other == workspace:
            continue
        own = set(_marks(workspace))
        leaked = [m for m in _marks(other) if m not in own and m.lower() in text.lower()]
        assert leaked == []


def test_report_counts_every_intent(built: Any, tmp_path: Path) -> None:
    workspace, _ = built
    report = (_generate(built, tmp_path / "h") / "report.md").read_text(encoding="utf-8")
    for name in WorkspaceFacts.load(workspace).forms:
        assert f":{name} |" in report
    assert "**total**" in report
