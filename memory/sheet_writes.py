"""The sheet write journal: one record per idempotency key, so a re-run finds the earlier write.

A spreadsheet file and the state database cannot change in one transaction, so a write that
carries an idempotency key (an approved action's id, a process step's ``run:step``) is recorded
around the file's atomic replace: ``start`` (with the hashes of the file before and after, and
the row) is committed just before the new file replaces the old, ``finish`` just after. A
re-run with the same key finds ``done`` (nothing to do), or ``started``: then the file's hash
says which side of the replace the crash fell on (``tools.sheets`` decides).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from memory.clock import now_iso
from memory.db import Database


@dataclass(frozen=True)
class SheetWrite:
    """One keyed write, as recorded."""

    idempotency_key: str
    path: str
    sheet: str
    operation: Literal["append", "update"]
    status: Literal["started", "done"]
    before_hash: str
    after_hash: str
    row: dict[str, Any]


class SheetWriteJournal:
    """Rows of the ``sheet_writes`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str) -> SheetWrite | None:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT * FROM sheet_writes WHERE idempotency_key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return SheetWrite(
            idempotency_key=row["idempotency_key"],
            path=row["path"],
            sheet=row["sheet"],
            operation=row["operation"],
            status=row["status"],
            before_hash=row["before_hash"],
            after_hash=row["after_hash"],
            row=json.loads(row["row_values"]),
        )

    def start(self, write: SheetWrite) -> None:
        """Record a write about to replace the file (again, after an interrupted attempt)."""
        values = json.dumps(write.row, sort_keys=True, ensure_ascii=False, default=str)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO sheet_writes (idempotency_key, path, sheet, operation, status,"
                " before_hash, after_hash, row_values, created_at) VALUES (?,?,?,?, 'started', ?,?,?,?)"
                " ON CONFLICT (idempotency_key) DO UPDATE SET status = 'started',"
                " before_hash = excluded.before_hash, after_hash = excluded.after_hash,"
                " row_values = excluded.row_values",
                (
                    write.idempotency_key, write.path, write.sheet, write.operation,
                    write.before_hash, write.after_hash, values, now_iso(),
                ),
            )  # fmt: skip

    def finish(self, key: str) -> None:
        """The new file is in place: the write is done."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE sheet_writes SET status = 'done', finished_at = ? WHERE idempotency_key = ?",
                (now_iso(), key),
            )
