"""Safe access to the workspace's spreadsheets (xlsx and csv), confined to ``sheets/``.

Safe by construction: a path is relative, has no ``..``, no hidden part, a known suffix, and
resolves (symlinks followed) inside the sheets folder. Writers take a file lock and write a
temporary file that replaces the original in one rename, so a crash leaves either the old or
the new workbook, never half of one; ``Edit.save`` hands the new file's hash to its caller
just before the rename (the write journal records it there). A file that cannot be read
(a corrupt workbook) raises ``SheetUnreadable`` naming the file; the other files still work. Text that a spreadsheet program would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or CR) is stored as text: an explicit string
cell in xlsx, a leading apostrophe in csv (removed again when we read).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import openpyxl
from filelock import FileLock, Timeout
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.worksheet import Worksheet

from memory.errors import NotFound, RpaError, ToolArgumentError
from memory.faults import io_point

SUFFIXES = (".xlsx", ".csv")
DANGEROUS_FIRST = ("=", "+", "-", "@", "\t", "\r")
_CSV_ESCAPED = re.compile(r"^'+[=+\-@\t\r]")
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
MAX_CELL_CHARS = 32767  # Excel's limit for one cell

ColumnKind = Literal["text", "number", "date", "boolean"]


class SheetBusy(RpaError):
    """Another writer holds the sheet's lock for longer than we wait."""


class SheetUnreadable(RpaError):
    """A sheet file exists but cannot be read (a corrupt or foreign file); names the file."""


# What openpyxl and the csv reader raise for a file that is not what its name says.
_UNREADABLE = (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, UnicodeDecodeError)


def resolve_sheet_path(root: Path, relative: str) -> Path:
    """``relative`` as a real path inside ``root``; ``ToolArgumentError`` names what is wrong."""
    text = str(relative).strip()
    problem = _path_problem(text)
    if problem:
        raise ToolArgumentError(f"bad sheet path {relative!r}: {problem}", {"path": problem})
    parts = PurePosixPath(text).parts
    if parts and parts[0] == "sheets":
        parts = parts[1:]
    if not parts:
        raise ToolArgumentError(f"bad sheet path {relative!r}", {"path": "names no file"})
    base = root.resolve()
    real = base.joinpath(*parts).resolve()
    if not real.is_relative_to(base):
        raise ToolArgumentError(
            f"bad sheet path {relative!r}", {"path": "leaves the sheets folder"}
        )
    if not real.is_file():
        raise NotFound(f"no sheet file {relative!r} (files: {', '.join(list_sheet_files(root))})")
    return real


def _path_problem(text: str) -> str | None:
    if not text:
        return "is empty"
    if "\x00" in text or "\\" in text:
        return "contains a NUL or a backslash"
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text) or text.startswith("~"):
        return "must be relative to the workspace's sheets folder"
    parts = PurePosixPath(text).parts
    if any(p in ("..", ".") or p.startswith(".") for p in parts):
        return "may not contain '..' or hidden names"
    if not text.lower().endswith(SUFFIXES):
        return "must name an .xlsx or .csv file"
    return None


def list_sheet_files(root: Path) -> list[str]:
    """Spreadsheet files under ``root`` (relative, sorted); hidden and temporary files skipped."""
    if not root.is_dir():
        return []
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(p.startswith(".") for p in rel.parts) or path.suffix.lower() not in SUFFIXES:
            continue
        if path.is_file() and path.resolve().is_relative_to(root.resolve()):
            found.append(rel.as_posix())
    return sorted(found)


# ---- values --------------------------------------------------------------------------------


def check_text(value: str, column: str) -> str:
    """A string a workbook can hold; ``ToolArgumentError`` for control characters or length."""
    if _ILLEGAL_XML.search(value):
        raise ToolArgumentError(
            "bad text", {column: "contains control characters a spreadsheet cannot hold"}
        )
    if len(value) > MAX_CELL_CHARS:
        raise ToolArgumentError(
            "text too long", {column: f"is longer than {MAX_CELL_CHARS} characters"}
        )
    return value


def csv_escape(value: str) -> str:
    """Prefix an apostrophe to text a spreadsheet program would run as a formula."""
    if re.match(r"^'*[=+\-@\t\r]", value):
        return "'" + value
    return value


def csv_unescape(value: str) -> str:
    return value[1:] if _CSV_ESCAPED.match(value) else value


def plain(value: Any) -> Any:
    """A cell value as JSON-friendly data (dates as ISO strings)."""
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    return value


# ---- tables --------------------------------------------------------------------------------


@dataclass
class Table:
    """One sheet's header and data rows, with a way to write changed rows back."""

    name: str
    headers: list[str]
    rows: list[list[Any]]
    kinds: list[ColumnKind]
    number_formats: list[str | None]

    def column(self, name: str) -> int:
        """The index of a header, matched case-insensitively; ``ToolArgumentError`` otherwise."""
        wanted = name.strip().casefold()
        for i, header in enumerate(self.headers):
            if header.strip().casefold() == wanted:
                return i
        raise ToolArgumentError(
            f"no column {name!r} in {self.name!r}",
            {name: f"is not a column of {self.name!r} (columns: {', '.join(self.headers)})"},
        )

    def as_dict(self, row: list[Any]) -> dict[str, Any]:
        padded = list(row) + [None] * (len(self.headers) - len(row))
        return {h: plain(v) for h, v in zip(self.headers, padded, strict=False)}


def infer_kind(values: list[Any], *, from_text: bool) -> ColumnKind:
    """What a column holds, judged by its non-empty cells (csv cells are all text)."""
    seen = [v for v in values if v not in (None, "")]
    if not seen:
        return "text"
    if all(isinstance(v, bool) for v in seen):
        return "boolean"
    if all(isinstance(v, date) for v in seen):
        return "date"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in seen):
        return "number"
    if from_text and all(isinstance(v, str) for v in seen):
        if all(re.fullmatch(r"-?\d+(\.\d+)?", v) for v in seen):
            return "number"
        if all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) for v in seen):
            return "date"
    return "text"


@dataclass
class Edit:
    """One change of a sheet under its lock: the table, the file's hash before, and ``save``."""

    table: Table
    before_hash: str
    _save: Callable[[Callable[[str], None] | None], None]

    def save(self, before_replace: Callable[[str], None] | None = None) -> None:
        """Write the new file; ``before_replace(after_hash)`` runs just before it takes the
        old one's place (a crash there leaves the old file whole)."""
        self._save(before_replace)


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class SheetFile:
    """One xlsx or csv file: read its tables, or change one under a lock, atomically."""

    def __init__(self, path: Path, lock_timeout: float = 10.0) -> None:
        self.path = path
        self.is_csv = path.suffix.lower() == ".csv"
        self.lock = FileLock(str(path.parent / f".{path.name}.lock"), timeout=lock_timeout)

    def sheet_names(self) -> list[str]:
        if self.is_csv:
            return [self.path.stem]
        wb = self._workbook(read_only=True)
        try:
            return list(wb.sheetnames)
        finally:
            wb.close()

    def read(self, sheet: str | None = None) -> Table:
        if self.is_csv:
            return self._read_csv(sheet)
        return _table(_worksheet(self._workbook(), sheet, self.path.name))

    @contextmanager
    def editing(self, sheet: str | None = None) -> Iterator[Edit]:
        """Yield an ``Edit`` under the file lock; its ``save()`` replaces the file atomically."""
        try:
            with self.lock:
                before = file_hash(self.path)
                if self.is_csv:
                    table = self._read_csv(sheet)
                    yield Edit(table, before, lambda hook: self._atomic(
                        lambda tmp: _write_csv(table, tmp), hook))  # fmt: skip
                else:
                    wb = self._workbook()
                    ws = _worksheet(wb, sheet, self.path.name)
                    table = _table(ws)
                    yield Edit(table, before, lambda hook: self._atomic(
                        lambda tmp: _save_xlsx(wb, ws, table, tmp), hook))  # fmt: skip
        except Timeout as exc:
            raise SheetBusy(
                f"sheet {self.path.name!r} is being written by someone else; try again"
            ) from exc

    def _workbook(self, *, read_only: bool = False) -> Any:
        try:
            return openpyxl.load_workbook(self.path, read_only=read_only)
        except (*_UNREADABLE, OSError) as exc:
            raise self._unreadable(exc) from exc

    def _unreadable(self, exc: BaseException) -> SheetUnreadable:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        kind = "csv file" if self.is_csv else "xlsx workbook"
        return SheetUnreadable(
            f"sheet file {self.path.name!r} cannot be read: not a valid {kind} ({detail})"
        )

    def _read_csv(self, sheet: str | None) -> Table:
        if sheet not in (None, "", self.path.stem):
            raise ToolArgumentError(
                "unknown sheet", {"sheet": f"{self.path.name!r} has only {self.path.stem!r}"}
            )
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as fh:
                rows = [[csv_unescape(c) for c in row] for row in csv.reader(fh)]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise self._unreadable(exc) from exc
        headers = [h.strip() for h in (rows[0] if rows else [])]
        data = [r for r in rows[1:] if any(c != "" for c in r)]
        kinds = [
            infer_kind([r[i] if i < len(r) else None for r in data], from_text=True)
            for i in range(len(headers))
        ]
        return Table(self.path.stem, headers, data, kinds, [None] * len(headers))

    def _atomic(
        self, write: Callable[[Path], None], before_replace: Callable[[str], None] | None
    ) -> None:
        fd, tmp_name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            write(tmp)
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, self.path.stat().st_mode & 0o777)
            io_point("sheet.write")
            if before_replace is not None:
                before_replace(file_hash(tmp))
            os.replace(tmp, self.path)
            io_point("sheet.replace")
        finally:
            tmp.unlink(missing_ok=True)


def _worksheet(wb: Any, sheet: str | None, filename: str) -> Worksheet:
    if not sheet:
        return wb.worksheets[0]
    for name in wb.sheetnames:
        if name.casefold() == sheet.strip().casefold():
            return wb[name]
    raise ToolArgumentError(
        "unknown sheet",
        {"sheet": f"{filename!r} has no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})"},
    )


def _table(ws: Worksheet) -> Table:
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    header_row = rows[0] if rows else []
    width = max((i + 1 for i, h in enumerate(header_row) if h not in (None, "")), default=0)
    headers = [str(h).strip() if h is not None else "" for h in header_row[:width]]
    data = [r[:width] for r in rows[1:] if any(c not in (None, "") for c in r[:width])]
    kinds = [infer_kind([r[i] for r in data], from_text=False) for i in range(width)]
    formats = [_last_format(ws, i + 1, len(data) + 1) for i in range(width)]
    return Table(ws.title, headers, data, kinds, formats)


def _last_format(ws: Worksheet, column: int, last_row: int) -> str | None:
    if last_row < 2:
        return None
    fmt = ws.cell(row=last_row, column=column).number_format
    return None if fmt == "General" else fmt


def _save_xlsx(wb: Any, ws: Worksheet, table: Table, target: Path) -> None:
    for r, row in enumerate(table.rows, start=2):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c)
            if cell.value == value:
                continue  # untouched cells keep what they hold, formulas included
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the first character
            elif isinstance(value, date) and table.number_formats[c - 1] is None:
                cell.number_format = "yyyy-mm-dd"
            elif table.number_formats[c - 1]:
                cell.number_format = table.number_formats[c - 1] or "General"
    wb.save(target)


def _write_csv(table: Table, target: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow([_csv_cell(v) for v in row])
    target.write_text(buffer.getvalue(), encoding="utf-8", newline="")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return csv_escape(value)
    return str(plain(value))
