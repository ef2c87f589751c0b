"""Spreadsheet tools over the workspace's ``sheets/`` folder: list, read, append, update.

``Sheets`` is the Python API (used by the tools, processes and tests); ``make_sheet_tools``
turns it into ``list_sheets``, ``read_sheet`` (read) and ``append_sheet_row``,
``update_sheet_row`` (write). Values are coerced to the type of their column (numbers,
dates, yes/no, text), unknown columns are refused, and all the safety of ``sheet_files``
(confined paths, locks, atomic writes, no formula injection) applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from memory.errors import ToolArgumentError
from tools.field_values import parse_date, parse_decimal
from tools.registry import ToolContext, ToolOutput, ToolSpec
from tools.sheet_files import (
    ColumnKind,
    SheetFile,
    Table,
    check_text,
    list_sheet_files,
    plain,
    resolve_sheet_path,
)

_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


def coerce_cell(kind: ColumnKind, column: str, value: Any) -> Any:
    """``value`` as the column's type; ``ToolArgumentError`` naming the column otherwise."""
    if value is None or (isinstance(value, str) and not value.strip() and kind != "text"):
        return None
    if isinstance(value, dict | list | tuple | set):
        raise ToolArgumentError(
            "bad value", {column: "must be a single value, not a list or object"}
        )
    try:
        if kind == "number":
            number = parse_decimal(value)
            return int(number) if number == number.to_integral_value() else float(number)
        if kind == "date":
            return parse_date(value)
        if kind == "boolean":
            return _boolean(value)
    except ValueError as exc:
        raise ToolArgumentError("bad value", {column: f"{exc} (got {value!r})"}) from None
    return check_text(value if isinstance(value, str) else str(plain(value)), column)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ValueError("must be yes or no")


class Sheets:
    """The spreadsheets under ``workspace/sheets``."""

    def __init__(self, workspace: Path, lock_timeout: float = 10.0) -> None:
        self.root = Path(workspace) / "sheets"
        self.lock_timeout = lock_timeout

    def file(self, path: str) -> SheetFile:
        return SheetFile(resolve_sheet_path(self.root, path), self.lock_timeout)

    def files(self) -> list[str]:
        return list_sheet_files(self.root)

    def headers(self, path: str) -> dict[str, list[str]]:
        """Sheet name -> header names, for every sheet of one file."""
        sheet_file = self.file(path)
        return {name: sheet_file.read(name).headers for name in sheet_file.sheet_names()}

    def read(
        self,
        path: str,
        sheet: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 20,
    ) -> tuple[Table, list[dict[str, Any]], int]:
        """``(table, matching rows as dicts (at most limit), number of matches)``."""
        table = self.file(path).read(sheet)
        wanted = [(table.column(col), _norm(val)) for col, val in (filters or {}).items()]
        matches = [r for r in table.rows if all(_norm(_at(r, i)) == v for i, v in wanted)]
        return table, [table.as_dict(r) for r in matches[: max(0, limit)]], len(matches)

    def prepare_row(self, table: Table, values: Mapping[str, Any]) -> dict[int, Any]:
        """Column index -> coerced value; every unknown column and bad value reported at once."""
        errors: dict[str, str] = {}
        cells: dict[int, Any] = {}
        for name, raw in values.items():
            try:
                index = table.column(name)
                cells[index] = coerce_cell(table.kinds[index], table.headers[index], raw)
            except ToolArgumentError as exc:
                errors.update(exc.errors)
        if errors:
            raise ToolArgumentError(f"cannot write these values to {table.name!r}", errors)
        return cells

    def append(
        self,
        path: str,
        values: Mapping[str, Any],
        sheet: str | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Append one row by header names; returns the row as stored."""
        if not values:
            raise ToolArgumentError("nothing to append", {"values": "name at least one column"})
        with self.file(path).editing(sheet) as (table, save):
            cells = self.prepare_row(table, values)
            row: list[Any] = [cells.get(i) for i in range(len(table.headers))]
            table.rows.append(row)
            if not dry_run:
                save()
            return table.as_dict(row)

    def update(
        self,
        path: str,
        key_column: str,
        key_value: Any,
        values: Mapping[str, Any],
        sheet: str | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Change the row whose ``key_column`` equals ``key_value``; returns it as stored."""
        with self.file(path).editing(sheet) as (table, save):
            key = table.column(key_column)
            hits = [r for r in table.rows if _norm(_at(r, key)) == _norm(key_value)]
            if len(hits) != 1:
                problem = "matches no row" if not hits else f"matches {len(hits)} rows"
                raise ToolArgumentError(
                    problem, {"key_value": f"{key_value!r} {problem} in {table.headers[key]!r}"}
                )
            row = hits[0]
            row.extend([None] * (len(table.headers) - len(row)))
            for index, value in self.prepare_row(table, values).items():
                row[index] = value
            if not dry_run:
                save()
            return table.as_dict(row)


def _at(row: list[Any], index: int) -> Any:
    return row[index] if index < len(row) else None


def _norm(value: Any) -> str:
    value = plain(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip().casefold()


# ---- tools ------------------------------------------------------------------------------


class ListSheetsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(
        None, description="A file such as expenses.xlsx; omit to list every file."
    )


class ReadSheetArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="The file, e.g. expenses.xlsx.")
    sheet: str | None = Field(None, description="The sheet (tab); omit for the first one.")
    filters: dict[str, str] = Field(
        default_factory=dict, description="Column -> value rows must have."
    )
    limit: int = Field(20, ge=1, le=500, description="Most rows to return.")


class AppendRowArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="The file, e.g. expenses.xlsx.")
    values: dict[str, Any] = Field(description="Column header -> value for the new row.")
    sheet: str | None = Field(None, description="The sheet (tab); omit for the first one.")


class UpdateRowArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="The file, e.g. expenses.xlsx.")
    key_column: str = Field(description="The column that identifies the row, e.g. Claim ID.")
    key_value: str = Field(description="Its value in that row, e.g. EXP-00998.")
    values: dict[str, Any] = Field(description="Column header -> new value.")
    sheet: str | None = Field(None, description="The sheet (tab); omit for the first one.")


def make_sheet_tools(sheets: Sheets) -> list[ToolSpec]:
    """The four spreadsheet tools over one workspace."""

    def list_sheets(ctx: ToolContext, args: ListSheetsArgs) -> ToolOutput:
        """List the spreadsheet files, or one file's sheets with their column headers."""
        files = [args.path] if args.path else sheets.files()
        listing = {f: sheets.headers(f) for f in files}
        lines = [
            f"{f} / {name}: {', '.join(h)}"
            for f, tabs in listing.items()
            for name, h in tabs.items()
        ]
        return ToolOutput(
            "\n".join(lines) or "No spreadsheets in the workspace.", {"files": listing}
        )

    def read_sheet(ctx: ToolContext, args: ReadSheetArgs) -> ToolOutput:
        """Read rows of a spreadsheet, optionally only rows whose columns equal given values."""
        table, rows, total = sheets.read(args.path, args.sheet, args.filters, args.limit)
        head = f"{total} matching row(s) in {args.path} / {table.name}" + (
            f", showing {len(rows)}" if total > len(rows) else ""
        )
        body = "\n".join(
            "; ".join(f"{k}: {v}" for k, v in r.items() if v not in (None, "")) for r in rows
        )
        return ToolOutput(
            f"{head}:\n{body}" if rows else head + ".",
            {"sheet": table.name, "rows": rows, "total": total},
        )

    def append_sheet_row(ctx: ToolContext, args: AppendRowArgs) -> ToolOutput:
        """Append a row to a spreadsheet by column names; values take the column's type."""
        row = sheets.append(args.path, args.values, args.sheet, dry_run=ctx.dry_run)
        verb = "Would append" if ctx.dry_run else "Appended"
        return ToolOutput(f"{verb} to {args.path}: {_brief(row)}", {"row": row})

    def update_sheet_row(ctx: ToolContext, args: UpdateRowArgs) -> ToolOutput:
        """Change cells of the one row whose key column has the given value."""
        row = sheets.update(
            args.path, args.key_column, args.key_value, args.values, args.sheet, dry_run=ctx.dry_run
        )
        verb = "Would update" if ctx.dry_run else "Updated"
        return ToolOutput(f"{verb} {args.key_value} in {args.path}: {_brief(row)}", {"row": row})

    return [
        ToolSpec("list_sheets", _doc(list_sheets), ListSheetsArgs, list_sheets, activity="looking at the spreadsheets..."),
        ToolSpec("read_sheet", _doc(read_sheet), ReadSheetArgs, read_sheet, activity="reading the spreadsheet..."),
        ToolSpec(
            "append_sheet_row", _doc(append_sheet_row), AppendRowArgs, append_sheet_row,
            side_effect="write", activity="adding a row...",
            summary=lambda a: f"Add a row to {a.path}: {_brief(a.values)}",
        ),
        ToolSpec(
            "update_sheet_row", _doc(update_sheet_row), UpdateRowArgs, update_sheet_row,
            side_effect="write", activity="updating the spreadsheet...",
            summary=lambda a: f"Update {a.key_column} = {a.key_value} in {a.path}: {_brief(a.values)}",
        ),
    ]  # fmt: skip


def _brief(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}: {plain(v)}" for k, v in values.items() if v not in (None, ""))


def _doc(func: Any) -> str:
    return (func.__doc__ or "").strip()
