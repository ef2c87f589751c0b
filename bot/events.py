"""What goes into the conversation service and what comes out of it, surface-agnostic.

A surface (terminal, Slack) turns what a person did into an ``Inbound`` and renders the stream
of ``Event``s the service yields: text deltas while the model writes, tool activity, citations,
approval requests, a final answer, or an error that carries an error id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Inbound:
    """One message from a person, with where it came from."""

    user: str
    channel: str
    thread: str
    text: str
    surface: Literal["terminal", "slack", "cli", "test"] = "terminal"
    event_id: str | None = None  # the surface's id of this delivery, for de-duplication

    @property
    def conversation_id(self) -> str:
        """One conversation per channel + thread: the key of thread memory."""
        return f"{self.channel}:{self.thread}"


@dataclass(frozen=True)
class Citation:
    """Where a piece of an answer came from."""

    title: str
    path: str
    section: str = ""
    page: int | None = None

    @classmethod
    def from_any(cls, item: Any) -> Citation:
        """Build from a Citation, a dict, or any object with title/path/section/page."""
        if isinstance(item, Citation):
            return item
        if isinstance(item, dict):
            get = item.get
        else:

            def get(key: str, default: Any = None) -> Any:
                return getattr(item, key, default)

        page = get("page")
        return cls(
            title=str(get("title", "") or ""),
            path=str(get("path", "") or get("source", "") or ""),
            section=str(get("section", "") or ""),
            page=int(page) if page not in (None, "") else None,
        )

    def label(self) -> str:
        where = f" › {self.section}" if self.section else ""
        page = f" (p. {self.page})" if self.page else ""
        return f"{self.title}{where}{page}"


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer as the model writes it."""

    text: str
    kind: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True)
class ToolActivity:
    """The agent is using a tool (e.g. "searching the expense policy...")."""

    tool: str
    message: str
    kind: Literal["tool_activity"] = "tool_activity"


@dataclass(frozen=True)
class CitationEvent:
    """Documents the answer relies on."""

    citations: tuple[Citation, ...]
    kind: Literal["citation"] = "citation"


@dataclass(frozen=True)
class ApprovalRequest:
    """A side effect waits for a human: show it with Approve / Edit / Reject."""

    action_id: str
    tool: str
    summary: str  # what will happen, in plain words
    arguments: dict[str, Any]
    requester: str
    expires_at: str  # ISO 8601, UTC
    approvers: tuple[str, ...] = ()  # user ids allowed to decide; empty: the requester
    role: str | None = None  # a role that must approve (e.g. "manager"), if any
    # The documents behind it, as links (title, path, section): never their passage text.
    citations: tuple[Citation, ...] = ()
    # What a person decides on, as (label, value) lines: the inputs, never looked-up text.
    fields: tuple[tuple[str, str], ...] = ()
    kind: Literal["approval_request"] = "approval_request"


@dataclass(frozen=True)
class Final:
    """The complete answer of this turn."""

    text: str
    citations: tuple[Citation, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)  # structured result, e.g. a form listing
    kind: Literal["final"] = "final"


@dataclass(frozen=True)
class Error:
    """Something failed; ``message`` is short and true, the log has the traceback under ``error_id``."""

    message: str
    error_id: str
    kind: Literal["error"] = "error"


Event = TextDelta | ToolActivity | CitationEvent | ApprovalRequest | Final | Error


class ConversationService(Protocol):
    """What a surface needs from the conversation service (``bot/service.py`` implements it).

    Every method returns an async stream of events; none of them raises for a problem a
    person caused: those arrive as ``Error`` or ``Final`` events.
    """

    def handle(self, inbound: Inbound) -> AsyncIterator[Event]:
        """A message for the agent (model-backed)."""
        ...

    def command(self, inbound: Inbound, name: str, argument: str) -> AsyncIterator[Event]:
        """A model-free command: docs, forms, form, run, status, approvals, approve, reject, help."""
        ...

    def decide(
        self,
        action_id: str,
        user: str,
        decision: Literal["approve", "reject"],
        arguments: dict[str, Any] | None = None,
    ) -> AsyncIterator[Event]:
        """A person approves (optionally with edited arguments) or rejects a pending action."""
        ...

    def submit_form(
        self, inbound: Inbound, form: str, values: dict[str, Any]
    ) -> AsyncIterator[Event]:
        """A form filled by a person (e.g. in a Slack modal); validation errors come back as
        ``Error``-free ``Final`` with ``data={"errors": {field: message}}``."""
        ...

    def stop(self, conversation_id: str) -> bool:
        """Stop the conversation's running turn (its stream ends with a short ``Final``);
        False when none is running."""
        ...
