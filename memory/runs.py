"""Process runs: the durable state of each run of a process (an RPA workflow).

A run row holds the process name, its business reference (``REQ-00042``), who asked, its
status and its values (the inputs plus what steps collected). Each step has its own row that
moves ``started -> done | skipped | failed`` (or ``waiting`` for an approval, ``delivering``
while its mail waits in the outbox; the run is then ``waiting_delivery``): ``started`` is
written before a step's side effect and ``done`` after it, in the same transaction that
stores what the step produced, so a restart knows exactly which step may have half-happened.
Reference numbers come from a per-prefix counter taken in the transaction that creates the run.
"""

from __future__ import annotations

import builtins
import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from memory.clock import now_iso
from memory.db import Database
from memory.errors import NotFound
from memory.leases import Lease, process_lease

RunStatus = Literal[
    "running", "waiting_approval", "waiting_delivery", "done", "rejected", "cancelled", "failed"
]
StepStatus = Literal["started", "waiting", "delivering", "done", "skipped", "failed"]

# A run in one of these states will never move again.
FINAL_STATUSES: frozenset[str] = frozenset({"done", "rejected", "cancelled", "failed"})


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class StepRecord:
    """What is known about one step of one run."""

    step_id: str
    position: int
    status: StepStatus
    attempts: int
    result: Any
    action_id: str | None
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class ProcessRun:
    """One run of a process, as stored."""

    id: str
    process: str
    reference: str | None
    requester: str
    channel: str
    thread: str
    status: RunStatus
    values: dict[str, Any]
    current_step: str | None
    idempotency_key: str | None
    error: str | None
    created_at: str
    updated_at: str

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class Notice:
    """A message for the requester that a ``notify`` step (or the engine) left on a run."""

    run_id: str
    step_id: str
    message: str
    at: str


def _row_to_run(row: Any) -> ProcessRun:
    return ProcessRun(
        id=row["id"],
        process=row["process"],
        reference=row["reference"],
        requester=row["requester"],
        channel=row["channel"],
        thread=row["thread"],
        status=row["status"],
        values=json.loads(row["run_values"]),
        current_step=row["current_step"],
        idempotency_key=row["idempotency_key"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _row_to_step(row: Any) -> StepRecord:
    return StepRecord(
        step_id=row["step_id"],
        position=row["position"],
        status=row["status"],
        attempts=row["attempts"],
        result=json.loads(row["result"]) if row["result"] is not None else None,
        action_id=row["action_id"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


class RunStore:
    """Create, advance and read process runs in the state database."""

    def __init__(self, db: Database, lease: Lease | None = None) -> None:
        self.db = db
        self.lease = lease or process_lease()

    # ---- creating ------------------------------------------------------------------------
    def create(
        self,
        *,
        process: str,
        prefix: str | None,
        digits: int,
        requester: str,
        values: dict[str, Any],
        channel: str = "",
        thread: str = "",
        idempotency_key: str | None = None,
        min_number: int = 0,
    ) -> tuple[ProcessRun, bool]:
        """A new run (``(run, True)``), or the run this idempotency key already started.

        With a ``prefix`` the run gets its reference (``REQ-00042``) now; without one the
        reference is set later by ``set_reference`` (e.g. to the id of the form submission).

        ``min_number`` keeps new references above ids that already exist elsewhere (e.g. the
        demo rows of a sheet), so a reference never collides with a row it did not write.
        """
        with self.db.transaction() as conn:
            existing = self._by_key(conn, idempotency_key)
            if existing is not None:
                return existing, False
            reference = None
            if prefix is not None:
                number = self._next_number(conn, prefix, min_number)
                reference = f"{prefix}-{number:0{digits}d}"
            run_id = f"R-{secrets.token_hex(4)}"
            stamp = now_iso()
            inserted = conn.execute(
                "INSERT INTO process_runs (id, process, reference, requester, channel, thread,"
                " status, run_values, idempotency_key, created_at, updated_at, owner, lease_until)"
                " VALUES (?,?,?,?,?,?, 'running', ?,?,?,?,?,?)"
                " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                (
                    run_id, process, reference, requester, channel, thread,
                    _dumps({**values, "reference": reference} if reference else values),
                    idempotency_key, stamp, stamp, self.lease.owner, self.lease.until(),
                ),
            ).fetchone()  # fmt: skip
            if inserted is None:  # another replica started it meanwhile (we waited for it)
                found = self._by_key(conn, idempotency_key)
                if found is not None:
                    return found, False
        return self.get(run_id), True

    @staticmethod
    def _by_key(conn: Any, idempotency_key: str | None) -> ProcessRun | None:
        if idempotency_key is None:
            return None
        row = conn.execute(
            "SELECT * FROM process_runs WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        return None if row is None else _row_to_run(row)

    @staticmethod
    def _next_number(conn: Any, prefix: str, min_number: int) -> int:
        """The prefix's next number, taken atomically (the counter row stays locked until the
        transaction ends, so replicas creating runs at once get consecutive numbers)."""
        row = conn.execute(
            "INSERT INTO process_reference_counters (prefix, last) VALUES (?, ?)"
            " ON CONFLICT (prefix) DO UPDATE SET last = CASE"
            " WHEN process_reference_counters.last >= excluded.last"
            " THEN process_reference_counters.last + 1 ELSE excluded.last END"
            " RETURNING last",
            (prefix, min_number + 1),
        ).fetchone()
        return int(row[0])

    # ---- reading -------------------------------------------------------------------------
    def get(self, run_id: str) -> ProcessRun:
        with self.db.reading() as conn:
            row = conn.execute("SELECT * FROM process_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"no process run {run_id!r}")
        return _row_to_run(row)

    def find(self, run_id_or_reference: str) -> ProcessRun:
        """A run by its id (``R-…``) or its business reference (``REQ-00042``)."""
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT * FROM process_runs WHERE id = ? OR reference = ?",
                (run_id_or_reference, run_id_or_reference),
            ).fetchone()
        if row is None:
            raise NotFound(f"no process run {run_id_or_reference!r}")
        return _row_to_run(row)

    def list(
        self,
        *,
        status: tuple[str, ...] | None = None,
        process: str | None = None,
        requester: str | None = None,
        limit: int = 50,
    ) -> list[ProcessRun]:
        """The latest runs first, optionally in some states, of one process or one requester."""
        sql, params = "SELECT * FROM process_runs WHERE 1=1", []
        if status is not None:
            sql += f" AND status IN ({','.join('?' * len(status))})"
            params += list(status)
        for column, value in (("process", process), ("requester", requester)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        sql += " ORDER BY created_at DESC LIMIT ?"
        with self.db.reading() as conn:
            rows = conn.execute(sql, [*params, limit]).fetchall()
        return [_row_to_run(r) for r in rows]

    def steps(self, run_id: str) -> dict[str, StepRecord]:
        """Every step record of a run, keyed by step id, in step order."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT * FROM process_run_steps WHERE run_id = ? ORDER BY position", (run_id,)
            ).fetchall()
        return {r["step_id"]: _row_to_step(r) for r in rows}

    def approval_for(self, run_id: str, step_id: str) -> str | None:
        """The pending action an approval step of this run already created, if any."""
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT id FROM pending_actions WHERE run_id = ? AND step_id = ?"
                " ORDER BY created_at DESC LIMIT 1",
                (run_id, step_id),
            ).fetchone()
        return None if row is None else str(row["id"])

    # ---- advancing -----------------------------------------------------------------------
    def step_started(self, run_id: str, step_id: str, position: int) -> StepRecord:
        """Record that a step is about to run (again); returns its record with the attempt count."""
        stamp = now_iso()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO process_run_steps (run_id, step_id, position, status, attempts, started_at)"
                " VALUES (?, ?, ?, 'started', 1, ?)"
                " ON CONFLICT (run_id, step_id) DO UPDATE SET status='started',"
                " attempts = process_run_steps.attempts + 1, started_at = excluded.started_at",
                (run_id, step_id, position, stamp),
            )
            conn.execute(
                "UPDATE process_runs SET current_step = ?, updated_at = ? WHERE id = ?",
                (step_id, stamp, run_id),
            )
        return self.steps(run_id)[step_id]

    def step_finished(
        self,
        run_id: str,
        step_id: str,
        status: StepStatus,
        *,
        result: Any = None,
        values: dict[str, Any] | None = None,
        action_id: str | None = None,
        reference: str | None = None,
    ) -> None:
        """Close a step and merge what it collected into the run's values, atomically.

        ``reference`` names the run in the same transaction (the form step's submission id).
        """
        stamp = now_iso()
        with self.db.transaction() as conn:
            run = conn.execute(
                "SELECT run_values FROM process_runs WHERE id = ?" + self.db.dialect.for_update(),
                (run_id,),
            ).fetchone()
            if run is None:
                raise NotFound(f"no process run {run_id!r}")
            merged = {**json.loads(run["run_values"]), **(values or {})}
            if reference is not None:
                merged["reference"] = reference
                conn.execute(
                    "UPDATE process_runs SET reference = ? WHERE id = ?", (reference, run_id)
                )
            finished_at = None if status in ("waiting", "delivering") else stamp
            conn.execute(
                "UPDATE process_run_steps SET status = ?, result = ?, finished_at = ?,"
                " action_id = COALESCE(?, action_id) WHERE run_id = ? AND step_id = ?",
                (status, _dumps(result), finished_at, action_id, run_id, step_id),
            )
            conn.execute(
                "UPDATE process_runs SET run_values = ?, updated_at = ? WHERE id = ?",
                (_dumps(merged), stamp, run_id),
            )

    def set_reference(self, run_id: str, reference: str) -> None:
        """Name the run by its business reference and store it in its values as ``reference``."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT run_values FROM process_runs WHERE id = ?" + self.db.dialect.for_update(),
                (run_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"no process run {run_id!r}")
            merged = {**json.loads(row["run_values"]), "reference": reference}
            conn.execute(
                "UPDATE process_runs SET reference = ?, run_values = ?, updated_at = ? WHERE id = ?",
                (reference, _dumps(merged), now_iso(), run_id),
            )

    def set_status(
        self,
        run_id: str,
        status: RunStatus,
        *,
        error: str | None = None,
        only_from: tuple[str, ...] | None = None,
    ) -> bool:
        """Move a run to ``status``; with ``only_from`` only from those states (False otherwise)."""
        sql = "UPDATE process_runs SET status = ?, error = COALESCE(?, error), updated_at = ? WHERE id = ?"
        params: list[Any] = [status, error, now_iso(), run_id]
        if only_from is not None:
            sql += f" AND status IN ({','.join('?' * len(only_from))})"
            params += list(only_from)
        with self.db.transaction() as conn:
            cur = conn.execute(sql, params)
            found = conn.execute("SELECT 1 FROM process_runs WHERE id = ?", (run_id,)).fetchone()
        if found is None:
            raise NotFound(f"no process run {run_id!r}")
        return cur.rowcount == 1

    # ---- who advances a run ----------------------------------------------------------------
    def hold(self, run_id: str) -> bool:
        """Take (or keep) the lease of a run this process is about to advance; False when a
        live replica holds it (it advances the run; this one leaves it alone)."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT owner, lease_until FROM process_runs WHERE id = ?"
                + self.db.dialect.for_update(),
                (run_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"no process run {run_id!r}")
            mine = row["owner"] in (None, self.lease.owner)
            if not mine and not self.lease.lapsed(row["owner"], row["lease_until"]):
                return False
            conn.execute(
                "UPDATE process_runs SET owner = ?, lease_until = ? WHERE id = ?",
                (self.lease.owner, self.lease.until(), run_id),
            )
        return True

    def renew(self, run_id: str) -> bool:
        """Push this process's lease on a run forward (between steps); False if it lost it."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE process_runs SET lease_until = ? WHERE id = ? AND owner = ?",
                (self.lease.until(), run_id, self.lease.owner),
            )
            return cur.rowcount == 1

    def let_go(self, run_id: str) -> None:
        """Give the run's lease up (it stopped, waits for a person, or ended)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE process_runs SET owner = NULL, lease_until = 0 WHERE id = ? AND owner = ?",
                (run_id, self.lease.owner),
            )

    def abandoned(self) -> builtins.list[ProcessRun]:
        """Running runs no other live replica advances: no owner, an owner that died or let
        its lease lapse, or this process (whose engine knows which of its own it is advancing)."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT * FROM process_runs WHERE status = 'running' ORDER BY created_at"
            ).fetchall()
        return [
            _row_to_run(r)
            for r in rows
            if r["owner"] in (None, self.lease.owner)
            or self.lease.lapsed(r["owner"], r["lease_until"])
        ]

    # ---- notices -------------------------------------------------------------------------
    def add_notice(self, run_id: str, step_id: str, message: str) -> bool:
        """Store a message for the requester once per step; False when it was already stored."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO process_run_notices (run_id, step_id, message, at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (run_id, step_id) DO NOTHING",
                (run_id, step_id, message, now_iso()),
            )
        return cur.rowcount == 1

    def notices(self, run_id: str) -> builtins.list[Notice]:
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT * FROM process_run_notices WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()
        return [Notice(r["run_id"], r["step_id"], r["message"], r["at"]) for r in rows]
