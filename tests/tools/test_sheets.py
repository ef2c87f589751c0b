"""Spreadsheets: read with filters, append and update with typed values, safe writes."""

from __future__ import annotations

import csv
import threading
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from memory.errors import NotFound, ToolArgumentError
from tools.registry import ToolContext, ToolRegistry
from tools.sheets import Sheets

COLUMNS = {
    "expenses.xlsx": (
        "Claims",
        [
            "Claim ID",
            "Submitted",
            "Employee",
            "Expense Date",
            "Category",
            "Amount",
            "Currency",
            "Description",
            "Project Code",
            "Status",
            "Approved By",
        ],
    ),
    "leave.xlsx": (
        "Requests",
        [
            "Request ID",
            "Submitted",
            "Employee",
            "Leave Type",
            "Start Date",
            "End Date",
            "Days",
            "Status",
            "Approver",
        ],
    ),
    "vendors.xlsx": (
        "Vendors",
        [
            "Vendor ID",
            "Legal Name",
            "VAT ID",
            "Country",
            "Category",
            "Contact Email",
            "Annual Spend",
            "Status",
            "Onboarded",
        ],
    ),
    "purchase_orders.xlsx": (
        "POs",
        [
            "PO Number",
            "Requested",
            "Requester",
            "Vendor",
            "Description",
            "Amount",
            "Currency",
            "Cost Center",
            "Status",
            "Approver",
        ],
    ),
}


def frame(path: Path, sheet: str) -> pd.DataFrame:
    return pd.read_excel(path, sheet_name=sheet, dtype=object, keep_default_na=False)


def test_demo_sheets_have_the_company_columns_and_rows(workspace: Path) -> None:
    sheets = Sheets(workspace)
    assert sheets.files() == sorted(COLUMNS)
    for name, (sheet, headers) in COLUMNS.items():
        assert sheets.headers(name) == {sheet: headers}
        assert len(frame(workspace / "sheets" / name, sheet)) >= 3


def test_read_filters_and_limit(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = registry.call(
        "read_sheet",
        {"path": "expenses.xlsx", "filters": {"employee": "LENA VOGEL"}, "limit": 1},
        ctx,
    )
    assert result.ok, result.content
    assert result.data["total"] == 2 and len(result.data["rows"]) == 1
    assert result.data["rows"][0]["Claim ID"] == "EXP-00995"
    assert result.data["rows"][0]["Submitted"] == "2026-03-02"
    bad = registry.call("read_sheet", {"path": "expenses.xlsx", "filters": {"Colour": "red"}}, ctx)
    assert not bad.ok and "Colour" in bad.errors and "Claim ID" in bad.errors["Colour"]


def test_append_coerces_to_column_types_and_reads_back(
    workspace: Path, registry: ToolRegistry, ctx: ToolContext
) -> None:
    values = {"Claim ID": "EXP-01001", "Submitted": "2026-03-20", "Employee": "U0LENA", "Expense Date": "19.03.2026",
              "Category": "meals", "Amount": "42,50", "Currency": "EUR", "Description": "Lunch"}  # fmt: skip
    result = registry.call(
        "append_sheet_row", {"path": "sheets/expenses.xlsx", "values": values}, ctx
    )
    assert result.ok, result.content
    path = workspace / "sheets" / "expenses.xlsx"
    last = frame(path, "Claims").iloc[-1]
    assert last["Claim ID"] == "EXP-01001" and last["Amount"] == 42.5
    assert pd.Timestamp(last["Expense Date"]).date() == date(2026, 3, 19)
    ws = openpyxl.load_workbook(path)["Claims"]
    row = [c for c in ws[ws.max_row]]
    assert isinstance(row[1].value, datetime) and row[1].number_format == "yyyy-mm-dd"
    assert row[5].value == 42.5 and row[5].data_type == "n"


def test_append_rejects_unknown_columns_and_bad_values_at_once(
    workspace: Path, registry: ToolRegistry, ctx: ToolContext
) -> None:
    path = workspace / "sheets" / "expenses.xlsx"
    before = path.read_bytes()
    result = registry.call(
        "append_sheet_row",
        {
            "path": "expenses.xlsx",
            "values": {"Colour": "red", "Amount": "a lot", "Submitted": "soon"},
        },
        ctx,
    )
    assert not result.ok and set(result.errors) == {"Colour", "Amount", "Submitted"}
    assert path.read_bytes() == before


def test_update_a_row_by_key(workspace: Path, registry: ToolRegistry, ctx: ToolContext) -> None:
    args = {
        "path": "leave.xlsx",
        "key_column": "request id",
        "key_value": "LV-00989",
        "values": {"Status": "approved", "Approver": "Claire Martin"},
    }
    result = registry.call("update_sheet_row", args, ctx)
    assert result.ok, result.content
    df = frame(workspace / "sheets" / "leave.xlsx", "Requests").set_index("Request ID")
    assert (
        df.loc["LV-00989", "Status"] == "approved"
        and df.loc["LV-00989", "Approver"] == "Claire Martin"
    )
    assert df.loc["LV-00987", "Status"] == "approved" and len(df) == 3
    missing = registry.call("update_sheet_row", {**args, "key_value": "LV-00000"}, ctx)
    assert not missing.ok and "matches no row" in missing.content


def test_formula_text_is_stored_as_text(workspace: Path) -> None:
    sheets = Sheets(workspace)
    hostile = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
    for i, text in enumerate(hostile):
        sheets.append("expenses.xlsx", {"Claim ID": f"X-{i}", "Description": text})
    ws = openpyxl.load_workbook(workspace / "sheets" / "expenses.xlsx")["Claims"]
    cells = [ws.cell(row=r, column=8) for r in range(ws.max_row - len(hostile) + 1, ws.max_row + 1)]
    assert [c.value for c in cells] == hostile
    assert all(c.data_type == "s" for c in cells)
    assert (
        list(frame(workspace / "sheets" / "expenses.xlsx", "Claims")["Description"])[
            -len(hostile) :
        ]
        == hostile
    )


def test_csv_round_trip_with_escaping(workspace: Path) -> None:
    path = workspace / "sheets" / "contacts.csv"
    path.write_text("Name,Phone,Since\nAna,100,2025-01-02\n", encoding="utf-8")
    sheets = Sheets(workspace)
    sheets.append(
        "contacts.csv", {"Name": "=cmd|'/c calc'!A1", "Phone": "200", "Since": "2026-02-03"}
    )
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[-1] == ["'=cmd|'/c calc'!A1", "200", "2026-02-03"]
    _, found, _ = sheets.read("contacts.csv", filters={"Phone": "200"})
    assert found == [{"Name": "=cmd|'/c calc'!A1", "Phone": "200", "Since": "2026-02-03"}]
    with pytest.raises(ToolArgumentError) as info:
        sheets.append("contacts.csv", {"Phone": "not a number"})
    assert "Phone" in info.value.errors


@pytest.mark.parametrize(
    "bad",
    [
        "../COMPANY.md",
        "../sheets/../forms/x.xlsx",
        "/etc/passwd.csv",
        "C:/x.xlsx",
        "a\\..\\b.xlsx",
        "forms.yaml",
        ".hidden.xlsx",
        "",
    ],
)
def test_paths_outside_the_sheets_folder_are_refused(workspace: Path, bad: str) -> None:
    with pytest.raises(ToolArgumentError) as info:
        Sheets(workspace).file(bad)
    assert "path" in info.value.errors


def test_symlinks_may_not_escape(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.xlsx"
    openpyxl.Workbook().save(outside)
    (workspace / "sheets" / "link.xlsx").symlink_to(outside)
    with pytest.raises(ToolArgumentError, match="leaves the sheets folder"):
        Sheets(workspace).file("link.xlsx")
    assert "link.xlsx" not in Sheets(workspace).files()
    with pytest.raises(NotFound):
        Sheets(workspace).file("missing.xlsx")


def test_concurrent_appends_all_land(workspace: Path) -> None:
    sheets = Sheets(workspace)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(3):
                Sheets(workspace).append(
                    "vendors.xlsx", {"Vendor ID": f"V-{n}{i}", "Annual Spend": n * 10 + i}
                )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = list(frame(workspace / "sheets" / "vendors.xlsx", "Vendors")["Vendor ID"])
    assert sorted(ids[3:]) == sorted(f"V-{n}{i}" for n in range(1, 5) for i in range(3))
    assert len(sheets.read("vendors.xlsx", limit=100)[1]) == 15


def test_a_crash_while_saving_leaves_the_workbook_whole(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workspace / "sheets" / "purchase_orders.xlsx"
    before = path.read_bytes()

    def crash(self: openpyxl.Workbook, filename: str) -> None:
        Path(filename).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(openpyxl.Workbook, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        Sheets(workspace).append("purchase_orders.xlsx", {"PO Number": "PO-2026-0101"})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert len(frame(path, "POs")) == 3


def test_dry_run_changes_nothing(workspace: Path, registry: ToolRegistry) -> None:
    path = workspace / "sheets" / "leave.xlsx"
    before = path.read_bytes()
    result = registry.call(
        "append_sheet_row",
        {"path": "leave.xlsx", "values": {"Request ID": "LV-01001", "Days": 2}},
        ToolContext(user="U1", dry_run=True),
    )
    assert result.ok and result.content.startswith("Would append")
    assert path.read_bytes() == before


def test_list_sheets_tool(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = registry.call("list_sheets", {}, ctx)
    assert result.ok and "expenses.xlsx / Claims: Claim ID, Submitted" in result.content
