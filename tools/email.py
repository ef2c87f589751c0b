"""Email tools: compose from the workspace's templates or free text, draft, send via the outbox.

Templates live in ``workspace/templates/<name>.j2``: the first line is ``Subject: ...``, then a
blank line, then the body; both are Jinja2 (sandboxed, a missing value is an error). The tools
are ``list_email_templates`` (read), ``draft_email`` (stores a draft; no approval needed) and
``send_email`` (external: it waits for a human approval, then goes through ``Outbox``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from memory.drafts import Draft, DraftStore
from memory.errors import DeliveryError, NotFound, PolicyDenied, ToolArgumentError
from memory.outbox import OutboxMessage
from tools.email_outbox import Outbox, check_address, mailbox_address
from tools.registry import ToolContext, ToolOutput, ToolSpec
from tools.smtp_delivery import SmtpConfig

__all__ = ["EmailTemplates", "Outbox", "SmtpConfig", "make_email_tools"]


class EmailTemplates:
    """The templates in one folder, rendered in a sandbox with strict undefined values."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.env = SandboxedEnvironment(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
        )

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(
            p.name.split(".")[0] for p in self.folder.glob("*.j2") if not p.name.startswith(".")
        )

    def source(self, name: str) -> str:
        if name not in self.names():
            raise ToolArgumentError(
                f"no email template {name!r}",
                {"template": f"unknown template {name!r} (templates: {', '.join(self.names())})"},
            )
        return next(self.folder.glob(f"{name}.*j2")).read_text(encoding="utf-8")

    def variables(self, name: str) -> list[str]:
        return sorted(meta.find_undeclared_variables(self.env.parse(self.source(name))))

    def render(self, name: str, values: Mapping[str, Any]) -> tuple[str, str]:
        """``(subject, body)``; every missing value is named in one ``ToolArgumentError``."""
        missing = [v for v in self.variables(name) if v not in values]
        if missing:
            errors = {f"values.{v}": f"is needed by template {name!r}" for v in missing}
            raise ToolArgumentError(f"template {name!r} needs more values", errors)
        try:
            text = self.env.from_string(self.source(name)).render(**values)
        except jinja2.TemplateError as exc:
            raise ToolArgumentError(
                f"template {name!r} could not be filled", {"values": str(exc)}
            ) from exc
        first, _, body = text.partition("\n")
        if not first.lower().startswith("subject:"):
            raise ToolArgumentError(
                f"template {name!r} has no Subject line",
                {"template": "its first line must be 'Subject: ...'"},
            )
        return first[len("subject:") :].strip(), body.lstrip("\n")


def recipients(value: Any, mailboxes: Mapping[str, str]) -> Any:
    """A recipient list from a list or a comma- or semicolon-separated string, team mailboxes
    named ("payroll") replaced by their addresses; anything else as given, for validation."""
    if isinstance(value, str):
        value = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, list):
        return [mailbox_address(v, mailboxes) if isinstance(v, str) else v for v in value]
    return value


def _email_args_models(
    allowed: list[str], mailboxes: Mapping[str, str]
) -> tuple[type[BaseModel], type[BaseModel]]:
    """Argument models whose validation already checks recipient syntax and domain."""

    class DraftEmailArgs(BaseModel):
        model_config = ConfigDict(extra="forbid")
        to: list[str] = Field(default_factory=list, description="Recipient addresses.")
        cc: list[str] = Field(default_factory=list, description="Copy recipients.")
        subject: str | None = Field(
            None, description="Subject (free text; a template brings its own)."
        )
        body: str | None = Field(None, description="Body (free text), unless a template is used.")
        template: str | None = Field(None, description="A template name from list_email_templates.")
        values: dict[str, Any] = Field(
            default_factory=dict, description="Values the template needs."
        )

        @field_validator("to", "cc", mode="before")
        @classmethod
        def _addresses(cls, value: Any) -> Any:
            return recipients(value, mailboxes)

        @field_validator("to", "cc")
        @classmethod
        def _allowed(cls, value: list[str]) -> list[str]:
            try:
                return [check_address(a, allowed) for a in value]
            except PolicyDenied as exc:
                raise ValueError(str(exc)) from None

        @field_validator("subject")
        @classmethod
        def _one_line(cls, value: str | None) -> str | None:
            return None if value is None else one_line_header(value, "subject")

        @model_validator(mode="after")
        def _content(self) -> DraftEmailArgs:
            if not self.template and not (self.subject and self.body):
                raise ValueError("give a template, or a subject and a body")
            return self

    class SendEmailArgs(DraftEmailArgs):
        draft_id: str | None = Field(
            None, description="Send this stored draft (other fields are then ignored)."
        )

        @model_validator(mode="after")
        def _content(self) -> SendEmailArgs:
            if self.draft_id:
                return self
            if not self.to:
                raise ValueError("give recipients in 'to', or a draft_id")
            if not self.template and not (self.subject and self.body):
                raise ValueError("give a template, or a subject and a body")
            return self

    return DraftEmailArgs, SendEmailArgs


def make_email_tools(
    outbox: Outbox,
    templates: EmailTemplates,
    drafts: DraftStore,
    mailboxes: Mapping[str, str] | None = None,
) -> list[ToolSpec]:
    """The email tools over one outbox, template folder and draft store; ``mailboxes`` (name ->
    address, from ``workspace.yaml``) lets a recipient be a team mailbox's name."""
    draft_model, send_model = _email_args_models(outbox.allowed_domains, mailboxes or {})

    def content(args: Any) -> tuple[str, str]:
        if args.template:
            subject, body = templates.render(args.template, args.values)
            try:
                return one_line_header(subject, "subject"), body
            except ValueError as exc:
                raise ToolArgumentError(str(exc), {"values": str(exc)}) from None
        return str(args.subject), str(args.body)

    def list_email_templates(ctx: ToolContext, args: BaseModel) -> ToolOutput:
        """List the email templates and the values each one needs."""
        rows = {name: templates.variables(name) for name in templates.names()}
        text = "\n".join(f"- {n}: needs {', '.join(v) or 'nothing'}" for n, v in rows.items())
        return ToolOutput(text or "No email templates.", {"templates": rows})

    def draft_email(ctx: ToolContext, args: Any) -> ToolOutput:
        """Compose an email (from a template or free text) and store it as a draft; nothing is sent."""
        if not args.to:
            raise ToolArgumentError("a draft needs recipients", {"to": "give at least one address"})
        subject, body = content(args)
        draft = drafts.create(
            created_by=ctx.user,
            to=args.to,
            cc=args.cc,
            subject=subject,
            body=body,
            template=args.template,
        )
        text = f"Draft {draft.id} to {', '.join(draft.to)}: {subject!r}\n\n{body}"
        return ToolOutput(
            text,
            {
                "draft_id": draft.id,
                "to": draft.to,
                "cc": draft.cc,
                "subject": subject,
                "body": body,
            },
        )

    def message_of(args: Any) -> tuple[list[str], list[str], str, str, Draft | None]:
        if args.draft_id:
            draft = drafts.get(args.draft_id)
            return draft.to, draft.cc, draft.subject, draft.body, draft
        subject, body = content(args)
        return args.to, args.cc, subject, body, None

    def send_email(ctx: ToolContext, args: Any) -> ToolOutput:
        """Send an email through the outbox (delivered once; retried while the server is down)."""
        to, cc, subject, body, draft = message_of(args)
        outbox.check_recipients(to + cc)
        if ctx.dry_run:
            outbox.compose(to=to, cc=cc, subject=subject, body=body)  # the exact message
            return ToolOutput(
                f"Would send to {', '.join(to + cc)}: {subject!r}",
                {"to": to, "cc": cc, "subject": subject},
            )
        queued = outbox.enqueue(
            to=to, cc=cc, subject=subject, body=body, created_by=ctx.user,
            idempotency_key=ctx.idempotency_key or f"send:{uuid.uuid4()}",
            draft_id=draft.id if draft else None,
        )  # fmt: skip
        sent = outbox.deliver(queued.id)
        return ToolOutput(
            _send_report(sent, outbox, again=not queued.created),
            _msg_data(sent),
            settled=sent.status == "sent",
        )

    def summarize_send(args: Any) -> str:
        try:
            to, cc, subject, _, _ = message_of(args)
        except (NotFound, ToolArgumentError):
            return f"Send an email ({args.draft_id or args.template or args.subject})"
        return f"Send an email to {', '.join(to + cc)}: {subject!r}"

    class NoArgs(BaseModel):
        model_config = ConfigDict(extra="forbid")

    return [
        ToolSpec(
            "list_email_templates",
            _doc(list_email_templates),
            NoArgs,
            list_email_templates,
            activity="looking at the email templates...",
        ),
        ToolSpec(
            "draft_email",
            _doc(draft_email),
            draft_model,
            draft_email,
            side_effect="write",
            needs_approval=False,
            activity="drafting the email...",
        ),
        ToolSpec(
            "send_email",
            _doc(send_email),
            send_model,
            send_email,
            side_effect="external",
            activity="sending the email...",
            summary=summarize_send,
        ),
    ]


def _send_report(msg: OutboxMessage, outbox: Outbox, *, again: bool) -> str:
    """What the person is told: sent only when the server took it, never before."""
    prefix = f"Message {msg.id} was already queued earlier. " if again else ""
    to = ", ".join(msg.recipients)
    if msg.status == "sent" and outbox.smtp is None:
        return f"{prefix}No mail server is configured: the email to {to} ({msg.subject!r}) was written to {msg.delivered_to}."
    if msg.status == "sent":
        return f"{prefix}Sent to {to}: {msg.subject!r} (Message-ID {msg.message_id})."
    if msg.status == "pending":
        return (
            f"{prefix}Not sent yet: the mail server did not take message {msg.id} to {to} "
            f"({msg.last_error or 'no answer'}). It is queued, will be retried automatically, "
            "and you will be told when it has gone out."
        )
    if msg.status == "sending":
        return f"{prefix}Not confirmed yet: message {msg.id} to {to} is being sent right now; you will be told when it has gone out."
    if msg.status == "unknown":
        return (
            f"{prefix}Not confirmed: the mail server did not confirm message {msg.id} to {to}; it may have been delivered, "
            f"so it will not be resent automatically (an admin checks and runs `rpa-agent outbox --retry {msg.id}` if needed)."
        )
    raise DeliveryError(f"message {msg.id} to {to} could not be delivered: {msg.last_error}")


def one_line_header(value: str, name: str) -> str:
    """A header value without line breaks (a CR or LF would start a header of its own)."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"the {name} may not contain a line break")
    return value


def _msg_data(msg: OutboxMessage) -> dict[str, Any]:
    return {
        "outbox_id": msg.id, "status": msg.status, "message_id": msg.message_id,
        "recipients": msg.recipients, "subject": msg.subject, "delivered_to": msg.delivered_to,
    }  # fmt: skip


def _doc(func: Any) -> str:
    return (func.__doc__ or "").strip()
