"""Settings: the environment is read in one place, secrets stay masked, .env.example is complete."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import REPO_ROOT, Settings, mask_secret


def env_name(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    return alias.choices[0] if alias is not None else f"RPA_{name.upper()}"  # type: ignore[union-attr]


def test_env_example_documents_every_setting() -> None:
    text = (REPO_ROOT / ".env.example").read_text()
    missing = [env_name(n) for n in Settings.model_fields if f"{env_name(n)}=" not in text]
    assert missing == []


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RPA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RPA_EMAIL_ALLOWED_DOMAINS", "acme.example, @Partner.example")
    monkeypatch.setenv("RPA_ROLES", '{"manager": ["U1"]}')
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-token-value")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-secret-token-value")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.data_dir == tmp_path
    assert s.email_allowed_domains == ["acme.example", "partner.example"]
    assert s.roles == {"manager": ["U1"]}
    assert s.slack_mode == "socket"
    assert s.state_db == tmp_path / "state.db"


def test_public_view_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-fake-test-value-not-a-token")
    monkeypatch.setenv("RPA_SMTP_PASSWORD", "hunter2hunter2")
    view = Settings(_env_file=None).public_view()  # type: ignore[call-arg]
    rendered = repr(view)
    assert "fake-test-value-not-a-token" not in rendered
    assert "hunter2hunter2" not in rendered
    assert view["slack_bot_token"].startswith("xoxb-")


def test_bad_json_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPA_ROLES", "{manager: U1")
    with pytest.raises(ValidationError, match="RPA_ROLES is not valid JSON"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_short_collection_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 3 characters"):
        Settings(_env_file=None, collection="ab")  # type: ignore[call-arg]


def test_mask_secret_short_values_show_no_prefix() -> None:
    assert mask_secret("abc") == "…(3 chars)"
    assert mask_secret(None) == ""
