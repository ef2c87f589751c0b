"""From a proposed side effect to its single execution: propose, decide, execute, recover.

The agent's gate calls ``propose`` (a ``PendingAction`` is stored and an ``ApprovalRequest``
event goes to the surface); who may decide follows least privilege: a self-service tool (the
requester's own form submission or process start) is confirmed by the requester, any other
write or external tool by someone else holding its approver role. A person's ``decide`` is
checked by the approval store (single use, argument hash, permitted approver, expiry); an
approved action is claimed and executed once through the tool registry with the action id as
idempotency key, and its result goes back to the thread's memory. An action whose mail is
still queued is reported as not done yet; ``follow_up`` settles it when the outbox does and
tells the person. ``recover`` settles the outbox's interrupted sends, then finishes what a
crash left approved or executing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Literal

from bot.events import ApprovalRequest, Citation, Error, Final, Inbound
from memory.approvals import ApprovalStore, PendingAction
from memory.errors import ApprovalError, NotFound, PolicyDenied, ToolArgumentError, new_error_id
from memory.outbox import OutboxMessage

if TYPE_CHECKING:
    from tools.processes import ProcessEngine

log = logging.getLogger(__name__)

Emit = Callable[[Any], None]
Remember = Callable[[str, str], None]
Notify = Callable[[PendingAction, str], None]  # a surface's way to reach the requester


class GatedText(str):
    """What the gate tells the model, carrying the id of the action it created (audited)."""

    action_id: str | None = None

    @classmethod
    def of(cls, text: str, action_id: str) -> GatedText:
        gated = cls(text)
        gated.action_id = action_id
        return gated


def decision_fields(action: PendingAction) -> tuple[tuple[str, str], ...]:
    """What a person decides on, as (label, value) lines: a process approval's inputs, or
    an agent action's arguments; never text that was looked up (that is a citation)."""
    args = action.arguments
    if action.run_id:
        values = args.get("values")
        return (("run", str(action.run_id)), *_flat(values if isinstance(values, dict) else {}))
    return tuple(_flat(args))


def _flat(value: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    for key, item in value.items():
        label = f"{prefix}{key}"
        if isinstance(item, dict):
            lines += _flat(item, f"{label}.")
        elif isinstance(item, list | tuple):
            lines.append((label, ", ".join(str(i) for i in item)))
        elif item is not None:
            lines.append((label, str(item)))
    return lines


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
        self.notify: Notify | None = None  # set by a surface that can reach the requester

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
        """Store the action; self-service tools wait for the requester, others for a holder of
        the tool's approver role who is not the requester."""
        arguments = args.model_dump(mode="json") if hasattr(args, "model_dump") else dict(args)
        role = None if spec.self_service else self.registry.policy.approver_role(spec.name)
        self._supersede_earlier(spec.name, ctx)
        action = self.approvals.create(
            tool=spec.name,
            arguments=arguments,
            summary=spec.summarize(args),
            requester=ctx.user,
            channel=ctx.channel,
            thread=ctx.thread,
            role=role,
            citations=[asdict(c) for c in cited],  # links: title, path, section, page
        )
        return self.request_event(action)

    def _supersede_earlier(self, tool: str, ctx: Any) -> None:
        """A new proposal of the same tool by the same person in the same thread is a
        correction: the earlier one still waiting is withdrawn and can no longer be approved."""
        if not ctx.thread:
            return
        earlier = [
            a.id
            for a in self.approvals.list(status=["pending"], channel=ctx.channel, thread=ctx.thread)
            if a.tool == tool and a.requester == ctx.user and not a.run_id
        ]
        if self.approvals.supersede(earlier):
            log.info("superseded %s by a corrected proposal of %s", ", ".join(earlier), tool)

    def request_event(self, action: PendingAction) -> ApprovalRequest:
        approvers = (
            [u for u in self.role_members(action.role) if u != action.requester]
            if action.role
            else [action.requester]
        )
        return ApprovalRequest(
            action_id=action.id,
            tool=action.tool,
            summary=action.summary,
            arguments=action.arguments,
            requester=action.requester,
            expires_at=action.expires_at,
            approvers=tuple(approvers),
            role=action.role,
            citations=tuple(Citation.from_any(c) for c in action.citations),
            fields=decision_fields(action),
        )

    @staticmethod
    def describe_for_model(request: ApprovalRequest) -> GatedText:
        who = _approver(request, "the requester")
        return GatedText.of(
            f"Not done yet: action {request.action_id} ({request.summary}) is waiting for approval "
            f"by {who}. Tell the person it will happen once approved; do not call the tool again.",
            request.action_id,
        )

    @staticmethod
    def describe_for_person(request: ApprovalRequest) -> str:
        """The reply when the model wrote none after proposing: what waits, and for whom."""
        who = _approver(request, "you")
        return f"Ready for approval: {request.summary}. Nothing happens until {who} approves it."

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
                self.registry.precheck(action.tool, arguments, self._acting_for(action))
            decided = self.approvals.decide(
                action_id, user, decision, user_roles=self.roles_of(user), arguments=arguments
            )
        except (ApprovalError, NotFound, ToolArgumentError, PolicyDenied) as exc:
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
            f"{word}: {action.summary.rstrip('.')}. Process run {action.run_id} is now {status}.",
            data={"action": action.id, "status": action.status, "run": action.run_id},
        )

    # ---- executing exactly once ---------------------------------------------------------------
    def _acting_for(self, action: PendingAction, **extra: Any) -> Any:
        from tools.registry import ToolContext

        return ToolContext(
            user=action.requester,
            channel=action.channel,
            thread=action.thread,
            roles=frozenset(self.roles_of(action.requester)),
            **extra,
        )

    def execute(self, action_id: str, *, recovering: bool = False) -> Final | Error:
        claimed = self.approvals.claim(action_id, recovering=recovering)
        if claimed is None:
            current = self.approvals.get(action_id)
            return Error(f"action {action_id} is already {current.status}", new_error_id())
        ctx = self._acting_for(
            claimed, approval_id=claimed.id, idempotency_key=claimed.id,
            decided_by=claimed.decided_by,
        )  # fmt: skip
        result = self.registry.call(claimed.tool, claimed.arguments, ctx)
        settled = bool(result.ok) and getattr(result, "settled", True)
        done = self.approvals.finish(
            claimed.id,
            ok=bool(result.ok),
            result=result.content,
            error=None if result.ok else result.content,
            settled=settled,
        )
        verdict = (
            "executed" if settled else ("executed, not complete yet" if result.ok else "failed")
        )
        self.remember(
            _conversation(claimed),
            f"[update] action {claimed.id} ({claimed.summary}) was approved by {claimed.decided_by} "
            f"and {verdict}. Result:\n<data>\n{result.content}\n</data>",
        )
        if not result.ok:
            return Error(
                f"{claimed.summary}: {result.content}",
                getattr(result, "error_id", None) or new_error_id(),
            )
        word = "Done" if settled else "Approved, not done yet"
        return Final(
            f"{word}: {claimed.summary}.\n{result.content}",
            data={
                "action": done.id,
                "status": done.status,
                "result": getattr(result, "data", None),
            },
        )

    def recover(self, remember: Remember | None = None) -> list[str]:
        """At start-up: settle the outbox's interrupted sends, execute actions a crash left
        approved/executing, settle actions whose mail was queued; one line per change."""
        if remember is not None:
            self.remember = remember
        outbox = self._outbox()
        report = [f"{m.id} email: {m.status}" for m in outbox.deliver_pending()] if outbox else []
        for action in self.approvals.recoverable():
            if action.run_id:  # a process step's approval: the process engine resumes its run
                continue
            outcome = self.execute(action.id, recovering=True)
            word = "done" if isinstance(outcome, Final) else f"failed ({outcome.message})"
            report.append(f"{action.id} {action.tool}: {word}")
            log.info("recovered action %s: %s", action.id, word)
        return report + self.follow_up()

    def follow_up(self) -> list[str]:
        """Settle executed actions whose mail waited in the outbox, and tell their people once."""
        outbox = self._outbox()
        if outbox is None:
            return []
        lines = []
        for action in self.approvals.list(status=("delivering", "unknown"), limit=1000):
            msg = outbox.store.by_key(action.id)
            outcome = delivery_outcome(msg) if msg is not None else None
            if outcome is None or (outcome[0] == action.status):
                continue
            status, note = outcome
            if self.approvals.settle(action.id, status, note=note):
                self._tell(action, f"{action.summary}: {note}")
                lines.append(f"{action.id} {action.tool}: {status}")
        return lines

    def _tell(self, action: PendingAction, text: str) -> None:
        self.remember(_conversation(action), f"[update] action {action.id}: {text}")
        if self.notify is None:
            return
        try:
            self.notify(action, text)
        except Exception:  # the action's state is durable; a surface that is down must wait
            log.exception("could not tell the requester of action %s", action.id)

    def _outbox(self) -> Any:
        return getattr(self.engine, "outbox", None)

    def pending_for(self, user: str) -> list[PendingAction]:
        """Pending actions this user may decide."""
        roles = self.roles_of(user)
        self.approvals.expire_overdue()
        return [
            a
            for a in self.approvals.list(status=("pending",))
            if self.approvals.may_decide(a, user, roles)
        ]


def delivery_outcome(msg: OutboxMessage) -> tuple[Literal["done", "failed", "unknown"], str] | None:
    """Where a queued message stands, in words for its requester; None while it waits."""
    to = ", ".join(msg.recipients)
    if msg.status == "sent":
        return "done", f"the email to {to} ({msg.subject!r}) has been sent"
    if msg.status == "failed":
        return "failed", f"the email to {to} could not be delivered: {msg.last_error}"
    if msg.status == "unknown":
        return "unknown", (
            f"the mail server did not confirm the email to {to} (message {msg.id}); an admin "
            "must check whether it arrived"
        )
    return None


def _conversation(action: PendingAction) -> str:
    return f"{action.channel}:{action.thread}"


def _approver(request: ApprovalRequest, requester: str) -> str:
    return f"someone with the {request.role!r} role" if request.role else requester
