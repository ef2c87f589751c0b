"""The schema the migration history ends in, declared once with SQLAlchemy Core, for both engines.

``memory/migrations/`` is how a database gets here, step by step; this module is where it
ends up, so tools that need the whole shape read it here: the copy from SQLite into
PostgreSQL (``memory.copy``) walks ``METADATA.sorted_tables`` (parents before children), and
a test migrates an empty database of each engine and compares it with this declaration, so
the two cannot drift apart. Timestamps are ISO 8601 text (``memory.clock``), JSON is text.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Column, Float, ForeignKey, Index, Integer, Table, Text, UniqueConstraint

METADATA = sa.MetaData()


def _text(name: str, default: str | None = None, **kw: object) -> Column[str]:
    """A NOT NULL text column, with a literal default when given."""
    return Column(name, Text, nullable=False, server_default=default, **kw)  # type: ignore[arg-type]


def _count(name: str) -> Column[int]:
    return Column(name, Integer, nullable=False, server_default="0")


Table("meta", METADATA, Column("key", Text, primary_key=True), _text("value"))

Table(
    "tool_audit",
    METADATA,
    Column("id", Integer, primary_key=True),
    _text("at"), _text("user"), _text("channel", ""), _text("thread", ""), _text("tool"),
    _text("arguments"), _text("status"),
    Column("result", Text), Column("error", Text), Column("error_id", Text),
    Column("duration_ms", Float, nullable=False, server_default="0"),
    Column("approval_id", Text), _count("dry_run"),
    Column("decided_by", Text), Column("idempotency_key", Text),
    Index("tool_audit_user", "user", "id"),
    Index("tool_audit_tool", "tool", "id"),
    Index("tool_audit_status", "status", "id"),
    sqlite_autoincrement=True,
)  # fmt: skip

Table(
    "form_submissions",
    METADATA,
    Column("id", Text, primary_key=True),
    _text("form"), Column("seq", Integer, nullable=False), Column("year", Integer, nullable=False),
    _text("values"), _text("submitter"), _text("channel", ""), _text("thread", ""),
    _text("status", "submitted"), Column("idempotency_key", Text, unique=True),
    _text("created_at"), _text("updated_at"),
    UniqueConstraint("form", "year", "seq"),
    Index("form_submissions_submitter", "submitter", "created_at"),
)  # fmt: skip

Table(
    "email_drafts",
    METADATA,
    Column("id", Text, primary_key=True),
    _text("created_by"), _text("recipients"), _text("cc", "[]"), _text("subject"), _text("body"),
    Column("template", Text), _text("created_at"),
)  # fmt: skip

Table(
    "outbox",
    METADATA,
    Column("id", Text, primary_key=True),
    _text("idempotency_key", unique=True), _text("message_id", unique=True), _text("sender"),
    _text("recipients"), _text("subject"), _text("raw"), _text("status", "pending"),
    _count("attempts"), _text("next_attempt_at"), Column("claimed_at", Text),
    Column("last_error", Text), Column("delivered_to", Text), _text("created_by"),
    Column("draft_id", Text), _text("created_at"), _text("updated_at"), Column("sent_at", Text),
    _text("stage", ""), Column("claimed_by", Text),
    Index("outbox_due", "status", "next_attempt_at"),
)  # fmt: skip

Table(
    "pending_actions",
    METADATA,
    Column("id", Text, primary_key=True),
    _text("tool"), _text("arguments"), _text("args_hash"), _text("summary"), _text("requester"),
    _text("channel", ""), _text("thread", ""), Column("role", Text), _text("citations", "[]"),
    Column("run_id", Text), Column("step_id", Text), _text("status", "pending"),
    _text("created_at"), _text("expires_at"), Column("decided_by", Text),
    Column("decided_at", Text), _count("edited"), Column("result", Text), Column("error", Text),
    Column("finished_at", Text),
    Column("owner", Text), Column("lease_until", Float, nullable=False, server_default="0"),
    Index("pending_actions_status", "status"),
    Index("pending_actions_thread", "channel", "thread"),
)  # fmt: skip

Table(
    "approval_log",
    METADATA,
    Column("seq", Integer, primary_key=True),
    _text("action_id"), _text("user"), _text("decision"), Column("accepted", Integer, nullable=False),
    _text("reason", ""), _text("at"),
    sqlite_autoincrement=True,
)  # fmt: skip

Table(
    "dedupe_keys",
    METADATA,
    Column("key", Text, primary_key=True),
    _text("seen_at"),
    Index("dedupe_keys_seen_at", "seen_at"),
)
Table(
    "joined_threads",
    METADATA,
    Column("channel", Text, primary_key=True),
    Column("thread", Text, primary_key=True),
    _text("joined_at"),
)
Table(
    "decision_cards",
    METADATA,
    Column("action_id", Text, primary_key=True),
    _text("channel"), _text("ts"), _text("request"), Column("decided_by", Text),
    Column("decision", Text), Column("result", Text), Column("decided_at", Text),
)  # fmt: skip

Table(
    "process_runs",
    METADATA,
    Column("id", Text, primary_key=True),
    _text("process"), Column("reference", Text, unique=True), _text("requester"),
    _text("channel", ""), _text("thread", ""), _text("status", "running"), _text("run_values"),
    Column("current_step", Text), Column("idempotency_key", Text, unique=True),
    Column("error", Text), _text("created_at"), _text("updated_at"),
    Column("owner", Text), Column("lease_until", Float, nullable=False, server_default="0"),
    Index("process_runs_status", "status"),
)  # fmt: skip
Table(
    "process_run_steps",
    METADATA,
    Column("run_id", Text, ForeignKey("process_runs.id"), primary_key=True),
    Column("step_id", Text, primary_key=True),
    Column("position", Integer, nullable=False), _text("status"), _count("attempts"),
    Column("result", Text), Column("action_id", Text), _text("started_at"),
    Column("finished_at", Text),
)  # fmt: skip
Table(
    "process_run_notices",
    METADATA,
    Column("seq", Integer, primary_key=True),
    Column("run_id", Text, ForeignKey("process_runs.id"), nullable=False),
    _text("step_id"), _text("message"), _text("at"),
    UniqueConstraint("run_id", "step_id"),
    sqlite_autoincrement=True,
)  # fmt: skip
Table(
    "process_reference_counters",
    METADATA,
    Column("prefix", Text, primary_key=True),
    Column("last", Integer, nullable=False),
)

Table(
    "sheet_writes",
    METADATA,
    Column("idempotency_key", Text, primary_key=True),
    _text("path"), _text("sheet"), _text("operation"), _text("status"), _text("before_hash"),
    _text("after_hash"), _text("row_values"), _text("created_at"), Column("finished_at", Text),
)  # fmt: skip

Table(
    "slack_answers",
    METADATA,
    Column("answer_id", Text, primary_key=True),
    _text("channel"), _text("thread"), Column("turn", Integer, nullable=False),
    _text("question"), _text("answer"), _text("model"), _text("adapter", ""),
    Column("message_ts", Text), _text("created_at"),
    Index("slack_answers_thread", "channel", "thread", "turn"),
)  # fmt: skip
Table(
    "slack_feedback",
    METADATA,
    Column("answer_id", Text, primary_key=True),
    Column("user_id", Text, primary_key=True),
    _text("rating"), _text("pressed_at"),
)  # fmt: skip
