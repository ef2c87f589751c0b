"""Who holds a piece of shared work, and until when: owners and leases for many replicas.

Work that several processes could pick up (an approved action to execute, a process run to
advance, a message to send, a turn to answer) is claimed in the state database with the
claimant's owner id (``host:pid:boot``: a reused pid is another owner) and a lease, a unix
time the owner keeps pushing forward while it works. Another process takes the work over
when the lease has run out, or sooner when the owner ran on the same host and its process is
gone. On several hosts only the lease can tell, so it is kept short and renewed.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

LEASE_SECONDS = 60.0  # how long a claim holds without renewal

Clock = Callable[[], float]


def process_owner() -> str:
    """This process's owner id: host, pid and a boot nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_gone(owner: str | None) -> bool:
    """Whether ``owner`` ran on this host and its process no longer exists."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host's process: only its lease can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


@dataclass(frozen=True)
class Lease:
    """One process's claims: its owner id, how long a claim holds, and its clock."""

    owner: str = field(default_factory=process_owner)
    seconds: float = LEASE_SECONDS
    clock: Clock = time.time

    def until(self) -> float:
        """The lease of a claim taken (or renewed) now."""
        return self.clock() + self.seconds

    def lapsed(self, owner: str | None, lease_until: float) -> bool:
        """Whether a claim held by ``owner`` until ``lease_until`` may be taken over now.

        Our own live claim is never lapsed before its lease: another thread of this process
        may be working on it right now."""
        return lease_until < self.clock() or owner_gone(owner)


_PROCESS_LEASE: Lease | None = None


def process_lease() -> Lease:
    """The lease every store of this process claims with by default (one owner id)."""
    global _PROCESS_LEASE
    if _PROCESS_LEASE is None or _PROCESS_LEASE.owner.split(":")[1] != str(os.getpid()):
        _PROCESS_LEASE = Lease()
    return _PROCESS_LEASE
