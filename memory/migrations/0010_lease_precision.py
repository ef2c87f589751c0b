"""Unix-time leases in double precision on PostgreSQL, where ``REAL`` is four bytes (about 128 s
of resolution at today's times); SQLite's ``REAL`` is already eight bytes."""

import sqlalchemy as sa
from alembic.operations import Operations


def upgrade(op: Operations) -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.alter_column("slack_inbox", "lease_until", type_=sa.Float(precision=53))
