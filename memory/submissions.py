"""Form submissions, stored durably: id, form, values, submitter, status, timestamps.

A submission is accepted at most once per idempotency key (the approval id when an approved
action runs): a second ``create`` with the same key returns the first submission unchanged.
Ids follow the form's own format (``REQ-{seq:05d}``, ``ORD-{year}-{seq:04d}``), numbered per
form and year inside the write transaction so that concurrent submitters never share one: on
PostgreSQL two replicas may pick the same next number, the unique ``(form, year, seq)`` lets
one insert win, and the other (having waited for it) takes the number after.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from memory.clock import now_iso
from memory.db import Database
from memory.errors import NotFound

# Each retry means another replica took the number just read: a handful is already absurd.
_MAX_RACES = 20


@dataclass(frozen=True)
class Submission:
    """One stored submission of a form."""

    id: str
    form: str
    values: dict[str, Any]
    submitter: str
    channel: str
    thread: str
    status: str
    idempotency_key: str | None
    created_at: str
    updated_at: str
    created: bool = True  # False when an earlier submission with the same key was returned


class SubmissionStore:
    """Create and look up submissions in ``form_submissions``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        form: str,
        values: dict[str, Any],
        submitter: str,
        *,
        id_format: str = "{form}-{seq:05d}",
        first_number: int = 1,
        channel: str = "",
        thread: str = "",
        idempotency_key: str | None = None,
    ) -> Submission:
        """Store a validated submission (or return the one already stored for this key)."""
        now = now_iso()
        year = datetime.now(UTC).year
        stored = json.dumps(values, ensure_ascii=False, default=str)
        with self.db.transaction() as conn:
            for _ in range(_MAX_RACES):
                if idempotency_key:
                    row = conn.execute(
                        "SELECT * FROM form_submissions WHERE idempotency_key = ?",
                        (idempotency_key,),
                    ).fetchone()
                    if row:
                        return _submission(row, created=False)
                seq = self._next_seq(conn, form, year, first_number)
                row = conn.execute(
                    'INSERT INTO form_submissions (id, form, seq, year, "values", submitter,'
                    " channel, thread, status, idempotency_key, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'submitted', ?, ?, ?)"
                    " ON CONFLICT DO NOTHING RETURNING *",
                    (
                        id_format.format(form=form, seq=seq, year=year), form, seq, year, stored,
                        submitter, channel, thread, idempotency_key, now, now,
                    ),
                ).fetchone()  # fmt: skip
                if row is not None:
                    return _submission(row, created=True)
        raise RuntimeError(f"no free submission number for {form!r} after {_MAX_RACES} tries")

    @staticmethod
    def _next_seq(conn: Any, form: str, year: int, first_number: int) -> int:
        row = conn.execute(
            "SELECT MAX(seq) FROM form_submissions WHERE form = ? AND year = ?", (form, year)
        ).fetchone()
        return max(first_number, (row[0] or 0) + 1)

    def get(self, submission_id: str) -> Submission:
        """The submission with this id; ``NotFound`` names it when there is none."""
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT * FROM form_submissions WHERE id = ?", (submission_id.strip(),)
            ).fetchone()
        if row is None:
            raise NotFound(f"no submission with id {submission_id!r}")
        return _submission(row)

    def list(
        self, *, form: str | None = None, submitter: str | None = None, limit: int = 50
    ) -> list[Submission]:
        """The latest submissions first, optionally of one form or one submitter."""
        clauses, params = [], []
        for column, value in (("form", form), ("submitter", submitter)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM form_submissions {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        with self.db.reading() as conn:
            rows = conn.execute(sql, (*params, max(1, limit))).fetchall()
        return [_submission(r) for r in rows]

    def set_status(self, submission_id: str, status: str) -> Submission:
        """Move a submission to a new status (e.g. ``approved`` by its process)."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE form_submissions SET status = ?, updated_at = ? WHERE id = ?",
                (status, now_iso(), submission_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"no submission with id {submission_id!r}")
        return self.get(submission_id)


def _submission(row: Any, *, created: bool = True) -> Submission:
    return Submission(
        id=row["id"],
        form=row["form"],
        values=json.loads(row["values"]),
        submitter=row["submitter"],
        channel=row["channel"],
        thread=row["thread"],
        status=row["status"],
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created=created,
    )
