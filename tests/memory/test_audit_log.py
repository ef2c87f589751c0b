"""The audit log: records every field, filters, caps long results."""

from __future__ import annotations

from pathlib import Path

from memory.audit import AuditLog
from memory.db import Database


def test_record_and_filter(tmp_path: Path) -> None:
    log = AuditLog(Database(tmp_path / "s.db"))
    first = log.record(
        user="U1",
        tool="read_sheet",
        arguments={"path": "a.xlsx"},
        status="ok",
        result="3 rows",
        duration_ms=4.5,
    )
    log.record(
        user="U2",
        tool="send_email",
        arguments={"to": ["x@acme.example"]},
        status="denied",
        error="no",
        channel="C1",
        thread="t",
    )
    log.record(
        user="U1",
        tool="send_email",
        arguments={},
        status="error",
        error="boom",
        error_id="E-abc123",
        approval_id="A-1",
        dry_run=True,
    )
    assert [e.id for e in log.recent()][-1] == first
    assert [e.status for e in log.recent(user="U1")] == ["error", "ok"]
    assert [e.user for e in log.recent(tool="send_email")] == ["U1", "U2"]
    [err] = log.recent(status="error")
    assert (err.error_id, err.approval_id, err.dry_run, err.error) == (
        "E-abc123",
        "A-1",
        True,
        "boom",
    )
    assert log.recent(user="U1", tool="send_email", status="ok") == []
    got = log.get(first)
    assert (
        got is not None
        and got.arguments == {"path": "a.xlsx"}
        and got.result == "3 rows"
        and got.duration_ms == 4.5
    )
    assert len(log.recent(limit=2)) == 2


def test_long_results_are_capped(tmp_path: Path) -> None:
    log = AuditLog(Database(tmp_path / "s.db"))
    audit_id = log.record(
        user="U1", tool="read_sheet", arguments={}, status="ok", result="x" * 10_000
    )
    entry = log.get(audit_id)
    assert entry is not None and entry.result is not None
    assert len(entry.result) < 4100 and entry.result.endswith("(10000 chars)")
