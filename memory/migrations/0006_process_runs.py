"""Process runs: one row per run of a YAML-declared process, each step's state, the notices
for the requester, and the per-prefix reference counters. A run is durable: a restart resumes
it without repeating a completed step ('started' is written before a side effect, 'done'
after it)."""

import sqlalchemy as sa
from alembic.operations import Operations


def upgrade(op: Operations) -> None:
    op.create_table(
        "process_runs",
        sa.Column("id", sa.Text, primary_key=True),  # R-xxxxxxxx
        sa.Column("process", sa.Text, nullable=False),
        sa.Column("reference", sa.Text, unique=True),  # the business id, in the form's own format
        sa.Column("requester", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False, server_default=""),
        sa.Column("thread", sa.Text, nullable=False, server_default=""),
        # running | waiting_approval | done | rejected | cancelled | failed
        sa.Column("status", sa.Text, nullable=False, server_default="running"),
        sa.Column("run_values", sa.Text, nullable=False),  # JSON: inputs plus what steps collected
        sa.Column("current_step", sa.Text),
        sa.Column("idempotency_key", sa.Text, unique=True),  # one run per key
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_index("process_runs_status", "process_runs", ["status"])
    op.create_table(
        "process_run_steps",
        sa.Column("run_id", sa.Text, sa.ForeignKey("process_runs.id"), primary_key=True),
        sa.Column("step_id", sa.Text, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),  # started | waiting | done | skipped | failed
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("result", sa.Text),  # JSON
        sa.Column("action_id", sa.Text),  # the pending action of an approval step
        sa.Column("started_at", sa.Text, nullable=False),
        sa.Column("finished_at", sa.Text),
    )
    op.create_table(
        "process_run_notices",
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Text, sa.ForeignKey("process_runs.id"), nullable=False),
        sa.Column("step_id", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.UniqueConstraint("run_id", "step_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "process_reference_counters",
        sa.Column("prefix", sa.Text, primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )
