"""Email drafts: composed messages kept until someone sends them (or not)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from memory.db import Database
from memory.errors import NotFound


@dataclass(frozen=True)
class Draft:
    id: str
    created_by: str
    to: list[str]
    cc: list[str]
    subject: str
    body: str
    template: str | None
    created_at: str


class DraftStore:
    """Create and read rows of ``email_drafts``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        *,
        created_by: str,
        to: list[str],
        subject: str,
        body: str,
        cc: list[str] | None = None,
        template: str | None = None,
    ) -> Draft:
        draft_id = f"D-{secrets.token_hex(4)}"
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO email_drafts (id, created_by, recipients, cc, subject, body,"
                " template, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    draft_id,
                    created_by,
                    json.dumps(to),
                    json.dumps(cc or []),
                    subject,
                    body,
                    template,
                    now,
                ),
            )
        return self.get(draft_id)

    def get(self, draft_id: str) -> Draft:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT * FROM email_drafts WHERE id = ?", (draft_id.strip(),)
            ).fetchone()
        if row is None:
            raise NotFound(f"no email draft with id {draft_id!r}")
        return _draft(row)


def _draft(row: Any) -> Draft:
    return Draft(
        id=row["id"],
        created_by=row["created_by"],
        to=json.loads(row["recipients"]),
        cc=json.loads(row["cc"]),
        subject=row["subject"],
        body=row["body"],
        template=row["template"],
        created_at=row["created_at"],
    )
