"""Proposed form values made exact by code, in each demo company's own conventions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.config import REPO_ROOT
from tools.form_input import Conventions, conventions_of, normalise_call, normalise_values
from tools.forms import load_forms, validate_values
from tools.process_defs import load_processes

DEMOS = sorted(p.parent for p in (REPO_ROOT / "examples").glob("*/workspace.yaml"))
TODAY = date(2026, 3, 20)  # a Friday


def _field_of(form: object, kind: str) -> str | None:
    return next((f.name for f in form.fields if f.type == kind), None)  # type: ignore[attr-defined]


@pytest.mark.parametrize("workspace", DEMOS, ids=lambda p: p.name)
def test_written_dates_and_amounts_become_the_forms_values(workspace: Path) -> None:
    conventions = conventions_of(workspace)
    forms = load_forms(workspace)
    dated = next(f for f in forms.values() if _field_of(f, "date") and _field_of(f, "money"))
    day, money = _field_of(dated, "date"), _field_of(dated, "money")
    out = normalise_values(dated, {day: "yesterday", money: "31,50"}, conventions, TODAY)
    assert out == {day: "2026-03-19", money: 31.5}
    out = normalise_values(dated, {day: "last Tuesday", money: "1.234,50"}, conventions, TODAY)
    assert out == {day: "2026-03-17", money: 1234.5}


def test_numeric_dates_follow_the_companys_order() -> None:
    form = next(iter(load_forms(DEMOS[0]).values()))
    day = _field_of(form, "date")
    assert day is not None
    british = normalise_values(form, {day: "03/04/2026"}, Conventions("DMY"), TODAY)
    american = normalise_values(form, {day: "03/04/2026"}, Conventions("MDY"), TODAY)
    assert (british[day], american[day]) == ("2026-04-03", "2026-03-04")


@pytest.mark.parametrize("workspace", DEMOS, ids=lambda p: p.name)
def test_choices_are_read_by_their_words_and_what_cannot_be_read_stays(workspace: Path) -> None:
    forms = load_forms(workspace)
    form = next(
        f for f in forms.values() if any(o for x in f.fields for o in x.options if "_" in o)
    )
    field = next(x for x in form.fields if any("_" in o for o in x.options))
    option = next(o for o in field.options if "_" in o)
    said = option.replace("_", " ").title()
    assert normalise_values(form, {field.name: said}, Conventions(), TODAY) == {field.name: option}
    money = _field_of(form, "money") or _field_of(form, "number")
    if money:
        kept = normalise_values(form, {money: "lots"}, Conventions(), TODAY)
        assert kept == {money: "lots"}
        _, errors = validate_values(form, kept)
        assert money in errors  # the validation names it, in its own words


@pytest.mark.parametrize("workspace", DEMOS, ids=lambda p: p.name)
def test_a_process_start_is_normalised_against_the_form_it_wraps(workspace: Path) -> None:
    forms = load_forms(workspace)
    processes = load_processes(workspace)
    name, process = next((n, p) for n, p in processes.items() if p.form)
    form = forms[str(process.form)]
    day = _field_of(form, "date")
    assert day is not None
    call = {"name": name, "inputs": {day: "yesterday", "unknown": "x"}}
    out = normalise_call(
        "start_process", call, forms, {n: str(p.form) for n, p in processes.items()},
        conventions_of(workspace), TODAY,
    )  # fmt: skip
    assert (
        out["inputs"] == {day: "2026-03-19", "unknown": "x"} and call["inputs"][day] == "yesterday"
    )


@pytest.mark.parametrize("workspace", DEMOS, ids=lambda p: p.name)
def test_the_registry_makes_proposed_values_exact_before_anything_is_approved(
    workspace: Path, tmp_path: Path
) -> None:
    from bot.config import Settings
    from memory.db import Database
    from tools import build_tools

    settings = Settings(_env_file=None, workspace=workspace, data_dir=tmp_path, today=TODAY)  # type: ignore[call-arg]
    registry, engine = build_tools(settings, Database(tmp_path / "state.db"))
    name, process = next((n, p) for n, p in engine.definitions().items() if p.form)
    form = load_forms(workspace)[str(process.form)]
    day = _field_of(form, "date")
    args = registry.validate("start_process", {"name": name, "inputs": {day: "yesterday"}})
    assert args.inputs == {day: "2026-03-19"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("workspace", DEMOS, ids=lambda p: p.name)
def test_a_choice_misspelt_by_a_letter_is_read_and_one_near_two_stays(workspace: Path) -> None:
    forms = load_forms(workspace)
    form, field = next(
        (f, x) for f in forms.values() for x in f.fields if any(len(o) >= 6 for o in x.options)
    )
    option = next(o for o in field.options if len(o) >= 6)
    typo = option[:2] + option[3:]  # one letter dropped
    assert normalise_values(form, {field.name: typo}, Conventions(), TODAY) == {field.name: option}
    assert normalise_values(form, {field.name: "zzzz"}, Conventions(), TODAY) == {
        field.name: "zzzz"
    }
    from tools.form_input import _option

    assert _option(["review", "reviews"], "reviw") == "reviw"  # two are as close: not guessed


@pytest.mark.parametrize("workspace", DEMOS, ids=lambda p: p.name)
def test_an_email_to_a_team_mailbox_by_name_goes_to_its_address(
    workspace: Path, tmp_path: Path
) -> None:
    from bot.config import Settings
    from memory.db import Database
    from tools import build_tools
    from tools.form_input import workspace_normaliser
    from tools.workspace import load_profile

    mailboxes = load_profile(workspace).mailboxes
    name, address = next(iter(mailboxes.items()))
    said = f"the {name.replace('_', ' ').upper()} team"
    normalise = workspace_normaliser(workspace)
    call = normalise("send_email", {"to": said, "cc": [address, "nobody"]}, TODAY)
    assert call == {"to": [address], "cc": [address, "nobody"]}

    settings = Settings(_env_file=None, workspace=workspace, data_dir=tmp_path, today=TODAY)  # type: ignore[call-arg]
    registry, _ = build_tools(settings, Database(tmp_path / "state.db"))
    args = registry.validate("draft_email", {"to": [said], "subject": "Hi", "body": "Hello"})
    assert args.to == [address]  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="nobody"):  # a name no mailbox has is no address
        registry.validate("draft_email", {"to": ["nobody"], "subject": "Hi", "body": "Hello"})


def test_a_mailbox_is_found_by_its_address_and_only_when_one_matches() -> None:
    from tools.email_outbox import mailbox_address

    boxes = {"it_helpdesk": "it-helpdesk@x.example", "desk": "front.desk@x.example"}
    assert mailbox_address("IT helpdesk", boxes) == "it-helpdesk@x.example"
    assert mailbox_address("it-helpdesk", boxes) == "it-helpdesk@x.example"
    assert mailbox_address("front desk", boxes) == "front.desk@x.example"
    assert mailbox_address("the IT help desk", boxes) == "it-helpdesk@x.example"
    assert mailbox_address("someone@y.example", boxes) == "someone@y.example"
    assert mailbox_address("finance", boxes) == "finance"
