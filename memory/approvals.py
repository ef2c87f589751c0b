"""Pending actions: side effects that wait for a human, bound to their exact arguments.

The model never holds the keys. A write or external tool call (or a process step that needs a
role's approval) becomes a ``PendingAction`` row with the canonical JSON of its arguments and
their hash. A decision is accepted once, only from a permitted approver, only before expiry,
and only for the arguments it was shown (an edit stores a new argument set, and that set is
what runs). Least privilege: an action without a role acts on the requester's own behalf and
only the requester confirms it; an action with a role is decided by a holder of that role who
is not the requester (nobody approves their own write to a shared ledger or their own claim).
Execution is claimed in a transaction (``approved -> executing``, with this process as owner
and a lease) so it happens once, on one replica; ``recoverable()`` lists what a crash left
approved, or executing under an owner that died or whose lease ran out. An executed action whose mail
still waits in the outbox is ``delivering`` until the outbox settles it (``settle``).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from memory.clock import now_iso
from memory.db import Database
from memory.errors import ApprovalError, NotFound
from memory.leases import Lease, process_lease

Status = Literal[
    "pending", "approved", "executing", "delivering", "done", "failed", "rejected", "expired",
    "unknown", "superseded",
]  # fmt: skip
Decision = Literal["approve", "reject"]


def canonical_json(value: Any) -> str:
    """The one serialisation an approval is bound to (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def args_hash(arguments: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(arguments).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PendingAction:
    id: str
    tool: str
    arguments: dict[str, Any]
    args_hash: str
    summary: str
    requester: str
    channel: str
    thread: str
    role: str | None
    citations: list[dict[str, Any]]
    run_id: str | None
    step_id: str | None
    status: Status
    created_at: str
    expires_at: str
    decided_by: str | None = None
    decided_at: str | None = None
    edited: bool = False
    result: Any = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def expired(self) -> bool:
        return self.status == "pending" and self.expires_at < now_iso()


def _row_to_action(row: Any) -> PendingAction:
    return PendingAction(
        id=row["id"],
        tool=row["tool"],
        arguments=json.loads(row["arguments"]),
        args_hash=row["args_hash"],
        summary=row["summary"],
        requester=row["requester"],
        channel=row["channel"],
        thread=row["thread"],
        role=row["role"],
        citations=json.loads(row["citations"]),
        run_id=row["run_id"],
        step_id=row["step_id"],
        status=row["status"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        edited=bool(row["edited"]),
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
    )


class ApprovalStore:
    """Create, decide, claim and finish pending actions in the state database."""

    def __init__(
        self, db: Database, ttl: timedelta = timedelta(hours=24), lease: Lease | None = None
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.lease = lease or process_lease()

    # ---- creating and reading ------------------------------------------------------------
    def create(
        self,
        *,
        tool: str,
        arguments: dict[str, Any],
        summary: str,
        requester: str,
        channel: str = "",
        thread: str = "",
        role: str | None = None,
        citations: Iterable[dict[str, Any]] = (),
        run_id: str | None = None,
        step_id: str | None = None,
    ) -> PendingAction:
        action_id = f"A-{secrets.token_hex(4)}"
        created = datetime.now(UTC)
        expires = (created + self.ttl).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO pending_actions (id, tool, arguments, args_hash, summary, requester,"
                " channel, thread, role, citations, run_id, step_id, status, created_at, expires_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?, 'pending', ?, ?)",
                (
                    action_id,
                    tool,
                    canonical_json(arguments),
                    args_hash(arguments),
                    summary,
                    requester,
                    channel,
                    thread,
                    role,
                    canonical_json(list(citations)),
                    run_id,
                    step_id,
                    created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    expires,
                ),
            )
        return self.get(action_id)

    def get(self, action_id: str) -> PendingAction:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT * FROM pending_actions WHERE id = ?", (action_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"no pending action {action_id!r}")
        return _row_to_action(row)

    def list(
        self,
        *,
        status: Iterable[str] | None = None,
        channel: str | None = None,
        thread: str | None = None,
        limit: int = 50,
    ) -> list[PendingAction]:
        sql = "SELECT * FROM pending_actions WHERE 1=1"
        params: list[Any] = []
        if status is not None:
            wanted = list(status)
            sql += f" AND status IN ({','.join('?' * len(wanted))})"
            params += wanted
        if channel is not None:
            sql += " AND channel = ?"
            params.append(channel)
        if thread is not None:
            sql += " AND thread = ?"
            params.append(thread)
        sql += " ORDER BY created_at DESC LIMIT ?"
        params.append(limit)
        with self.db.reading() as conn:
            return [_row_to_action(r) for r in conn.execute(sql, params).fetchall()]

    def may_decide(self, action: PendingAction, user: str, user_roles: Iterable[str]) -> bool:
        """Only the requester confirms an action on their own behalf (no role); an action that
        needs a role needs a holder of it other than the requester."""
        if action.role:
            return action.role in set(user_roles) and user != action.requester
        return user == action.requester

    # ---- deciding ----------------------------------------------------------------------
    def decide(
        self,
        action_id: str,
        user: str,
        decision: Decision,
        *,
        user_roles: Iterable[str] = (),
        arguments: dict[str, Any] | None = None,
        expected_hash: str | None = None,
    ) -> PendingAction:
        """Approve (optionally with edited arguments) or reject, once. Refusals are logged."""
        roles = list(user_roles)
        with self.db.transaction() as conn:
            # The row lock makes two replicas' decisions on one action take turns.
            row = conn.execute(
                "SELECT * FROM pending_actions WHERE id = ?" + self.db.dialect.for_update(),
                (action_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"no pending action {action_id!r}")
            action = _row_to_action(row)
            reason = self._refusal(action, user, roles, expected_hash)
            if reason:  # recorded (committed) even though the caller sees an error
                self._log(conn, action_id, user, decision, False, reason)
                if reason.startswith("expired"):
                    conn.execute(
                        "UPDATE pending_actions SET status='expired' WHERE id=?", (action_id,)
                    )
            else:
                self._accept(conn, action, user, decision, arguments)
        if reason:
            raise ApprovalError(reason)
        return self.get(action_id)

    def _accept(
        self,
        conn: Any,
        action: PendingAction,
        user: str,
        decision: Decision,
        arguments: dict[str, Any] | None,
    ) -> None:
        """Record an accepted decision (the row is locked by the caller's transaction)."""
        new_args = action.arguments if arguments is None else arguments
        edited = arguments is not None and canonical_json(arguments) != canonical_json(
            action.arguments
        )
        conn.execute(
            "UPDATE pending_actions SET status=?, decided_by=?, decided_at=?, arguments=?,"
            " args_hash=?, edited=? WHERE id=? AND status='pending'",
            (
                "approved" if decision == "approve" else "rejected", user, now_iso(),
                canonical_json(new_args), args_hash(new_args), int(edited), action.id,
            ),
        )  # fmt: skip
        self._log(conn, action.id, user, decision, True, "edited" if edited else "")

    def _refusal(
        self, action: PendingAction, user: str, roles: builtins.list[str], expected_hash: str | None
    ) -> str:
        if action.status != "pending":
            who = f" by {action.decided_by}" if action.decided_by else ""
            return f"action {action.id} was already {action.status}{who}"
        if action.expires_at < now_iso():
            return f"expired: action {action.id} expired at {action.expires_at}"
        if action.role and user == action.requester:
            return (
                f"{user} may not decide action {action.id}: nobody approves their own request; "
                f"it needs someone else with the {action.role!r} role"
            )
        if not self.may_decide(action, user, roles):
            needed = (
                f"the {action.role!r} role"
                if action.role
                else f"the requester ({action.requester})"
            )
            return f"{user} may not decide action {action.id}: it needs {needed}"
        if expected_hash is not None and expected_hash != action.args_hash:
            return f"action {action.id} changed since it was shown; look at it again"
        return ""

    def _log(
        self, conn: Any, action_id: str, user: str, decision: str, accepted: bool, reason: str
    ) -> None:
        conn.execute(
            'INSERT INTO approval_log (action_id, "user", decision, accepted, reason, at)'
            " VALUES (?,?,?,?,?,?)",
            (action_id, user, decision, int(accepted), reason, now_iso()),
        )

    def decisions(self, action_id: str) -> builtins.list[dict[str, Any]]:
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT * FROM approval_log WHERE action_id=? ORDER BY seq", (action_id,)
            ).fetchall()
        return [dict(r) for r in rows]

    # ---- executing exactly once ----------------------------------------------------------
    def claim(self, action_id: str, *, recovering: bool = False) -> PendingAction | None:
        """Move ``approved -> executing`` under this process's lease; None when it is taken.

        With ``recovering`` an action left ``executing`` is claimed again once its owner died
        or its lease ran out (never while a live owner's lease holds): its tool runs with the
        action id as idempotency key, so a repeat is recognised downstream.
        """
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT status, owner, lease_until FROM pending_actions WHERE id = ?"
                + self.db.dialect.for_update(),
                (action_id,),
            ).fetchone()
            takeover = (
                recovering
                and row is not None
                and row["status"] == "executing"
                and self.lease.lapsed(row["owner"], row["lease_until"])
            )
            if row is None or not (row["status"] == "approved" or takeover):
                return None
            conn.execute(
                "UPDATE pending_actions SET status='executing', owner=?, lease_until=? WHERE id=?",
                (self.lease.owner, self.lease.until(), action_id),
            )
        return self.get(action_id)

    def finish(
        self,
        action_id: str,
        *,
        ok: bool,
        result: Any = None,
        error: str | None = None,
        settled: bool = True,
    ) -> PendingAction:
        """Record the outcome of an execution; ``settled=False``: ``delivering`` (its mail is
        queued, not sent) until ``settle`` closes it."""
        status = ("done" if settled else "delivering") if ok else "failed"
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE pending_actions SET status=?, result=?, error=?, finished_at=?, owner=NULL,"
                " lease_until=0 WHERE id=?",
                (status, canonical_json(result), error, now_iso(), action_id),
            )
        return self.get(action_id)

    def settle(
        self,
        action_id: str,
        status: Literal["done", "failed", "unknown"],
        *,
        note: str,
        only_from: tuple[str, ...] = ("delivering", "unknown"),
    ) -> bool:
        """Move an action whose mail was waiting to ``status`` once; False if it had moved."""
        column = "error" if status != "done" else "result"
        with self.db.transaction() as conn:
            cur = conn.execute(
                f"UPDATE pending_actions SET status=?, {column}=?, finished_at=? WHERE id=?"
                f" AND status IN ({','.join('?' * len(only_from))})",
                (status, note if column == "error" else canonical_json(note), now_iso(),
                 action_id, *only_from),
            )  # fmt: skip
            return cur.rowcount == 1

    def recoverable(self) -> builtins.list[PendingAction]:
        """Actions a crash interrupted: approved but not run, or running under an owner that
        died or let its lease run out (a live replica's running action is left to it)."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT * FROM pending_actions WHERE status IN ('approved', 'executing')"
                " ORDER BY created_at LIMIT 1000"
            ).fetchall()
        return [
            _row_to_action(r)
            for r in rows
            if r["status"] == "approved" or self.lease.lapsed(r["owner"], r["lease_until"])
        ]

    def supersede(self, action_ids: Iterable[str]) -> int:
        """Withdraw actions still pending (a corrected proposal replaced them); they never run."""
        wanted = list(action_ids)
        if not wanted:
            return 0
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE pending_actions SET status='superseded', decided_at=?"
                f" WHERE status='pending' AND id IN ({','.join('?' * len(wanted))})",
                (now_iso(), *wanted),
            )
            return cur.rowcount

    def expire_overdue(self) -> int:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE pending_actions SET status='expired' WHERE status='pending' AND expires_at < ?",
                (now_iso(),),
            )
            return cur.rowcount
