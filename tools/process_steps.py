"""What each step type of a process does, through the tool registry (so every step is audited).

``StepRunner.run`` turns one step of one run into tool calls and returns a ``StepOutcome``
(done, waiting for an approval, waiting for its mail to be delivered, or failed) with the
values the step collected. Every call carries the idempotency key ``"{run_id}:{step_id}"``:
``submit_form``, ``send_email`` and the sheet writes recognise a repeat by it, and the audit
records it with the approval that governs the step (the latest approval step before it, or the
run's own start) and the person who decided it. A document lookup keeps its citations (title,
path, section), never the passage text: approval cards show documents as links. Approval steps
create a ``PendingAction`` bound to the run and step, decided by a holder of the step's role
other than the requester; the engine resumes the run when a person decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from memory.approvals import ApprovalStore, PendingAction
from memory.errors import ConfigError, NotFound
from memory.runs import ProcessRun, RunStore, StepRecord
from tools.process_defs import (
    AppendRowStep,
    ApprovalStep,
    EmailStep,
    FormStep,
    LookupDocsStep,
    NotifyStep,
    ProcessDef,
    ReadSheetStep,
    UpdateRowStep,
    render,
)
from tools.registry import ToolContext, ToolRegistry, ToolResult

log = logging.getLogger(__name__)

# The ``tool`` of a process approval's PendingAction: nothing executes it; the engine reads
# the decision (``ProcessEngine.resume_after_decision``) and moves the run on.
PROCESS_APPROVAL_TOOL = "process_approval"

NotifyRequester = Callable[[ProcessRun, str], None]
Decision = Literal["pending", "approved", "rejected"]


@dataclass(frozen=True)
class StepOutcome:
    """What one attempt at a step came to (``delivering``: its mail is queued, not sent)."""

    status: Literal["done", "waiting", "delivering", "failed"]
    result: Any = None
    values: dict[str, Any] = field(default_factory=dict)
    action_id: str | None = None
    error: str | None = None


def scope(run: ProcessRun) -> dict[str, Any]:
    """What a step's templates and conditions see: the run's values plus a few facts about it."""
    return {
        **run.values,
        "requester": run.requester,
        "run_id": run.id,
        "process": run.process,
        "today": date.today().isoformat(),
    }


def visible(values: dict[str, Any]) -> dict[str, Any]:
    """Values without the engine's own bookkeeping (names starting with ``_``)."""
    return {k: v for k, v in values.items() if not k.startswith("_")}


def decision_values(values: dict[str, Any]) -> dict[str, Any]:
    """What an approver decides on: the form's inputs, the reference and earlier decisions
    (``*_by``); never what steps looked up (passages, sheet rows)."""
    inputs = set(values.get("_inputs") or ())
    return {
        k: v
        for k, v in visible(values).items()
        if k in inputs or k == "reference" or k.endswith("_by")
    }


def _addresses(text: str) -> list[str]:
    return [a.strip() for a in text.replace(";", ",").split(",") if a.strip()]


def _failed(result: ToolResult) -> StepOutcome:
    return StepOutcome("failed", result={"tool": result.tool}, error=result.content)


class StepRunner:
    """Runs single steps; knows the registry, the approval store and the workspace."""

    def __init__(
        self,
        registry: ToolRegistry | None,
        approvals: ApprovalStore | None,
        runs: RunStore,
        workspace: Path,
        notify_requester: NotifyRequester | None = None,
    ) -> None:
        self.registry = registry
        self.approvals = approvals
        self.runs = runs
        self.workspace = Path(workspace)
        self.notify_requester = notify_requester

    def run(
        self, process: ProcessDef, run: ProcessRun, step: Any, record: StepRecord
    ) -> StepOutcome:
        """One attempt at ``step``; ``record.attempts > 1`` means an earlier attempt was cut off."""
        handler = getattr(self, f"_{step.type}")
        outcome: StepOutcome = handler(process, run, step, record)
        return outcome

    @property
    def store(self) -> ApprovalStore:
        if self.approvals is None:
            raise ConfigError("the process engine has no approval store attached")
        return self.approvals

    def context(self, run: ProcessRun, step_id: str) -> ToolContext:
        """The step's call context: the requester's request, under the approval that governs
        this step (the latest decided approval step, else the run's start) and its decider."""
        action_id, decided_by = self._governing_approval(run)
        return ToolContext(
            user=run.requester,
            channel=run.channel,
            thread=run.thread,
            approval_id=action_id,
            idempotency_key=f"{run.id}:{step_id}",
            decided_by=decided_by,
        )

    def _governing_approval(self, run: ProcessRun) -> tuple[str | None, str]:
        decided = [
            r for r in self.runs.steps(run.id).values() if r.action_id and r.status == "done"
        ]
        if decided and self.approvals is not None:
            action = self.approvals.get(str(decided[-1].action_id))
            return action.id, str(action.decided_by or "")
        start = run.idempotency_key
        if start and start.startswith("A-") and self.approvals is not None:
            try:  # started by an approved start_process action: its id and its decider
                action = self.approvals.get(start)
                return action.id, str(action.decided_by or run.requester)
            except NotFound:
                pass
        return None, run.requester  # a person filled the process's form themselves

    def _call(self, run: ProcessRun, step_id: str, tool: str, args: dict[str, Any]) -> ToolResult:
        if self.registry is None:
            raise ConfigError("the process engine has no tool registry attached")
        return self.registry.call(tool, args, self.context(run, step_id))

    # ---- step types ------------------------------------------------------------------------
    def _form(
        self, process: ProcessDef, run: ProcessRun, step: FormStep, record: StepRecord
    ) -> StepOutcome:
        form = step.form or process.form
        inputs = run.values.get("_inputs")
        values = {k: v for k, v in run.values.items() if inputs is None or k in inputs}
        result = self._call(run, step.id, "submit_form", {"form": form, "values": values})
        if not result.ok:
            return _failed(result)
        submission = result.data.get("submission_id")
        return StepOutcome(
            "done", result={"submission_id": submission}, values={"submission_id": submission}
        )

    def _lookup_docs(
        self, process: ProcessDef, run: ProcessRun, step: LookupDocsStep, record: StepRecord
    ) -> StepOutcome:
        query = render(step.query, scope(run))
        result = self._call(run, step.id, "search_process_docs", {"query": query, "k": step.k})
        # A lookup informs people; a knowledge base that is down must not stop a claim.
        links = [_link(c) for c in result.citations] if result.ok else []
        unique = [c for i, c in enumerate(links) if c not in links[:i]]
        earlier = [c for c in run.values.get("_citations") or () if c not in unique]
        return StepOutcome(
            "done",
            result={"ok": result.ok, "query": query, "documents": len(unique)},
            values={step.save_as: unique, "_citations": earlier + unique},
        )

    def _read_sheet(
        self, process: ProcessDef, run: ProcessRun, step: ReadSheetStep, record: StepRecord
    ) -> StepOutcome:
        match = {col: render(t, scope(run)) for col, t in step.match.items()}
        result = self._read(run, step.id, step.sheet, step.tab, match, limit=500)
        if not result.ok:
            return _failed(result)
        rows = result.data.get("rows", [])
        return StepOutcome("done", result={"rows": len(rows)}, values={step.save_as: rows})

    def _append_row(
        self, process: ProcessDef, run: ProcessRun, step: AppendRowStep, record: StepRecord
    ) -> StepOutcome:
        values = {col: render(t, scope(run)) for col, t in step.values.items()}
        key = values.get(step.key_column)
        if key is None:
            raise ConfigError(
                f"step {step.id!r}: key column {step.key_column!r} is not among its values"
            )
        # A retried attempt carries the same key: the sheet's write journal finds the earlier row.
        args: dict[str, Any] = {"path": step.sheet, "values": values}
        if step.tab:
            args["sheet"] = step.tab
        result = self._call(run, step.id, "append_sheet_row", args)
        if not result.ok:
            return _failed(result)
        return StepOutcome("done", result={"row": key})

    def _update_row(
        self, process: ProcessDef, run: ProcessRun, step: UpdateRowStep, record: StepRecord
    ) -> StepOutcome:
        s = scope(run)
        args: dict[str, Any] = {
            "path": step.sheet,
            "key_column": step.key_column,
            "key_value": render(step.key, s),
            "values": {col: render(t, s) for col, t in step.values.items()},
        }
        if step.tab:
            args["sheet"] = step.tab
        result = self._call(run, step.id, "update_sheet_row", args)
        if not result.ok:
            return _failed(result)
        return StepOutcome("done", result={"row": args["key_value"]})

    def _email(
        self, process: ProcessDef, run: ProcessRun, step: EmailStep, record: StepRecord
    ) -> StepOutcome:
        s = scope(run)
        args: dict[str, Any] = {"to": _addresses(render(step.to, s))}
        if step.cc:
            args["cc"] = _addresses(render(step.cc, s))
        if step.template:
            # The email tool fills its own templates; it sees what the step's templates see.
            args.update(template=step.template, values=visible(s))
        else:
            args.update(subject=render(str(step.subject), s), body=render(str(step.body), s))
        result = self._call(run, step.id, "send_email", args)
        if not result.ok:
            return _failed(result)
        keep: dict[str, Any] = {
            k: result.data[k] for k in ("outbox_id", "message_id", "status") if k in result.data
        }
        return StepOutcome(
            "done" if result.settled else "delivering", result=keep or {"sent": True}
        )

    def _approval(
        self, process: ProcessDef, run: ProcessRun, step: ApprovalStep, record: StepRecord
    ) -> StepOutcome:
        existing = self.runs.approval_for(run.id, step.id)
        if existing is not None:  # created by an attempt that was cut off before recording it
            return StepOutcome("waiting", action_id=existing)
        s = scope(run)
        summary = render(step.message, s)
        shown = decision_values(run.values)
        action = self.store.create(
            tool=PROCESS_APPROVAL_TOOL,
            arguments={"process": process.name, "run_id": run.id, "step": step.id, "values": shown},
            summary=summary,
            requester=run.requester,
            channel=run.channel,
            thread=run.thread,
            role=step.role,
            citations=list(run.values.get("_citations") or ()),
            run_id=run.id,
            step_id=step.id,
        )
        return StepOutcome("waiting", action_id=action.id)

    def _notify(
        self, process: ProcessDef, run: ProcessRun, step: NotifyStep, record: StepRecord
    ) -> StepOutcome:
        message = render(step.message, scope(run))
        self.tell(run, step.id, message)
        return StepOutcome("done", result={"message": message})

    def tell(self, run: ProcessRun, key: str, message: str) -> None:
        """Store a message for the requester (once per key) and pass it to the surface."""
        if not self.runs.add_notice(run.id, key, message) or self.notify_requester is None:
            return
        try:
            self.notify_requester(run, message)
        except Exception:  # the notice is stored; a surface that is down must not fail the run
            log.exception("could not pass a notice of run %s to the requester", run.id)

    # ---- approvals -------------------------------------------------------------------------
    def decision(self, action: PendingAction) -> tuple[Decision, str | None]:
        """What a person decided about a process approval, from the action and its log."""
        if action.status in ("approved", "executing", "done"):
            return "approved", action.decided_by
        if action.status == "rejected":
            return "rejected", action.decided_by
        if action.status == "expired" or action.expired:
            return "rejected", None
        log_rows: Any = self.store.decisions(action.id)
        accepted = [d for d in log_rows if d["accepted"]]
        if accepted:  # e.g. a recovery marked the action failed after the decision was taken
            last = accepted[-1]
            return ("approved" if last["decision"] == "approve" else "rejected"), last["user"]
        return "pending", None

    def close_action(self, action_id: str, run_id: str) -> None:
        """Mark a consumed process approval done, so nothing tries to execute it."""
        if self.store.claim(action_id, recovering=True) is not None:
            self.store.finish(action_id, ok=True, result={"run_id": run_id})

    # ---- sheets ----------------------------------------------------------------------------
    def _read(
        self,
        run: ProcessRun,
        step_id: str,
        sheet: str,
        tab: str | None,
        match: dict[str, str],
        limit: int,
    ) -> ToolResult:
        args: dict[str, Any] = {"path": sheet, "filters": match, "limit": limit}
        if tab:
            args["sheet"] = tab
        return self._call(run, step_id, "read_sheet", args)


def _link(citation: Any) -> dict[str, Any]:
    """A citation as a document link (title, path, section, page), never its passage."""
    get = citation.get if isinstance(citation, dict) else lambda k: getattr(citation, k, None)
    return {k: get(k) for k in ("title", "path", "section", "page")}
