"""State of the tools: the audit log, form submissions, email drafts and the outbox."""

import sqlalchemy as sa
from alembic.operations import Operations


def text(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.Text, nullable=False, **kw)  # type: ignore[arg-type]


def upgrade(op: Operations) -> None:
    # Every tool call, whatever its outcome: who, from where, what, how it went, how long.
    op.create_table(
        "tool_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        text("at"),  # ISO 8601 UTC, when the call started
        text("user"),
        text("channel", server_default=""),
        text("thread", server_default=""),
        text("tool"),
        text("arguments"),  # JSON as the caller sent it
        text("status"),  # ok | invalid | denied | error | gated
        sa.Column("result", sa.Text),  # the text the caller got back (truncated)
        sa.Column("error", sa.Text),  # what went wrong, for invalid / denied / error
        sa.Column("error_id", sa.Text),  # the id quoted to the user and in the log
        sa.Column("duration_ms", sa.Float, nullable=False, server_default="0"),
        sa.Column("approval_id", sa.Text),
        sa.Column("dry_run", sa.Integer, nullable=False, server_default="0"),
        sqlite_autoincrement=True,
    )
    for column in ("user", "tool", "status"):
        op.create_index(f"tool_audit_{column}", "tool_audit", [column, "id"])

    # Form submissions; one per idempotency key.
    op.create_table(
        "form_submissions",
        sa.Column("id", sa.Text, primary_key=True),  # the id in the form's own format
        text("form"),
        sa.Column("seq", sa.Integer, nullable=False),  # per form and year, used to build the id
        sa.Column("year", sa.Integer, nullable=False),
        text("values"),  # JSON of the validated values
        text("submitter"),
        text("channel", server_default=""),
        text("thread", server_default=""),
        text("status", server_default="submitted"),
        sa.Column("idempotency_key", sa.Text, unique=True),
        text("created_at"),
        text("updated_at"),
        sa.UniqueConstraint("form", "year", "seq"),
    )
    op.create_index("form_submissions_submitter", "form_submissions", ["submitter", "created_at"])

    # Email drafts: composed, not sent.
    op.create_table(
        "email_drafts",
        sa.Column("id", sa.Text, primary_key=True),
        text("created_by"),
        text("recipients"),  # JSON list
        text("cc", server_default="[]"),  # JSON list
        text("subject"),
        text("body"),
        sa.Column("template", sa.Text),
        text("created_at"),
    )

    # The outbox: one row per message, delivered at most once on purpose.
    op.create_table(
        "outbox",
        sa.Column("id", sa.Text, primary_key=True),
        text("idempotency_key", unique=True),
        text("message_id", unique=True),  # RFC 5322 Message-ID, stable across retries
        text("sender"),
        text("recipients"),  # JSON list of envelope recipients (to + cc)
        text("subject"),
        text("raw"),  # the full message, byte-identical on every attempt
        text("status", server_default="pending"),  # pending | sending | sent | unknown | failed
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        text("next_attempt_at"),
        sa.Column("claimed_at", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_to", sa.Text),  # smtp://host:port or the .eml file written
        text("created_by"),
        sa.Column("draft_id", sa.Text),
        text("created_at"),
        text("updated_at"),
        sa.Column("sent_at", sa.Text),
    )
    op.create_index("outbox_due", "outbox", ["status", "next_attempt_at"])
