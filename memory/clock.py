"""The one way every store writes a moment: UTC, ISO 8601 with microseconds and a ``Z``.

Stored strings of this fixed shape sort as the moments they name, so stores compare them in
SQL (``expires_at < ?``) without parsing.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """``moment`` as a stored timestamp."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_iso() -> str:
    """Now, as a stored timestamp."""
    return iso(datetime.now(UTC))
