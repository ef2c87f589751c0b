"""Named I/O points of the exactly-once paths, where tests inject faults; no-ops in production.

Every path that must happen exactly once (an outbox claim and send, a sheet save, a database
commit) calls ``io_point(name)`` right after each I/O operation it performs, so the moments
*between* two operations are named: ``db.commit``, ``smtp.connect``, ``smtp.envelope``,
``smtp.data``, ``smtp.payload``, ``smtp.dot``, ``smtp.reply``, ``sheet.write``,
``sheet.replace``, ``file.write``, ``file.replace``. Production installs no hook, so a call
costs one global read. The fault-injection tests install one that records the points a path
crosses, then replay the path in fresh processes that die (SIGKILL) or raise at each point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Hook = Callable[[str], None]

_hook: Hook | None = None


def io_point(name: str) -> None:
    """Mark the moment after one I/O operation of an exactly-once path (see the module doc)."""
    hook = _hook
    if hook is not None:
        hook(name)


def install(hook: Hook | None) -> Hook | None:
    """Set the hook every ``io_point`` calls (None: none); returns the one it replaces."""
    global _hook
    previous, _hook = _hook, hook
    return previous


@contextmanager
def injected(hook: Hook) -> Iterator[None]:
    """``hook`` is called at every I/O point inside the block."""
    previous = install(hook)
    try:
        yield
    finally:
        install(previous)
