"""The terminal chat: the same conversation service as Slack, in a rich REPL.

Lines starting with ``/`` are commands (``/help`` lists them); anything else goes to the agent.
Input may be piped (``echo "hello" | rpa-agent chat``), so the chat can be scripted. Forms are
asked field by field; approvals are decided with ``/approve``, ``/edit`` or ``/reject``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from bot.events import (
    ApprovalRequest,
    Citation,
    CitationEvent,
    ConversationService,
    Error,
    Event,
    Final,
    Inbound,
    TextDelta,
    ToolActivity,
)

TERMINAL_HELP = """Terminal commands:
  /help             this list          /reset   forget this conversation
  /quit             leave              /as USER act as another user (e.g. a manager)
  /docs QUERY  /forms  /form NAME  /processes  /run PROCESS  /status [ID]
  /approvals  /approve ID  /reject ID  /edit ID {"field": "new value"}
Anything else is sent to the assistant."""

_SERVICE_COMMANDS = {
    "docs",
    "forms",
    "form",
    "processes",
    "run",
    "status",
    "approvals",
    "approve",
    "reject",
}


class TerminalChat:
    """A REPL over a ``ConversationService``; ``read_line`` returns None at end of input."""

    def __init__(
        self,
        service: ConversationService,
        *,
        user: str,
        console: Console | None = None,
        read_line: Callable[[str], str | None] | None = None,
        reset: Callable[[str], None] | None = None,
    ) -> None:
        self.service = service
        self.user = user
        self.console = console or Console()
        self.read_line = read_line or _default_reader(self.console)
        self.reset_thread = reset
        self.session = 1
        self._turn = 0
        self._pending_form: dict[str, Any] | None = None

    # ---- the loop --------------------------------------------------------------------------
    async def run(self) -> None:
        self.console.print(
            "[bold]rpa-agent[/bold] terminal chat. Type /help for commands, /quit to leave."
        )
        while True:
            line = self.read_line(f"{self.user}> ")
            if line is None:
                break
            line = line.strip()
            if not line:
                continue
            if line in {"/quit", "/exit"}:
                break
            await self.dispatch(line)

    def inbound(self, text: str) -> Inbound:
        self._turn += 1
        return Inbound(
            user=self.user,
            channel="terminal",
            thread=f"session-{self.session}",
            text=text,
            surface="terminal",
            event_id=f"terminal-{self.session}-{self._turn}-{id(self)}",
        )

    async def dispatch(self, line: str) -> None:
        if not line.startswith("/"):
            await self.render(self.service.handle(self.inbound(line)))
            return
        name, _, argument = line[1:].partition(" ")
        name = name.lower()
        if name == "help":
            self.console.print(TERMINAL_HELP)
        elif name == "reset":
            if self.reset_thread:
                self.reset_thread(self.inbound("").conversation_id)
            self.session += 1
            self.console.print("[dim]Conversation reset.[/dim]")
        elif name == "as":
            self.user = argument.strip() or self.user
            self.console.print(f"[dim]You are now {escape(self.user)}.[/dim]")
        elif name == "edit":
            await self._edit(argument)
        elif name in _SERVICE_COMMANDS:
            await self.render(self.service.command(self.inbound(line), name, argument))
            if self._pending_form is not None:  # /form or /run answered with a form: ask for it
                data, self._pending_form = self._pending_form, None
                await self.collect_form(data)
        else:
            self.console.print(f"Unknown command /{escape(name)}.\n{TERMINAL_HELP}")

    async def _edit(self, argument: str) -> None:
        action_id, _, raw = argument.strip().partition(" ")
        try:
            values = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError as exc:
            self.console.print(
                f"[red]The new arguments are not valid JSON: {escape(exc.msg)}[/red]"
            )
            return
        if not isinstance(values, dict):
            self.console.print(
                'Usage: /edit A-xxxx {"field": "new value", ...} (the full new arguments)'
            )
            return
        await self.render(self.service.decide(action_id, self.user, "approve", values))

    # ---- rendering events ---------------------------------------------------------------------
    async def render(self, events: Any) -> None:
        streamed = False
        cited: list[Citation] = []
        async for event in events:
            streamed = self._show(event, streamed, cited)
        if streamed:
            self.console.print()

    def _show(self, event: Event, streamed: bool, cited: list[Citation]) -> bool:
        if isinstance(event, TextDelta):
            self.console.print(event.text, end="", markup=False, highlight=False)
            return True
        if streamed:
            self.console.print()
        if isinstance(event, ToolActivity):
            self.console.print(f"[dim]… {escape(event.message)}[/dim]")
        elif isinstance(event, CitationEvent):
            cited.extend(c for c in event.citations if c not in cited)
        elif isinstance(event, ApprovalRequest):
            self._show_approval(event)
        elif isinstance(event, Final):
            if not streamed:
                self.console.print(event.text, markup=False, highlight=False)
            self._show_citations(event.citations or tuple(cited))
            if event.data and event.data.get("form") is not None:
                self._pending_form = event.data  # asked field by field once the stream ends
        elif isinstance(event, Error):
            self.console.print(
                f"[red]{escape(event.message)}[/red] [dim](error id {event.error_id})[/dim]"
            )
        return False

    def _show_citations(self, citations: tuple[Citation, ...]) -> None:
        for n, citation in enumerate(citations, 1):
            self.console.print(
                f"[dim][{n}] {escape(citation.label())} — {escape(citation.path)}[/dim]"
            )

    def _show_approval(self, request: ApprovalRequest) -> None:
        args = json.dumps(request.arguments, indent=2, ensure_ascii=False)
        who = f"someone with the '{request.role}' role" if request.role else "you"
        body = (
            f"{escape(request.summary)}\n\n[dim]{escape(args)}[/dim]\n\n"
            f"Waits for {who}. /approve {request.action_id}   /edit {request.action_id} {{...}}   "
            f"/reject {request.action_id}"
        )
        self.console.print(Panel(body, title=f"Approval needed: {request.action_id}", expand=False))

    # ---- forms, field by field ----------------------------------------------------------------
    async def collect_form(self, data: dict[str, Any]) -> None:
        form = data["form"]
        process = data.get("process")
        values: dict[str, Any] = {}
        fields = list(form.fields)
        while fields:
            for field in fields:
                answer = self._ask_field(field)
                if answer is None:
                    self.console.print("[dim]Cancelled.[/dim]")
                    return
                if answer != "":
                    values[field.name] = answer
            target = f"process:{process.name}" if process is not None else form.name
            errors = await self._submit(target, values)
            fields = [f for f in form.fields if f.name in errors]

    def _ask_field(self, field: Any) -> str | None:
        hint = []
        if getattr(field, "options", None):
            hint.append("/".join(str(o) for o in field.options))
        if getattr(field, "default", None) not in (None, ""):
            hint.append(f"default {field.default}")
        if not getattr(field, "required", False):
            hint.append("optional")
        label = getattr(field, "label", field.name)
        suffix = f" ({', '.join(hint)})" if hint else ""
        return self.read_line(f"  {label}{suffix}: ")

    async def _submit(self, target: str, values: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        async for event in self.service.submit_form(
            self.inbound(f"/submit {target}"), target, values
        ):
            found = event.data.get("errors") if isinstance(event, Final) and event.data else None
            if found:
                errors = dict(found)
                for name, message in errors.items():
                    self.console.print(f"[yellow]{escape(name)}: {escape(message)}[/yellow]")
            else:
                self._show(event, False, [])
        return errors


def _default_reader(console: Console) -> Callable[[str], str | None]:
    interactive = sys.stdin.isatty()

    def read(prompt: str) -> str | None:
        try:
            if interactive:
                return console.input(prompt)
            line = sys.stdin.readline()
            return None if line == "" else line.rstrip("\n")
        except (EOFError, KeyboardInterrupt):
            return None

    return read
