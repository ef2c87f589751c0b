"""Pending actions (side effects waiting for a human, bound to their arguments' hash) and
every decision attempt, accepted or refused (replays and foreign approvers included)."""

import sqlalchemy as sa
from alembic.operations import Operations


def upgrade(op: Operations) -> None:
    op.create_table(
        "pending_actions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("tool", sa.Text, nullable=False),
        sa.Column("arguments", sa.Text, nullable=False),  # JSON, canonical (sorted keys)
        sa.Column("args_hash", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("requester", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False, server_default=""),
        sa.Column("thread", sa.Text, nullable=False, server_default=""),
        sa.Column("role", sa.Text),  # a role that must approve (e.g. 'manager'), or NULL
        sa.Column("citations", sa.Text, nullable=False, server_default="[]"),
        sa.Column("run_id", sa.Text),  # the process run this belongs to, if any
        sa.Column("step_id", sa.Text),
        # pending | approved | executing | done | failed | rejected | expired | unknown
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Text, nullable=False),
        sa.Column("decided_by", sa.Text),
        sa.Column("decided_at", sa.Text),
        sa.Column("edited", sa.Integer, nullable=False, server_default="0"),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("finished_at", sa.Text),
    )
    op.create_index("pending_actions_status", "pending_actions", ["status"])
    op.create_index("pending_actions_thread", "pending_actions", ["channel", "thread"])
    op.create_table(
        "approval_log",
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("action_id", sa.Text, nullable=False),
        sa.Column("user", sa.Text, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("at", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
