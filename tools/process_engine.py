"""The process engine: starts runs, moves them step by step, and resumes them after a crash.

A run's progress lives in ``memory.runs``: before a step acts, its record says ``started``;
after, ``done`` together with what it collected. ``advance`` walks the steps and skips those
already done, so running it again after a crash never repeats a completed step (a step cut off
half-way is retried with the same idempotency key; see ``tools.process_steps``). An approval
step parks the run in ``waiting_approval``; ``resume_after_decision`` continues it once a
person decided (a rejection runs the process's ``on_reject`` steps and ends ``rejected``).
An email step whose message is still queued parks the run in ``waiting_delivery``: nothing
after it runs and nobody is told it is done until the outbox has delivered it;
``resume_deliveries`` (start-up and the housekeeper) continues it then. ``recover`` is called
at start-up and by the housekeeper. Several replicas may share the runs: a replica advances a
run only while it holds the run's lease (``RunStore.hold``, renewed before every step), so
exactly one advances it, and a run whose replica died is taken over once its lease lapsed. Tests stop a run at step boundaries through the ``on_step_applied`` /
``on_step_done`` hooks, which production leaves unset.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from memory.approvals import ApprovalStore
from memory.errors import ConfigError, NotFound, PolicyDenied, RpaError, ToolArgumentError
from memory.outbox import OutboxMessage
from memory.runs import ProcessRun, RunStore, StepRecord
from tools.email_outbox import Outbox
from tools.forms import FormDefinition, load_forms, validate_values
from tools.process_checks import check_workspace_references
from tools.process_defs import FormStep, ProcessDef, read_processes
from tools.process_report import ProcessDescription, RunReport, describe_process
from tools.process_steps import NotifyRequester, StepOutcome, StepRunner, scope
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)

StepHook = Callable[[str, str], None]  # (run_id, step_id)
Signal = Literal["next", "stop", "rejected"]


@dataclass(frozen=True)
class StartOutcome:
    """What a surface shows after a person asked to start a run."""

    run_id: str | None
    message: str
    errors: dict[str, str] = field(default_factory=dict)
    status: str = ""


class ProcessEngine:
    """Runs the workspace's processes durably over the tool registry."""

    def __init__(
        self,
        runs: RunStore,
        workspace: Path,
        *,
        registry: ToolRegistry | None = None,
        approvals: ApprovalStore | None = None,
        processes: Mapping[str, ProcessDef] | None = None,
        forms: Mapping[str, FormDefinition] | None = None,
        notify_requester: NotifyRequester | None = None,
        on_step_applied: StepHook | None = None,
        on_step_done: StepHook | None = None,
    ) -> None:
        self.runs = runs
        self.workspace = Path(workspace)
        self._processes = dict(processes) if processes is not None else None
        self._forms = dict(forms) if forms is not None else None
        self.steps = StepRunner(registry, approvals, runs, self.workspace, notify_requester)
        self.on_step_applied = on_step_applied
        self.on_step_done = on_step_done
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.outbox: Outbox | None = None  # where its email steps' messages wait (attached)
        self.problems: list[str] = []  # process files disabled at load, each naming file and line

    @property
    def approvals(self) -> ApprovalStore:
        if self.steps.approvals is None:
            raise ConfigError("the process engine has no approval store attached")
        return self.steps.approvals

    def attach(self, registry: ToolRegistry) -> None:
        """Give the engine its registry when the registry is built after it (it holds the
        process tools, which hold the engine)."""
        self.steps.registry = registry

    def attach_outbox(self, outbox: Outbox) -> None:
        """The outbox the email steps send through, so a run can wait for its delivery."""
        self.outbox = outbox

    def attach_approvals(self, approvals: ApprovalStore) -> None:
        """Give the engine the approval store (the wiring builds that one after the tools)."""
        self.steps.approvals = approvals

    def set_notifier(self, notify_requester: NotifyRequester | None) -> None:
        """Where messages for a requester go besides the run's stored notices (a surface)."""
        self.steps.notify_requester = notify_requester

    # ---- definitions -------------------------------------------------------------------------
    def definitions(self) -> dict[str, ProcessDef]:
        """Every usable process of the workspace, by name (loaded and checked once).

        A file that does not parse, or names a sheet, tab, column, form or template the
        workspace lacks, is left out; ``problems`` says why, with its file and line."""
        if self._processes is None:
            loaded, problems = read_processes(self.workspace)
            checked = check_workspace_references(loaded, self.workspace, self.forms())
            self._processes = {n: p for n, p in loaded.items() if n not in checked}
            self.problems = problems + list(checked.values())
            for problem in self.problems:
                log.warning("process disabled: %s", problem)
        return self._processes

    def forms(self) -> dict[str, FormDefinition]:
        if self._forms is None:
            self._forms = load_forms(self.workspace)
        return self._forms

    def definition(self, name: str) -> ProcessDef:
        found = self.definitions().get(name.strip())
        if found is None:
            known = ", ".join(sorted(self.definitions())) or "none"
            raise NotFound(f"no process named {name!r} (processes: {known})")
        return found

    def describe(self, name: str) -> ProcessDescription:
        """What ``/run NAME`` shows: the process, its steps, and the form fields it needs."""
        process = self.definition(name)
        form = self.forms().get(process.form) if process.form else None
        return describe_process(process, form)

    # ---- starting ----------------------------------------------------------------------------
    def start(
        self,
        name: str,
        inputs: Mapping[str, Any],
        *,
        requester: str,
        channel: str = "",
        thread: str = "",
        idempotency_key: str | None = None,
    ) -> ProcessRun:
        """Validate ``inputs`` and start a run (once per idempotency key), then advance it.

        Bad inputs raise ``ToolArgumentError`` naming every bad field; nothing is stored then.
        """
        process = self.definition(name)
        values = self._validated(process, inputs)
        prefix = None if process.takes_reference_from_form else process.reference.prefix
        run, created = self.runs.create(
            process=process.name, prefix=prefix, digits=process.reference.digits,
            requester=requester, values=values, channel=channel, thread=thread,
            idempotency_key=idempotency_key,
        )  # fmt: skip
        if not created:
            log.info("run %s already started under key %r", run.id, idempotency_key)
        return self.advance(run.id)

    def start_from_surface(
        self,
        name: str,
        inputs: Mapping[str, Any],
        *,
        requester: str,
        channel: str = "",
        thread: str = "",
        idempotency_key: str | None = None,
    ) -> StartOutcome:
        """``start`` for a form a person filled in: problems come back as ``errors``."""
        try:
            run = self.start(
                name, inputs, requester=requester, channel=channel, thread=thread,
                idempotency_key=idempotency_key,
            )  # fmt: skip
        except ToolArgumentError as exc:
            return StartOutcome(None, str(exc), dict(exc.errors) or {"inputs": str(exc)})
        return StartOutcome(run.id, self.report(run.id).headline(), status=run.status)

    def validate(self, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The clean inputs of process ``name``; ``ToolArgumentError`` names every bad field."""
        return self._validated(self.definition(name), inputs)

    def _validated(self, process: ProcessDef, inputs: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(inputs, Mapping):
            raise ToolArgumentError("the inputs must be a mapping of field -> value")
        if process.form is None:
            return dict(inputs)
        form = self.forms().get(process.form)
        if form is None:
            raise ConfigError(f"process {process.name!r} names unknown form {process.form!r}")
        clean, errors = validate_values(form, inputs)
        if errors:
            raise ToolArgumentError(f"the {form.title} form has problems", errors)
        return {**clean, "_inputs": sorted(clean)}

    # ---- advancing ---------------------------------------------------------------------------
    def advance(self, run_id: str) -> ProcessRun:
        """Run every step that is not done yet, until the run ends or waits for a person."""
        with self._lock_for(run_id):
            run = self.runs.get(run_id)
            if run.status != "running":
                return run
            if not self.runs.hold(run_id):
                log.info("run %s is being advanced by another replica", run_id)
                return run
            try:
                return self._advance_held(run)
            finally:
                self.runs.let_go(run_id)

    def _advance_held(self, run: ProcessRun) -> ProcessRun:
        process = self.definition(run.process)
        rejected = bool(run.values.get("_rejected"))
        if not rejected and self._walk(process, run.id, process.steps, 0) == "stop":
            return self.runs.get(run.id)
        return self._finish(process, run.id)

    def _finish(self, process: ProcessDef, run_id: str) -> ProcessRun:
        run = self.runs.get(run_id)
        if not run.values.get("_rejected"):
            self.runs.set_status(run_id, "done", only_from=("running",))
            return self.runs.get(run_id)
        if self._walk(process, run_id, process.on_reject, len(process.steps)) == "stop":
            return self.runs.get(run_id)
        if self.runs.set_status(run_id, "rejected", only_from=("running",)):
            who = run.values.get("rejected_by") or "nobody in time (the approval expired)"
            self.steps.tell(run, "rejected", f"{_name(process, run)} was rejected by {who}.")
        return self.runs.get(run_id)

    def _walk(self, process: ProcessDef, run_id: str, steps: Sequence[Any], offset: int) -> Signal:
        for position, step in enumerate(steps, start=offset):
            signal = self._advance_step(process, run_id, position, step)
            if signal != "next":
                return signal
        return "next"

    def _advance_step(self, process: ProcessDef, run_id: str, position: int, step: Any) -> Signal:
        record = self.runs.steps(run_id).get(step.id)
        if record is not None and record.status in ("done", "skipped"):
            return "next"
        if not self.runs.renew(run_id):  # the lease lapsed and another replica took the run
            log.warning("run %s: another replica took it over; this one stops", run_id)
            return "stop"
        run = self.runs.get(run_id)
        if run.status != "running":  # cancelled meanwhile
            return "stop"
        if record is not None and record.status == "waiting":
            return self._settle_approval(process, run, step, record)
        if record is not None and record.status == "delivering":
            return self._settle_delivery(process, run, step)
        condition = step.condition
        if condition is not None and not condition.evaluate(scope(run)):
            self.runs.step_started(run_id, step.id, position)
            self.runs.step_finished(run_id, step.id, "skipped", result={"when": step.when})
            self._hook(self.on_step_done, run_id, step.id)
            return "next"
        record = self.runs.step_started(run_id, step.id, position)
        return self._apply(process, run, step, record, position)

    def _apply(
        self, process: ProcessDef, run: ProcessRun, step: Any, record: StepRecord, position: int
    ) -> Signal:
        try:
            outcome = self.steps.run(process, run, step, record)
        except RpaError as exc:  # a broken template or sheet: the run stops and says why
            outcome = StepOutcome("failed", error=str(exc))
        if outcome.status == "waiting":
            self.runs.step_finished(run.id, step.id, "waiting", action_id=outcome.action_id)
            self.runs.set_status(run.id, "waiting_approval", only_from=("running",))
            return "stop"
        self._hook(self.on_step_applied, run.id, step.id)
        if outcome.status == "delivering":
            self.runs.step_finished(run.id, step.id, "delivering", result=outcome.result)
            return self._settle_delivery(process, run, step)
        if outcome.status == "failed":
            self.runs.step_finished(run.id, step.id, "failed", result={"error": outcome.error})
            self.runs.set_status(run.id, "failed", error=outcome.error, only_from=("running",))
            message = f"{_name(process, run)} stopped at step {step.id!r}: {outcome.error}"
            self.steps.tell(run, f"failed:{step.id}", message)
            return "stop"
        reference = None
        if position == 0 and isinstance(step, FormStep) and process.takes_reference_from_form:
            reference = outcome.values.get("submission_id")
        self.runs.step_finished(
            run.id,
            step.id,
            "done",
            result=outcome.result,
            values=outcome.values,
            reference=reference,
        )
        self._hook(self.on_step_done, run.id, step.id)
        return "next"

    def _settle_approval(
        self, process: ProcessDef, run: ProcessRun, step: Any, record: StepRecord
    ) -> Signal:
        action = self.approvals.get(str(record.action_id))
        decision, by = self.steps.decision(action)
        if decision == "pending":
            self.runs.set_status(run.id, "waiting_approval", only_from=("running",))
            return "stop"
        values: dict[str, Any] = {f"{step.id}_by": by}
        if decision == "approved":
            values["approved_by"] = by
        else:
            values.update({"rejected_by": by, "_rejected": True})
        # Closed before the step is recorded: a crash between the two finds the step waiting
        # on an action that is done, which reads as the same decision.
        self.steps.close_action(action.id, run.id)
        self.runs.step_finished(
            run.id, step.id, "done", result={"decision": decision, "by": by, "action": action.id},
            values=values,
        )  # fmt: skip
        self._hook(self.on_step_done, run.id, step.id)
        return "next" if decision == "approved" else "rejected"

    def _settle_delivery(self, process: ProcessDef, run: ProcessRun, step: Any) -> Signal:
        """An email step whose message was queued: done once sent, else the run waits."""
        msg = self.outbox.store.by_key(f"{run.id}:{step.id}") if self.outbox else None
        if msg is not None and msg.status == "sent":
            self.runs.step_finished(run.id, step.id, "done", result=_sent(msg))
            self._hook(self.on_step_done, run.id, step.id)
            return "next"
        if msg is not None and msg.status == "failed":
            error = (
                f"the email to {', '.join(msg.recipients)} could not be delivered: {msg.last_error}"
            )
            self.runs.step_finished(run.id, step.id, "failed", result={"error": error})
            self.runs.set_status(run.id, "failed", error=error, only_from=("running",))
            self.steps.tell(run, f"failed:{step.id}", f"{_name(process, run)} stopped: {error}")
            return "stop"
        self.runs.set_status(run.id, "waiting_delivery", only_from=("running",))
        self.steps.tell(run, f"{step.id}:queued", _waiting_words(process, run, msg))
        if msg is not None and msg.status == "unknown":
            self.steps.tell(run, f"{step.id}:unconfirmed", _unconfirmed_words(process, run, msg))
        return "stop"

    def resume_deliveries(self) -> list[ProcessRun]:
        """Continue runs whose queued email has been delivered (or has failed) since."""
        resumed = []
        for run in self.runs.list(status=("waiting_delivery",), limit=10_000):
            if not self._delivery_moved(run):
                continue
            if self.runs.set_status(run.id, "running", only_from=("waiting_delivery",)):
                resumed.append(self.advance(run.id))
        return resumed

    def _delivery_moved(self, run: ProcessRun) -> bool:
        """Whether the run's queued email has news: sent, failed, or newly unconfirmed."""
        told = {n.step_id for n in self.runs.notices(run.id)}
        for record in self.runs.steps(run.id).values():
            msg = self.outbox.store.by_key(f"{run.id}:{record.step_id}") if self.outbox else None
            if record.status != "delivering" or msg is None:
                continue
            if msg.status in ("sent", "failed"):
                return True
            if msg.status == "unknown" and f"{record.step_id}:unconfirmed" not in told:
                return True
        return False

    # ---- approvals, recovery, cancelling -----------------------------------------------------
    def resume_after_decision(self, action_id: str) -> ProcessRun:
        """A person decided a process approval: continue (approved) or wind down (rejected)."""
        action = self.approvals.get(action_id)
        if action.run_id is None:
            raise NotFound(f"action {action_id!r} belongs to no process run")
        run = self.runs.get(action.run_id)
        if run.finished:  # e.g. cancelled while the approval waited: nothing may happen now
            self.steps.close_action(action_id, run.id)
            return run
        self.runs.set_status(run.id, "running", only_from=("waiting_approval",))
        return self.advance(run.id)

    def recover(self) -> list[ProcessRun]:
        """At start-up and in housekeeping: finish runs a crash left ``running`` (their
        replica died or let its lease lapse), runs whose approval was decided, and runs whose
        queued email has been delivered since."""
        idle = [run for run in self.runs.abandoned() if not self._lock_for(run.id).locked()]
        resumed = [self.advance(run.id) for run in idle]
        resumed += self.resume_deliveries()
        for run in self.runs.list(status=("waiting_approval",), limit=10_000):
            waiting = [r for r in self.runs.steps(run.id).values() if r.status == "waiting"]
            if waiting and waiting[0].action_id:
                action = self.approvals.get(waiting[0].action_id)
                if self.steps.decision(action)[0] != "pending":
                    resumed.append(self.resume_after_decision(action.id))
        return resumed

    def retry(self, run_id: str) -> ProcessRun:
        """Run a failed run again from the step that failed (after its cause was fixed)."""
        run = self.runs.find(run_id)
        if not self.runs.set_status(run.id, "running", only_from=("failed",)):
            raise ToolArgumentError(f"run {run.id!r} is {run.status}, not failed")
        return self.advance(run.id)

    def cancel(self, run_id: str, user: str, roles: Iterable[str] = ()) -> ProcessRun:
        """Stop a run that has not finished; only its requester or an admin may."""
        run = self.runs.find(run_id)
        if user != run.requester and "admin" not in set(roles):
            raise PolicyDenied(f"{user} may not cancel run {run.id!r} of {run.requester}")
        active = ("running", "waiting_approval", "waiting_delivery")
        if not self.runs.set_status(run.id, "cancelled", only_from=active):
            raise ToolArgumentError(f"run {run.id!r} is already {self.runs.get(run.id).status}")
        process = self.definitions().get(run.process)
        name = _name(process, run) if process else run.id
        self.steps.tell(run, "cancelled", f"{name} was cancelled by {user}.")
        return self.runs.get(run.id)

    # ---- reading -----------------------------------------------------------------------------
    def report(self, run_id: str) -> RunReport:
        """A run with its steps, notices and the approval it waits for (id or reference)."""
        run = self.runs.find(run_id)
        steps = list(self.runs.steps(run.id).values())
        waiting = next((s for s in steps if s.status == "waiting" and s.action_id), None)
        action = self.approvals.get(str(waiting.action_id)) if waiting else None
        process = self.definitions().get(run.process)
        return RunReport(run, steps, self.runs.notices(run.id), action, process)

    def describe_run(self, run_id: str) -> str:
        """The run's status in a few lines (``NotFound`` for an unknown id)."""
        return self.report(run_id).text()

    def list_runs(
        self,
        *,
        requester: str | None = None,
        status: tuple[str, ...] | None = None,
        limit: int = 50,
    ) -> list[ProcessRun]:
        return self.runs.list(requester=requester, status=status, limit=limit)

    # ---- helpers -------------------------------------------------------------------------------
    def _lock_for(self, run_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(run_id, threading.Lock())

    @staticmethod
    def _hook(hook: StepHook | None, run_id: str, step_id: str) -> None:
        if hook is not None:
            hook(run_id, step_id)


def _name(process: ProcessDef | None, run: ProcessRun) -> str:
    title = process.title if process else run.process
    return f"{title} {run.reference or run.id}"


def _sent(msg: OutboxMessage) -> dict[str, Any]:
    return {"outbox_id": msg.id, "message_id": msg.message_id, "status": msg.status}


def _waiting_words(process: ProcessDef, run: ProcessRun, msg: OutboxMessage | None) -> str:
    to = ", ".join(msg.recipients) if msg else "its recipients"
    return (
        f"{_name(process, run)} is not complete yet: the email to {to} is queued because the "
        "mail server did not take it yet. It is retried automatically and the process "
        "continues once it has gone out."
    )


def _unconfirmed_words(process: ProcessDef, run: ProcessRun, msg: OutboxMessage) -> str:
    return (
        f"{_name(process, run)} waits: the mail server did not confirm the email to "
        f"{', '.join(msg.recipients)} (message {msg.id}). An admin must check whether it "
        f"arrived (rpa-agent outbox --retry {msg.id} if not); the process continues after that."
    )
