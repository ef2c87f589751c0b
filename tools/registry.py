"""The tool registry: typed tools, their side-effect class, who may call them, and the audit.

A tool is a function ``func(ctx, args) -> ToolOutput`` with a pydantic argument model and a
description the model reads. ``ToolRegistry.call`` is the one way a tool runs: it validates
the arguments, checks the policy, runs the function, and records the call in the audit log,
whatever happened (with the action id, whose request it is and who approved it). A call that
needs approval is first run as a dry run (``gate_call``), so bad input is refused when the
action is proposed, not after someone approved it.

Who approves: a ``self_service`` tool acts on the requester's own behalf (their own form
submission, their own process start), so the requester confirms it; any other write or
external tool needs someone else holding its approver role (``ToolPolicy.approver_role``,
``admin`` unless the policy names one): nobody approves their own write to a shared ledger. Errors the model can fix (a bad field, an unknown form) come back as a
``ToolResult`` whose text names the problem; anything else is logged with its traceback
under an error id, and the caller gets a short message quoting that id.

The same registry feeds LangChain (``langchain_tools``) and the surfaces (``call``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from langchain_core.tools import StructuredTool
from pydantic import BaseModel, ValidationError

from memory.audit import AuditLog, AuditStatus
from memory.db import Database
from memory.errors import NotFound, PolicyDenied, RpaError, ToolArgumentError, new_error_id

log = logging.getLogger(__name__)

SideEffect = Literal["read", "write", "external"]


@dataclass(frozen=True)
class ToolContext:
    """Who is calling, from where; passed to every tool function."""

    user: str
    channel: str = ""
    thread: str = ""
    roles: frozenset[str] = frozenset()
    approval_id: str | None = None  # set when executing an approved PendingAction (audited)
    idempotency_key: str | None = None  # submit_form / send_email / sheet writes dedupe on it
    dry_run: bool = False  # side-effect tools validate and describe but do nothing
    decided_by: str | None = None  # who approved the action this call carries out (audited)


@dataclass(frozen=True)
class ToolOutput:
    """What a tool function returns: text for the model, structured data, sources."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    # Sources the text relies on: objects or dicts with title, path, section, page
    # (``bot.events.Citation`` has that shape; tools cannot import it).
    citations: tuple[Any, ...] = ()
    # False when the effect was accepted but completes later (a message waiting in the
    # outbox): nobody may be told it is done yet.
    settled: bool = True


@dataclass(frozen=True)
class ToolResult:
    """The outcome of ``ToolRegistry.call``; ``content`` is what the model or person reads."""

    tool: str
    ok: bool
    content: str
    status: AuditStatus
    data: dict[str, Any] = field(default_factory=dict)
    citations: tuple[Any, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)  # field -> message, when invalid
    error_id: str | None = None
    audit_id: int = 0
    duration_ms: float = 0.0
    settled: bool = True  # see ToolOutput.settled


DEFAULT_APPROVER_ROLE = "admin"  # who approves a shared write when the policy names nobody

ToolFunc = Callable[[ToolContext, Any], ToolOutput]
Gate = Callable[["ToolSpec", BaseModel, ToolContext], str]


@dataclass(frozen=True)
class ToolSpec:
    """One tool: name, what the model reads, argument model, function and metadata."""

    name: str
    description: str
    args_model: type[BaseModel]
    func: ToolFunc
    side_effect: SideEffect = "read"
    needs_approval: bool | None = None  # None: write and external tools need it
    activity: str = ""  # what a surface shows while it runs, e.g. "reading the sheet..."
    summary: Callable[[Any], str] | None = None  # plain words for an approval card
    # True: it acts on the requester's own behalf (their own submission, their own run), so
    # the requester confirms it; False: someone else with the approver role must.
    self_service: bool = False
    # Makes what was proposed exact before anything is checked or approved (form values read
    # in the company's conventions: tools/form_input.py); None: the arguments as given.
    prepare: Callable[[BaseModel], BaseModel] | None = None

    @property
    def requires_approval(self) -> bool:
        if self.needs_approval is not None:
            return self.needs_approval
        return self.side_effect != "read"

    def summarize(self, args: BaseModel) -> str:
        """What running this tool with ``args`` will do, in plain words."""
        if self.summary is not None:
            return self.summary(args)
        shown = ", ".join(f"{k}={v!r}" for k, v in args.model_dump(exclude_none=True).items())
        return f"Run {self.name}({shown})"


class ToolPolicy:
    """Who may call what: ``rules`` tool -> {users, roles, channels}; ``roles`` role -> users.

    An absent tool is open to everyone. When a rule lists users and/or roles, the caller must
    be one of those users or hold one of those roles; when it lists channels, the call must
    come from one of them. ``"*"`` matches anything. ``groups`` is read as ``roles``.
    ``approvers`` names the one role whose members approve the tool's actions (default
    ``admin``); it never lets a requester approve their own.
    """

    def __init__(
        self,
        rules: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
        roles: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.rules = {tool: _normalise_rule(rule) for tool, rule in (rules or {}).items()}
        self.roles = {role: frozenset(users) for role, users in (roles or {}).items()}

    def approver_role(self, tool: str) -> str:
        """The role that approves ``tool``'s actions for someone else."""
        rule = self.rules.get(tool)
        return (
            next(iter(rule["approvers"])) if rule and rule["approvers"] else DEFAULT_APPROVER_ROLE
        )

    def roles_of(self, user: str) -> frozenset[str]:
        """The roles configuration gives this user."""
        return frozenset(role for role, users in self.roles.items() if user in users)

    def check(self, tool: str, ctx: ToolContext) -> None:
        """Raise ``PolicyDenied`` naming the reason when ``ctx`` may not call ``tool``."""
        rule = self.rules.get(tool)
        if rule is None:
            return
        users, roles, channels = rule["users"], rule["roles"], rule["channels"]
        held = ctx.roles | self.roles_of(ctx.user)
        if (users or roles) and not (
            "*" in users or ctx.user in users or "*" in roles or held & roles
        ):
            wanted = ", ".join(sorted(roles)) or "a listed user"
            raise PolicyDenied(f"user {ctx.user!r} may not use tool {tool!r} (needs {wanted})")
        if channels and "*" not in channels and ctx.channel not in channels:
            raise PolicyDenied(f"tool {tool!r} cannot be used in channel {ctx.channel!r}")


def _normalise_rule(rule: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    unknown = set(rule) - {"users", "roles", "groups", "channels", "approvers"}
    if unknown:
        raise ValueError(
            f"tool policy keys {sorted(unknown)!r} are not users/roles/channels/approvers"
        )
    approvers = frozenset(rule.get("approvers", ()))
    if len(approvers) > 1:
        raise ValueError(f"tool policy 'approvers' names one role, not {sorted(approvers)!r}")
    return {
        "users": frozenset(rule.get("users", ())),
        "roles": frozenset(rule.get("roles", ())) | frozenset(rule.get("groups", ())),
        "channels": frozenset(rule.get("channels", ())),
        "approvers": approvers,
    }


def argument_errors(exc: ValidationError) -> dict[str, str]:
    """pydantic's errors as ``{field.path: message}`` a person (or the model) understands."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "is required"
        elif err["type"] == "extra_forbidden":
            message = "is not an argument of this tool"
        errors.setdefault(where, message)
    return errors


def describe_errors(tool: str, errors: Mapping[str, str]) -> str:
    details = "; ".join(f"{name}: {msg}" for name, msg in errors.items())
    return f"Invalid arguments for {tool}: {details}. Fix these and call {tool} again."


class ToolRegistry:
    """Every tool the bot has, the policy over them, and the audit of their calls."""

    def __init__(self, specs: Iterable[ToolSpec], db: Database, policy: ToolPolicy) -> None:
        self._specs: dict[str, ToolSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"two tools are named {spec.name!r}")
            self._specs[spec.name] = spec
        self.db = db
        self.policy = policy
        self.audit = AuditLog(db)

    def get(self, name: str) -> ToolSpec:
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(sorted(self._specs))
            raise NotFound(f"no tool named {name!r} (known: {known})") from None

    def specs(self) -> list[ToolSpec]:
        return list(self._specs.values())

    def names(self) -> list[str]:
        return list(self._specs)

    def validate(self, name: str, raw_args: Mapping[str, Any] | None) -> BaseModel:
        """The arguments as the tool's model; ``ToolArgumentError`` names each bad field."""
        spec = self.get(name)
        try:
            args = spec.args_model.model_validate(dict(raw_args or {}))
        except ValidationError as exc:
            errors = argument_errors(exc)
            raise ToolArgumentError(describe_errors(name, errors), errors) from None
        return spec.prepare(args) if spec.prepare is not None else args

    def check_policy(self, name: str, ctx: ToolContext) -> None:
        self.get(name)
        self.policy.check(name, ctx)

    def call(self, name: str, raw_args: Mapping[str, Any] | None, ctx: ToolContext) -> ToolResult:
        """Validate, check the policy, run and audit one call. Never raises for a failed call."""
        started = time.perf_counter()
        try:
            args = self.validate(name, raw_args)
            self.check_policy(name, ctx)
            output = self._specs[name].func(ctx, args)
        except Exception as exc:  # every failure becomes an audited result; see _failure
            return self._failure(name, raw_args, ctx, exc, started)
        result = ToolResult(
            tool=name,
            ok=True,
            content=output.text,
            status="ok",
            data=dict(output.data),
            citations=tuple(output.citations),
            settled=output.settled,
        )
        return self._audited(result, raw_args, ctx, started)

    def precheck(
        self, name: str, raw_args: Mapping[str, Any] | None, ctx: ToolContext
    ) -> BaseModel:
        """Validate, check the policy and dry-run a call: every input problem a person could
        approve by mistake (a bad value, a header with a line break, an unknown row) surfaces
        now, as ``ToolArgumentError`` / ``NotFound`` / ``PolicyDenied``, with nothing changed."""
        args = self.validate(name, raw_args)
        self.check_policy(name, ctx)
        self._specs[name].func(replace(ctx, dry_run=True), args)
        return args

    def gate_call(
        self, spec: ToolSpec, raw_args: Mapping[str, Any], ctx: ToolContext, gate: Gate
    ) -> ToolResult:
        """Validate and check the policy, then hand the call to ``gate`` instead of running it."""
        started = time.perf_counter()
        try:
            args = self.precheck(spec.name, raw_args, ctx)
            text = gate(spec, args, ctx)
        except Exception as exc:  # audited like any other failed call
            return self._failure(spec.name, raw_args, ctx, exc, started)
        result = ToolResult(tool=spec.name, ok=True, content=text, status="gated")
        # The gate's text names the action it created (``GatedText``): the audit records it.
        proposed = replace(ctx, approval_id=getattr(text, "action_id", None) or ctx.approval_id)
        return self._audited(result, raw_args, proposed, started)

    def _failure(
        self, name: str, raw_args: Any, ctx: ToolContext, exc: Exception, started: float
    ) -> ToolResult:
        if isinstance(exc, ToolArgumentError):
            errors = exc.errors
            text = describe_errors(name, errors) if errors else f"{exc}."
            result = ToolResult(name, False, text, "invalid", errors=dict(errors))
        elif isinstance(exc, NotFound):
            result = ToolResult(name, False, f"{exc}.", "invalid")
        elif isinstance(exc, PolicyDenied):
            result = ToolResult(name, False, f"Not allowed: {exc}.", "denied")
        else:
            error_id = new_error_id()
            log.exception("tool %r failed for user %r [%s]", name, ctx.user, error_id)
            reason = str(exc) if isinstance(exc, RpaError) else type(exc).__name__
            text = f"{name} failed ({reason}); error id {error_id}."
            result = ToolResult(name, False, text, "error", error_id=error_id)
        return self._audited(result, raw_args, ctx, started, error=str(exc) or type(exc).__name__)

    def _audited(
        self,
        result: ToolResult,
        raw_args: Any,
        ctx: ToolContext,
        started: float,
        error: str | None = None,
    ) -> ToolResult:
        duration = (time.perf_counter() - started) * 1000
        audit_id = self.audit.record(
            user=ctx.user,
            channel=ctx.channel,
            thread=ctx.thread,
            tool=result.tool,
            arguments=dict(raw_args or {}) if isinstance(raw_args, Mapping) else raw_args,
            status=result.status,
            result=result.content if result.ok else None,
            error=error,
            error_id=result.error_id,
            duration_ms=duration,
            approval_id=ctx.approval_id,
            dry_run=ctx.dry_run,
            decided_by=ctx.decided_by,
            idempotency_key=ctx.idempotency_key,
        )
        return replace(result, audit_id=audit_id, duration_ms=duration)

    def langchain_tools(self, ctx: ToolContext, gate: Gate | None = None) -> list[StructuredTool]:
        """The tools as LangChain ``StructuredTool``s bound to ``ctx``.

        Read tools run at once; a tool that needs approval goes to ``gate`` (which creates a
        PendingAction and returns text for the model) unless ``gate`` is None. Each tool
        returns ``(content, ToolResult)`` so the agent can read data and citations.
        """
        return [self._langchain_tool(spec, ctx, gate) for spec in self._specs.values()]

    def _langchain_tool(
        self, spec: ToolSpec, ctx: ToolContext, gate: Gate | None
    ) -> StructuredTool:
        def run(**kwargs: Any) -> tuple[str, ToolResult]:
            if gate is not None and spec.requires_approval:
                result = self.gate_call(spec, kwargs, ctx, gate)
            else:
                result = self.call(spec.name, kwargs, ctx)
            return result.content, result

        def invalid(exc: Any) -> str:
            # LangChain validated the arguments before ``run``: audit and explain the refusal.
            errors = (
                argument_errors(exc)
                if isinstance(exc, ValidationError)
                else {"arguments": str(exc)}
            )
            text = describe_errors(spec.name, errors)
            self.audit.record(
                user=ctx.user, channel=ctx.channel, thread=ctx.thread, tool=spec.name,
                arguments={}, status="invalid", error=text, approval_id=ctx.approval_id,
            )  # fmt: skip
            return text

        return StructuredTool.from_function(
            func=run,
            name=spec.name,
            description=spec.description,
            args_schema=spec.args_model,
            response_format="content_and_artifact",
            handle_validation_error=invalid,
        )
