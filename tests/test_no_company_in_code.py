"""Nothing in the code names a company: every fact about one comes from its workspace.

The marks of each demo workspace (its company's names, mail domains, id prefixes, ledger
files, mailboxes) must not appear in bot/, tools/, memory/ or prompts/. The one allowed
mention is the default workspace's folder in bot/config.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import REPO_ROOT
from tools.forms import load_forms
from tools.workspace import load_profile

DEMOS = sorted(p.parent for p in (REPO_ROOT / "examples").glob("*/workspace.yaml"))
CODE = [
    p
    for package in ("bot", "tools", "memory", "prompts")
    for p in (REPO_ROOT / package).rglob("*")
    if p.suffix in (".py", ".md", ".jinja", ".yaml", ".json") and p.is_file()
]
ALLOWED = {("bot/config.py", 'DEFAULT_WORKSPACE = REPO_ROOT / "examples" / "acme"')}


def marks(workspace: Path) -> list[str]:
    profile = load_profile(workspace)
    found = [profile.company.name, profile.company.called, workspace.name]
    found += profile.company.mail_domains + list(profile.mailboxes.values())
    found += [re.split(r"[{]", f.id_format)[0] for f in load_forms(workspace).values()]
    found += [p.name for p in (workspace / "sheets").glob("*.xlsx")]
    return sorted({m for m in found if len(m) >= 3})


@pytest.mark.parametrize("workspace", DEMOS, ids=lambda p: p.name)
def test_no_mark_of_a_demo_company_in_the_code(workspace: Path) -> None:
    wanted = marks(workspace)
    assert wanted
    hits = []
    for path in CODE:
        relative = path.relative_to(REPO_ROOT).as_posix()
        for line in path.read_text(encoding="utf-8").splitlines():
            if (relative, line.strip()) in ALLOWED:
                continue
            hits += [
                f"{relative}: {m!r}" for m in wanted if re.search(rf"\b{re.escape(m)}", line, re.I)
            ]
    assert hits == []
