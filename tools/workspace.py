"""The company a workspace belongs to: ``workspace.yaml`` (name, mail domains, currency, dates).

Nothing in the code names a company. The prompts, the mail policy, the value normaliser and the
training data generator read these facts from the workspace, so pointing ``RPA_WORKSPACE`` at
another company's folder is the whole change. A workspace without the file gets a neutral
profile ("the company", no mail domains) and still starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from memory.errors import ConfigError

PROFILE_FILE = "workspace.yaml"


class Company(BaseModel):
    """The facts about the company that prompts and tools need."""

    model_config = ConfigDict(extra="forbid")

    name: str = "the company"
    short_name: str = ""  # how people say it; default: the name
    industry: str = ""
    mail_domains: list[str] = Field(default_factory=list)  # the first is the bot's own
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")  # ISO 4217
    locale: str = "en-GB"
    date_order: Literal["DMY", "MDY", "YMD"] = "DMY"  # how people write numeric dates
    decimal_separator: Literal[".", ","] = "."  # what people write in amounts
    timezone: str = "UTC"

    @field_validator("mail_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        cleaned = [d.strip().lower().lstrip("@") for d in value if d.strip()]
        bad = [d for d in cleaned if "." not in d or "@" in d or " " in d]
        if bad:
            raise ValueError(f"not a mail domain: {', '.join(map(repr, bad))}")
        return cleaned

    @property
    def called(self) -> str:
        """The short name people use, or the full name."""
        return self.short_name or self.name


class WorkspaceProfile(BaseModel):
    """``workspace.yaml`` as a whole."""

    model_config = ConfigDict(extra="forbid")

    company: Company = Field(default_factory=Company)
    # Team mailboxes by name (finance -> finance@...): what processes and documents mail to.
    mailboxes: dict[str, str] = Field(default_factory=dict)
    # role -> user ids the terminal demo acts as when no roles are configured (RPA_ROLES).
    demo_roles: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def bot_address(self) -> str:
        """The bot's own From address: ``rpa-bot@`` the first mail domain."""
        domains = self.company.mail_domains
        return f"rpa-bot@{domains[0]}" if domains else "rpa-bot@localhost"


def load_profile(workspace: Path) -> WorkspaceProfile:
    """The workspace's profile; a broken file is a ``ConfigError`` naming the file and line."""
    path = Path(workspace) / PROFILE_FILE
    if not path.is_file():
        return WorkspaceProfile()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a mapping (company:, mailboxes:, demo_roles:)")
    try:
        return WorkspaceProfile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path} is invalid: {problems}") from exc
