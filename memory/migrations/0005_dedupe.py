"""Durable de-duplication for the Slack surface (each delivery handled at most once, across
restarts), the threads the bot has answered in, and the approval cards shown to people."""

import sqlalchemy as sa
from alembic.operations import Operations


def upgrade(op: Operations) -> None:
    # Keys of deliveries already taken (Slack event ids, "channel:ts" of a message, file ids...).
    op.create_table(
        "dedupe_keys",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("seen_at", sa.Text, nullable=False),
    )
    op.create_index("dedupe_keys_seen_at", "dedupe_keys", ["seen_at"])
    # Threads the bot has answered in: follow-ups there need no new mention.
    op.create_table(
        "joined_threads",
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("thread", sa.Text, primary_key=True),
        sa.Column("joined_at", sa.Text, nullable=False),
    )
    # Approval cards shown to people: where each one is, what it asked, and who decided it.
    op.create_table(
        "decision_cards",
        sa.Column("action_id", sa.Text, primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("ts", sa.Text, nullable=False),
        sa.Column("request", sa.Text, nullable=False),  # JSON of the approval request shown
        sa.Column("decided_by", sa.Text),  # set when a decision is claimed; NULL while open
        sa.Column("decision", sa.Text),
        sa.Column("result", sa.Text),
        sa.Column("decided_at", sa.Text),
    )
