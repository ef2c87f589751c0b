"""The tool audit log: one row per tool call, whatever its outcome.

``tools.registry`` records every call here (whose request it is, channel and thread, tool,
arguments, result or error, duration, the action id, who approved it and the idempotency key
that makes it happen once); ``rpa-agent audit`` reads it back with filters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from memory.clock import now_iso
from memory.db import Database

AuditStatus = Literal["ok", "invalid", "denied", "error", "gated"]

# A result is kept for the reader of the log, not as a copy of the data: cap its size.
_MAX_TEXT = 4000


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= _MAX_TEXT:
        return text
    return text[:_MAX_TEXT] + f"… ({len(text)} chars)"


@dataclass(frozen=True)
class AuditEntry:
    """One audited tool call."""

    id: int
    at: str
    user: str
    channel: str
    thread: str
    tool: str
    arguments: Any
    status: AuditStatus
    result: str | None
    error: str | None
    error_id: str | None
    duration_ms: float
    approval_id: str | None
    dry_run: bool
    decided_by: str | None = None  # who approved the action this call carried out
    idempotency_key: str | None = None


class AuditLog:
    """Append and query the ``tool_audit`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        *,
        user: str,
        tool: str,
        arguments: Any,
        status: AuditStatus,
        channel: str = "",
        thread: str = "",
        result: str | None = None,
        error: str | None = None,
        error_id: str | None = None,
        duration_ms: float = 0.0,
        approval_id: str | None = None,
        dry_run: bool = False,
        at: str | None = None,
        decided_by: str | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """Store one call; returns its audit id."""
        args_json = json.dumps(arguments, ensure_ascii=False, default=str, sort_keys=True)
        with self.db.transaction() as conn:
            row = conn.execute(
                'INSERT INTO tool_audit (at, "user", channel, thread, tool, arguments, status,'
                
                " result, error, error_id, duration_ms, approval_id, dry_run, decided_by,"
                " idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING id",
                (
                    at or now_iso(), user, channel, thread, tool, args_json, status,
                    _clip(result), _clip(error), error_id, duration_ms, approval_id, int(dry_run),
                    decided_by, idempotency_key,
                ),
            ).fetchone()  # fmt: skip
            return int(row[0])

    def recent(
        self,
        *,
        user: str | None = None,
        tool: str | None = None,
        status: str | None = None,
        approval_id: str | None = None,
        limit: int = 50,
    ) -> list[AuditEntry]:
        """The latest calls first, filtered by any of user, tool, status and action id."""
        clauses, params = [], []
        filters = (
            ('"user"', user),
            ("tool", tool),
            ("status", status),
            ("approval_id", approval_id),
        )
        for column, value in filters:
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM tool_audit {where} ORDER BY id DESC LIMIT ?"
        with self.db.reading() as conn:
            rows = conn.execute(sql, (*params, max(1, limit))).fetchall()
        return [_entry(row) for row in rows]

    def get(self, audit_id: int) -> AuditEntry | None:
        with self.db.reading() as conn:
            row = conn.execute("SELECT * FROM tool_audit WHERE id = ?", (audit_id,)).fetchone()
        return _entry(row) if row else None


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        user=row["user"],
        channel=row["channel"],
        thread=row["thread"],
        tool=row["tool"],
        arguments=json.loads(row["arguments"]),
        status=row["status"],
        result=row["result"],
        error=row["error"],
        error_id=row["error_id"],
        duration_ms=row["duration_ms"],
        approval_id=row["approval_id"],
        dry_run=bool(row["dry_run"]),
        decided_by=row["decided_by"],
        idempotency_key=row["idempotency_key"],
    )
