"""Leases for work several replicas could pick up: an approved action being executed and a
process run being advanced each have an owner ("host:pid:boot") and a lease (unix time);
another replica takes the work over only once the owner died or let the lease run out."""

import sqlalchemy as sa
from alembic.operations import Operations


def upgrade(op: Operations) -> None:
    for table in ("pending_actions", "process_runs"):
        op.add_column(table, sa.Column("owner", sa.Text))
        op.add_column(table, sa.Column("lease_until", sa.Float, nullable=False, server_default="0"))
