"""Property tests: hostile strings round-trip as text, hostile paths never leave sheets/."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import DEFAULT_WORKSPACE
from memory.errors import NotFound, ToolArgumentError
from tools.sheet_files import resolve_sheet_path
from tools.sheets import Sheets

# Text a spreadsheet can hold (XML forbids most C0 controls), biased towards formula starters.
cell_text = st.one_of(
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cs",),
            blacklist_characters=[chr(c) for c in range(32) if c not in (9, 10, 13)],
        ),
        max_size=40,
    ),
    st.tuples(
        st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'=", "''+"]), st.text(max_size=20)
    ).map("".join),
).filter(lambda s: s != "" and all(ord(c) >= 32 or c in "\t\n\r" for c in s))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("ws") / "workspace"
    shutil.copytree(DEFAULT_WORKSPACE / "sheets", target / "sheets")
    (target / "sheets" / "notes.csv").write_text("Key,Note\n", encoding="utf-8")
    return target


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=cell_text)
def test_hostile_text_round_trips_in_xlsx(scratch: Path, text: str) -> None:
    sheets = Sheets(scratch)
    row = sheets.append("expenses.xlsx", {"Claim ID": "P-1", "Description": text})
    assert row["Description"] == text
    path = scratch / "sheets" / "expenses.xlsx"
    ws = openpyxl.load_workbook(path)["Claims"]
    cell = ws.cell(row=ws.max_row, column=8)
    assert cell.data_type == "s" and cell.value == text
    df = pd.read_excel(path, sheet_name="Claims", dtype=object, keep_default_na=False)
    assert df["Description"].iloc[-1] == text


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=cell_text)
def test_hostile_text_round_trips_in_csv(scratch: Path, text: str) -> None:
    sheets = Sheets(scratch)
    key = f"K{abs(hash(text))}"
    sheets.append("notes.csv", {"Key": key, "Note": text})
    _, rows, _ = sheets.read("notes.csv", filters={"Key": key})
    assert rows[-1]["Note"] == text
    with (scratch / "sheets" / "notes.csv").open(newline="", encoding="utf-8") as fh:
        stored = [row[1] for row in csv.reader(fh) if row and row[0] == key]
    # What a spreadsheet program would open never starts a formula: an apostrophe guards it.
    assert stored and not stored[-1].startswith(("=", "+", "-", "@", "\t", "\r"))


path_parts = st.sampled_from(
    [
        "..",
        ".",
        "",
        "sheets",
        "expenses.xlsx",
        "..\\",
        "/",
        "~",
        "x.csv",
        "%2e%2e",
        "\x00",
        "link",
        " ",
    ]
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(st.one_of(path_parts, st.text(max_size=8)), min_size=1, max_size=5))
def test_no_path_resolves_outside_the_sheets_folder(scratch: Path, parts: list[str]) -> None:
    relative = "/".join(parts)
    root = scratch / "sheets"
    try:
        resolved = resolve_sheet_path(root, relative)
    except (ToolArgumentError, NotFound):
        return
    assert resolved.is_relative_to(root.resolve())
    assert resolved.suffix in (".xlsx", ".csv")
