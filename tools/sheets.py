"""Spreadsheet tools over the workspace's ``sheets/`` folder: list, read, append, update.

``Sheets`` is the Python API (used by the tools, processes and tests); ``make_sheet_tools``
turns it into ``list_sheets``, ``read_sheet`` (read) and ``append_sheet_row``,
``update_sheet_row`` (write; a shared ledger, so someone other than the requester approves).
Values are coerced to the type of their column (numbers, dates, yes/no, text), unknown
columns are refused, and all the safety of ``sheet_files`` (confined paths, locks, atomic
writes, no formula injection) applies. A write with an idempotency key (an approved action's
id, a process step's ``run:step``) is journalled (``memory.sheet_writes``): run again after a
crash, it finds the earlier write and does not write twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from memory.errors import ToolArgumentError
from memory.sheet_writes import SheetWrite, SheetWriteJournal
from tools.field_values import parse_date, parse_decimal
from tools.registry import ToolContext, ToolOutput, ToolSpec
from tools.sheet_files import (
    ColumnKind,
    Edit,
    SheetFile,
    SheetUnreadable,
    Table,
    check_text,
    list_sheet_files,
    plain,
    resolve_sheet_path,
)

Change = Callable[[Table], dict[str, Any]]


class StoredRow(dict[str, Any]):
    """A row as stored; ``earlier``: an earlier run under the same key wrote it (not again)."""

    def __init__(self, row: Mapping[str, Any], *, earlier: bool = False) -> None:
        super().__init__(row)
        self.earlier = earlier


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

    def __init__(
        self,
        workspace: Path,
        lock_timeout: float = 10.0,
        journal: SheetWriteJournal | None = None,
    ) -> None:
        self.root = Path(workspace) / "sheets"
        self.lock_timeout = lock_timeout
        self.journal = journal

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
        key: str | None = None,
    ) -> StoredRow:
        """Append one row by header names; returns the row as stored."""
        if not values:
            raise ToolArgumentError("nothing to append", {"values": "name at least one column"})

        def change(table: Table) -> dict[str, Any]:
            cells = self.prepare_row(table, values)
            row: list[Any] = [cells.get(i) for i in range(len(table.headers))]
            table.rows.append(row)
            return table.as_dict(row)

        return self._write("append", path, sheet, change, dry_run=dry_run, key=key)

    def update(
        self,
        path: str,
        key_column: str,
        key_value: Any,
        values: Mapping[str, Any],
        sheet: str | None = None,
        *,
        dry_run: bool = False,
        key: str | None = None,
    ) -> StoredRow:
        """Change the row whose ``key_column`` equals ``key_value``; returns it as stored."""

        def change(table: Table) -> dict[str, Any]:
            column = table.column(key_column)
            hits = [r for r in table.rows if _norm(_at(r, column)) == _norm(key_value)]
            if len(hits) != 1:
                problem = "matches no row" if not hits else f"matches {len(hits)} rows"
                raise ToolArgumentError(
                    problem, {"key_value": f"{key_value!r} {problem} in {table.headers[column]!r}"}
                )
            row = hits[0]
            row.extend([None] * (len(table.headers) - len(row)))
            for index, value in self.prepare_row(table, values).items():
                row[index] = value
            return table.as_dict(row)

        return self._write("update", path, sheet, change, dry_run=dry_run, key=key)

    def _write(
        self,
        operation: Literal["append", "update"],
        path: str,
        sheet: str | None,
        change: Change,
        *,
        dry_run: bool,
        key: str | None,
    ) -> StoredRow:
        """Apply ``change`` under the file lock and save, once per ``key`` (see the module doc)."""
        journal = self.journal if key and not dry_run else None
        earlier = journal.get(str(key)) if journal else None
        if journal and earlier and earlier.status == "done":
            return StoredRow(earlier.row, earlier=True)
        with self.file(path).editing(sheet) as edit:
            if journal and earlier and _landed(earlier, edit):
                journal.finish(earlier.idempotency_key)  # the crash fell after the replace
                return StoredRow(earlier.row, earlier=True)
            row = StoredRow(change(edit.table))
            if dry_run:
                return row
            if journal is None:
                edit.save()
                return row
            started = SheetWrite(str(key), path, edit.table.name, operation, "started",
                                 edit.before_hash, "", dict(row))  # fmt: skip
            edit.save(lambda after: journal.start(replace(started, after_hash=after)))
            journal.finish(str(key))
            return row


def _landed(earlier: SheetWrite, edit: Edit) -> bool:
    """Whether an interrupted write (journal ``started``) reached the file."""
    if edit.before_hash == earlier.after_hash:
        return True
    if edit.before_hash == earlier.before_hash:
        return False  # the new file never replaced the old one
    # Someone wrote the file since: an appended row is looked for; an update is applied again
    # (setting the same cells twice is harmless).
    rows = [edit.table.as_dict(r) for r in edit.table.rows]
    return earlier.operation == "append" and earlier.row in rows


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
        None, description="A file, as list_sheets names it; omit to list every file."
    )


class ReadSheetArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="The file, as list_sheets names it.")
    sheet: str | None = Field(None, description="The sheet (tab); omit for the first one.")
    filters: dict[str, str] = Field(
        default_factory=dict, description="Column -> value rows must have."
    )
    limit: int = Field(20, ge=1, le=500, description="Most rows to return.")


class AppendRowArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="The file, as list_sheets names it.")
    values: dict[str, Any] = Field(description="Column header -> value for the new row.")
    sheet: str | None = Field(None, description="The sheet (tab); omit for the first one.")


class UpdateRowArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="The file, as list_sheets names it.")
    key_column: str = Field(description="The column that identifies the row, e.g. Claim ID.")
    key_value: str = Field(description="Its value in that row, e.g. the row's id.")
    values: dict[str, Any] = Field(description="Column header -> new value.")
    sheet: str | None = Field(None, description="The sheet (tab); omit for the first one.")


def make_sheet_tools(sheets: Sheets) -> list[ToolSpec]:
    """The four spreadsheet tools over one workspace."""

    def list_sheets(ctx: ToolContext, args: ListSheetsArgs) -> ToolOutput:
        """List the spreadsheet files, or one file's sheets with their column headers."""
        files = [args.path] if args.path else sheets.files()
        listing: dict[str, dict[str, list[str]]] = {}
        unreadable: dict[str, str] = {}
        for name in files:
            try:
                listing[name] = sheets.headers(name)
            except SheetUnreadable as exc:  # one bad file must not hide the others
                if args.path:
                    raise
                unreadable[name] = str(exc)
        lines = [
            f"{f} / {tab}: {', '.join(h)}" for f, tabs in listing.items() for tab, h in tabs.items()
        ]
        lines += [f"{f}: {problem}" for f, problem in unreadable.items()]
        return ToolOutput(
            "\n".join(lines) or "No spreadsheets in the workspace.",
            {"files": listing, "unreadable": unreadable},
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
        row = sheets.append(
            args.path, args.values, args.sheet, dry_run=ctx.dry_run, key=ctx.idempotency_key
        )
        verb = "Would append" if ctx.dry_run else "Appended"
        text = f"{verb} to {args.path}: {_brief(row)}{_EARLIER if row.earlier else ''}"
        return ToolOutput(text, {"row": dict(row), "already_written": row.earlier})

    def update_sheet_row(ctx: ToolContext, args: UpdateRowArgs) -> ToolOutput:
        """Change cells of the one row whose key column has the given value."""
        row = sheets.update(
            args.path, args.key_column, args.key_value, args.values, args.sheet,
            dry_run=ctx.dry_run, key=ctx.idempotency_key,
        )  # fmt: skip
        verb = "Would update" if ctx.dry_run else "Updated"
        text = f"{verb} {args.key_value} in {args.path}: {_brief(row)}{_EARLIER if row.earlier else ''}"
        return ToolOutput(text, {"row": dict(row), "already_written": row.earlier})

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


_EARLIER = " (written earlier under the same approval; not written again)"


def _brief(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}: {plain(v)}" for k, v in values.items() if v not in (None, ""))


def _doc(func: Any) -> str:
    return (func.__doc__ or "").strip()
