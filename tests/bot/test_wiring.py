"""The workspace is input only (the tools work in a copy under the data dir); roles in effect."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from bot.config import DEFAULT_WORKSPACE, Settings
from bot.wiring import Roles, build_app, working_copy, working_copy_dir
from tools.sheets import Sheets
from tools.workspace import load_profile

WORKSPACES = ["acme", "harbourline"]


def digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.xlsx"))
    }


@pytest.fixture(params=WORKSPACES)
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    target = tmp_path / request.param
    shutil.copytree(DEFAULT_WORKSPACE.parent / request.param, target)
    return target


def test_rows_go_to_the_copy_and_survive_a_restart(source: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    before = digests(source / "sheets")
    copy = working_copy(source, data)
    assert copy == working_copy_dir(source, data) and copy.is_relative_to(data)
    sheets = Sheets(copy)
    name = sheets.files()[0]
    header = next(iter(sheets.headers(name).values()))
    sheets.append(name, {header[0]: "ROW-FROM-THE-BOT"})
    assert digests(source / "sheets") == before  # the company's files are untouched
    working_copy(source, data)  # the next start refreshes the copy but keeps the ledgers
    _, rows, _ = Sheets(copy).read(name, filters={header[0]: "ROW-FROM-THE-BOT"})
    assert rows, "the bot's row was lost on restart"


def test_the_copy_follows_the_source_except_the_ledgers(source: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    copy = working_copy(source, data)
    form = sorted((source / "forms").iterdir())[0]
    form.write_text(form.read_text() + "\n# edited\n")
    doc = next(p for p in (source / "docs").rglob("*") if p.is_file())
    doc.unlink()
    sheet = sorted((source / "sheets").glob("*.xlsx"))[0]
    sheet.write_bytes(b"not the ledger any more")
    working_copy(source, data)
    assert (copy / "forms" / form.name).read_text().endswith("# edited\n")
    assert not (copy / doc.relative_to(source)).exists()
    assert (copy / "sheets" / sheet.name).read_bytes() != b"not the ledger any more"


def test_two_workspaces_in_one_data_dir_keep_their_own_ledgers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    copies = {working_copy(DEFAULT_WORKSPACE.parent / name, data) for name in WORKSPACES}
    assert len(copies) == 2


@pytest.mark.parametrize("name", WORKSPACES)
def test_without_rpa_roles_the_demo_people_hold_the_roles(name: str, tmp_path: Path) -> None:
    workspace = DEFAULT_WORKSPACE.parent / name
    settings = Settings(_env_file=None, workspace=workspace, data_dir=tmp_path)  # type: ignore[call-arg]
    roles = Roles.configured(settings)
    demo = load_profile(workspace).demo_roles
    assert roles.demo and roles.members == demo
    role, people = next(iter(demo.items()))
    assert roles.of(people[0]) == [role] and roles.who(role) == people
    app = build_app(settings, with_model=False)
    try:
        assert app.settings.workspace.is_relative_to(tmp_path)
        assert app.settings.roles == demo  # the tool policy sees the same people
    finally:
        app.service.close()


def test_configured_roles_replace_the_demo_people(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, roles={"manager": ["U123"]})  # type: ignore[call-arg]
    roles = Roles.configured(settings)
    assert not roles.demo and roles.members == {"manager": ["U123"]}
    assert roles.of("demo-manager") == []
