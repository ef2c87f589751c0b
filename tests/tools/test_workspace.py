"""workspace.yaml: the company comes from the workspace; a broken file names itself and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.agent import Persona, render_system_prompt
from bot.config import REPO_ROOT
from memory.errors import ConfigError
from tools.workspace import load_profile

DEMOS = sorted(p.parent for p in (REPO_ROOT / "examples").glob("*/workspace.yaml"))


def test_there_are_two_demo_workspaces() -> None:
    assert len(DEMOS) >= 2, DEMOS


@pytest.mark.parametrize("workspace", DEMOS, ids=lambda p: p.name)
def test_each_demo_declares_its_company(workspace: Path) -> None:
    profile = load_profile(workspace)
    assert profile.company.name != "the company"
    assert profile.company.mail_domains
    assert all(
        a.endswith("@" + profile.company.mail_domains[0]) for a in profile.mailboxes.values()
    )
    assert profile.bot_address == f"rpa-bot@{profile.company.mail_domains[0]}"


@pytest.mark.parametrize("workspace", DEMOS, ids=lambda p: p.name)
def test_the_system_prompt_names_this_workspaces_company_and_no_other(workspace: Path) -> None:
    prompt = render_system_prompt(Persona.of(workspace), "U1", ["manager"])
    own = load_profile(workspace).company
    assert own.name in prompt and own.currency in prompt
    for other in DEMOS:
        if other != workspace:
            assert load_profile(other).company.name not in prompt


def test_a_workspace_without_the_file_gets_a_neutral_company(tmp_path: Path) -> None:
    profile = load_profile(tmp_path)
    assert profile.company.name == "the company" and profile.company.mail_domains == []


def test_a_broken_file_is_named_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "workspace.yaml").write_text("company:\n  name: X\n  mail_domains: [a.example\n")
    with pytest.raises(ConfigError, match=r"workspace\.yaml, line \d+"):
        load_profile(tmp_path)


def test_a_wrong_field_is_named(tmp_path: Path) -> None:
    (tmp_path / "workspace.yaml").write_text("company:\n  name: X\n  currency: euro\n")
    with pytest.raises(ConfigError, match=r"company\.currency"):
        load_profile(tmp_path)
    (tmp_path / "workspace.yaml").write_text("company:\n  mail_domains: ['not a domain']\n")
    with pytest.raises(ConfigError, match="not a mail domain"):
        load_profile(tmp_path)


@pytest.mark.parametrize("workspace", DEMOS, ids=lambda p: p.name)
def test_mail_goes_from_and_to_the_workspaces_own_domains_by_default(
    workspace: Path, tmp_path: Path
) -> None:
    from bot.config import Settings
    from memory.db import Database
    from tools import build_outbox

    settings = Settings(_env_file=None, workspace=workspace, data_dir=tmp_path)  # type: ignore[call-arg]
    box = build_outbox(settings, Database(tmp_path / "state.db"))
    domain = load_profile(workspace).company.mail_domains[0]
    assert box.sender == f"rpa-bot@{domain}"
    assert box.allowed_domains == load_profile(workspace).company.mail_domains
