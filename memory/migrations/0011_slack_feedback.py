"""Answers the bot gave in Slack and what people said of them with the feedback buttons
(``memory/slack_feedback.py``)."""

import sqlalchemy as sa
from alembic.operations import Operations


def text(name: str, default: str | None = None) -> sa.Column[str]:
    return sa.Column(name, sa.Text, nullable=False, server_default=default)


def upgrade(op: Operations) -> None:
    # One answer: where it is, which turn of its thread it was (1 for the first), what was
    # asked and answered, and the model (and adapter) that wrote it.
    op.create_table(
        "slack_answers",
        sa.Column("answer_id", sa.Text, primary_key=True),
        text("channel"),
        text("thread"),
        sa.Column("turn", sa.Integer, nullable=False),
        text("question"),
        text("answer"),
        text("model"),
        text("adapter", ""),
        sa.Column("message_ts", sa.Text),
        text("created_at"),
    )
    op.create_index("slack_answers_thread", "slack_answers", ["channel", "thread", "turn"])
    # A press of a feedback button: each person's latest press counts (positive | negative).
    op.create_table(
        "slack_feedback",
        sa.Column("answer_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, primary_key=True),
        text("rating"),
        text("pressed_at"),
    )
