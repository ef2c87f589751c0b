"""Exactly once at every point: how far a send got and who holds it, what each sheet write did,
and who stands behind every audited call.

New states need no schema (the columns are plain text): pending_actions.status 'delivering'
(executed, its mail still queued), process_runs.status 'waiting_delivery' and
process_run_steps.status 'delivering' (an email step whose message is not delivered yet).
"""

import sqlalchemy as sa
from alembic.operations import Operations


def upgrade(op: Operations) -> None:
    # How far the current attempt at an outbox message got: '' (no attempt running),
    # 'claimed' (nothing has gone out), 'data' (all but the final dot: the server may hold it).
    op.add_column("outbox", sa.Column("stage", sa.Text, nullable=False, server_default=""))
    # host:pid of the process holding the claim: a restart resolves the claims of a dead owner.
    op.add_column("outbox", sa.Column("claimed_by", sa.Text))
    # Sheet writes of approved actions and process steps, one per idempotency key.
    op.create_table(
        "sheet_writes",
        sa.Column("idempotency_key", sa.Text, primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sheet", sa.Text, nullable=False),
        sa.Column("operation", sa.Text, nullable=False),  # append | update
        sa.Column("status", sa.Text, nullable=False),  # started | done
        sa.Column("before_hash", sa.Text, nullable=False),  # sha256 of the file before
        sa.Column("after_hash", sa.Text, nullable=False),  # sha256 of the file the write makes
        sa.Column("row_values", sa.Text, nullable=False),  # JSON: the row as written
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("finished_at", sa.Text),
    )
    # Who stands behind each audited call besides ``user`` and ``approval_id``: who approved
    # it, and the key that makes it happen once (an action id, or run:step for a step).
    op.add_column("tool_audit", sa.Column("decided_by", sa.Text))
    op.add_column("tool_audit", sa.Column("idempotency_key", sa.Text))
