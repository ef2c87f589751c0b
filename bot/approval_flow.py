"""From a proposed side effect to its single execution: propose, decide, execute, recover.

The agent's gate calls ``propose`` (a ``PendingAction`` is stored and an ``ApprovalRequest``
event goes to the surface); a person's ``decide`` is checked by the approval store (single use,
argument hash, permitted approver, expiry); an approved action is claimed and executed once
through the tool registry with the action id as idempotency key, and its result goes back to
the thread's memory. ``recover`` finishes what a crash left approved or executing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from bot.events import ApprovalRequest, Citation, Error, Final, Inbound
from memory.approvals import ApprovalStore, PendingAction
from memory.errors import ApprovalError, NotFound, ToolArgumentError, new_error_id

if TYPE_CHECKING:
    from tools.processes import ProcessEngine

log = logging.getLogger(__name__)

Emit = Callable[[Any], None]
Remember = Callable[[str, str], None]


class ActionRunner:
    """Owns the approval life cycle of side effects (agent tools and process steps)."""

    def __init__(
        self,
        approvals: ApprovalStore,
        registry: Any,
        *,
        roles_of: Callable[[str], list[str]],
        role_members: Callable[[str], list[str]],
        engine: ProcessEngine,
        remember: Remember | None = None,
    ) -> None:
        self.approvals = approvals
        self.registry = registry
        self.roles_of = roles_of
        self.role_members = role_members
        self.engine = engine
        self.remember = remember or (lambda _conversation, _note: None)

    # ---- contexts --------------------------------------------------------------------------
    def context_for(self, inbound: Inbound, roles: list[str], **extra: Any) -> Any:
        from tools.registry import ToolContext

        return ToolContext(
            user=inbound.user,
            channel=inbound.channel,
            thread=inbound.thread,
            roles=frozenset(roles),
            **extra,
        )

    # ---- proposing -------------------------------------------------------------------------
    def propose(self, spec: Any, args: Any, ctx: Any, cited: list[Citation]) -> ApprovalRequest:
        arguments = args.model_dump(mode="json") if hasattr(args, "model_dump") else dict(args)
        action = self.approvals.create(
            tool=spec.name,
            arguments=arguments,
            summary=spec.summarize(args),
            requester=ctx.user,
            channel=ctx.channel,
            thread=ctx.thread,
            citations=[c.__dict__ for c in cited],
        )
        return self.request_event(action)

    def request_event(self, action: PendingAction) -> ApprovalRequest:
        approvers = self.role_members(action.role) if action.role else [action.requester]
        return ApprovalRequest(
            action_id=action.id,
            tool=action.tool,
            summary=action.summary,
            arguments=action.arguments,
            requester=action.requester,
            expires_at=action.expires_at,
            approvers=tuple(approvers),
            role=action.role,
            citations=tuple(Citation(**c) for c in action.citations),
        )

    @staticmethod
    def describe_for_model(request: ApprovalRequest) -> str:
        who = f"someone with the {request.role!r} role" if request.role else "the requester"
        return (
            f"Not done yet: action {request.action_id} ({request.summary}) is waiting for approval "
            f"by {who}. Tell the person it will happen once approved; do not call the tool again."
        )

    # ---- deciding --------------------------------------------------------------------------
    def decide(
        self,
        emit: Emit,
        action_id: str,
        user: str,
        decision: Literal["approve", "reject"],
        arguments: dict[str, Any] | None = None,
    ) -> None:
        try:
            action = self.approvals.get(action_id)
            if arguments is not None and decision == "approve":
                # An edit must still be a valid call: refuse before anything is decided.
                self.registry.validate(action.tool, arguments)
            decided = self.approvals.decide(
                action_id, user, decision, user_roles=self.roles_of(user), arguments=arguments
            )
        except (ApprovalError, NotFound, ToolArgumentError) as exc:
            emit(Error(str(exc), new_error_id()))
            return
        conversation = f"{decided.channel}:{decided.thread}"
        if decided.run_id:
            emit(self._process_decision(decided))
            return
        if decided.status == "rejected":
            note = f"[update] {user} rejected action {decided.id} ({decided.summary}); it will not happen."
            self.remember(conversation, note)
            emit(
                Final(
                    f"Rejected: {decided.summary}. Nothing was done.",
                    data={"action": decided.id, "status": "rejected"},
                )
            )
            return
        emit(self.execute(decided.id))

    def _process_decision(self, action: PendingAction) -> Final:
        run = self.engine.resume_after_decision(action.id)
        status = getattr(run, "status", "")
        word = "Approved" if action.status == "approved" else "Rejected"
        return Final(
            f"{word}: {action.summary}. Process run {action.run_id} is now {status}.",
            data={"action": action.id, "status": action.status, "run": action.run_id},
        )

    # ---- executing exactly once ---------------------------------------------------------------
    def execute(self, action_id: str, *, recovering: bool = False) -> Final | Error:
        claimed = self.approvals.claim(action_id, recovering=recovering)
        if claimed is None:
            current = self.approvals.get(action_id)
            return Error(f"action {action_id} is already {current.status}", new_error_id())
        from tools.registry import ToolContext

        ctx = ToolContext(
            user=claimed.requester,
            channel=claimed.channel,
            thread=claimed.thread,
            roles=frozenset(self.roles_of(claimed.requester)),
            approval_id=claimed.id,
            idempotency_key=claimed.id,
        )
        result = self.registry.call(claimed.tool, claimed.arguments, ctx)
        done = self.approvals.finish(
            claimed.id,
            ok=bool(result.ok),
            result=result.content,
            error=None if result.ok else result.content,
        )
        conversation = f"{claimed.channel}:{claimed.thread}"
        verdict = "executed" if result.ok else "failed"
        self.remember(
            conversation,
            f"[update] action {claimed.id} ({claimed.summary}) was approved by {claimed.decided_by} "
            f"and {verdict}. Result:\n<data>\n{result.content}\n</data>",
        )
        if not result.ok:
            return Error(
                f"{claimed.summary}: {result.content}",
                getattr(result, "error_id", None) or new_error_id(),
            )
        return Final(
            f"Done: {claimed.summary}.\n{result.content}",
            data={
                "action": done.id,
                "status": done.status,
                "result": getattr(result, "data", None),
            },
        )

    def recover(self, remember: Remember | None = None) -> list[str]:
        """Execute actions a crash left approved/executing; returns one line per action."""
        if remember is not None:
            self.remember = remember
        report = []
        for action in self.approvals.recoverable():
            if action.run_id:  # a process step's approval: the process engine resumes its run
                continue
            outcome = self.execute(action.id, recovering=True)
            word = "done" if isinstance(outcome, Final) else f"failed ({outcome.message})"
            report.append(f"{action.id} {action.tool}: {word}")
            log.info("recovered action %s: %s", action.id, word)
        return report

    def pending_for(self, user: str) -> list[PendingAction]:
        """Pending actions this user may decide."""
        roles = self.roles_of(user)
        self.approvals.expire_overdue()
        return [
            a
            for a in self.approvals.list(status=("pending",))
            if self.approvals.may_decide(a, user, roles)
        ]
