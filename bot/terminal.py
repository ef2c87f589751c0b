"""The terminal chat: the same conversation service as Slack, in a REPL that behaves like a CLI.

Lines starting with ``/`` are commands (``/help`` lists them); anything else goes to the agent.
Input may be piped (``echo "hello" | rpa-agent chat``), so the chat can be scripted. Forms are
asked field by field (``bot/terminal_forms.py``); events are shown by ``bot/terminal_view.py``;
approvals are decided with ``/approve``, ``/edit`` or ``/reject``; ``/as`` switches who you
are, and ``/as ROLE`` becomes the person holding that role (the workspace's demo people when no
roles are configured).

Ctrl-C stops the answer in progress: the stream is closed, which tells the service to stop the
turn (and the model to free its place in the batch), and the prompt returns. Ctrl-C at the
prompt, a second time, or Ctrl-D leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape

from bot.events import ConversationService, Inbound
from bot.terminal_forms import INTERRUPTED, FormFiller, ValueStyle
from bot.terminal_view import EventView

TERMINAL_HELP = """Terminal commands:
  /help             this list          /reset   forget this conversation
  /quit             leave (or Ctrl-D)  /as USER or /as ROLE   act as someone else
  /docs QUERY  /forms  /form NAME  /processes  /run PROCESS  /status [ID]
  /approvals  /approve ID  /reject ID  /edit ID {"field": "new value"}
Anything else is sent to the assistant. Ctrl-C stops an answer; in a form, /cancel stops it."""

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


class RoleDirectory(Protocol):
    """Who holds which role (``bot.wiring.Roles``)."""

    @property
    def members(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def demo(self) -> bool: ...


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
        roles: RoleDirectory | None = None,
        style: ValueStyle | None = None,
        workspace: Path | None = None,
        company: str = "",
        notes: Sequence[str] = (),
        waiting_note: Callable[[], str | None] = lambda: None,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.service = service
        self.user = user
        self.console = console or Console()
        self._own_reader = read_line is None
        self.read_line = read_line or _default_reader()
        self.reset_thread = reset
        self.roles = roles
        self.workspace = workspace
        self.company = company
        self.notes = list(notes)
        self.waiting_note = waiting_note
        self.forms = FormFiller(self.console, self._read, style or ValueStyle(), today)
        self.session = 1
        self._turn = 0
        self._pending_form: dict[str, Any] | None = None
        self._leaving = False
        self._answering: asyncio.Task[None] | None = None
        self._stopped = False
        self._reading = False
        self._pending_interrupt = False

    # ---- the loop --------------------------------------------------------------------------
    async def run(self) -> None:
        self._greet()
        interrupted = False  # the last thing the person did was Ctrl-C
        with self._interrupts():
            while not self._leaving:
                line = self._read(f"{self.user}> ")
                if line is None or (line == INTERRUPTED and interrupted):
                    break
                if line == INTERRUPTED:
                    interrupted = True
                    self.console.print(
                        "[dim](Ctrl-C again or Ctrl-D to leave)[/dim]", highlight=False
                    )
                    continue
                line = line.strip()
                if line in {"/quit", "/exit"}:
                    break
                interrupted = bool(line) and not await self._answer(line)
        self.console.print("[dim]Bye.[/dim]")

    def _greet(self) -> None:
        who = f" for {escape(self.company)}" if self.company else ""
        self.console.print(
            f"[bold]rpa-agent[/bold] terminal chat{who}. Type /help for commands, /quit to leave."
        )
        if self.roles is not None and self.roles.demo:
            names = ", ".join(f"/as {role}" for role in self.roles.members)
            self.console.print(
                "[dim]No roles are configured (RPA_ROLES), so the workspace's demo people decide "
                f"approvals (README, Roles): {escape(names)}.[/dim]"
            )
        for note in self.notes:  # paths: one line each, never broken
            self.console.print(f"[dim]{escape(note)}[/dim]", soft_wrap=True)

    async def _answer(self, line: str) -> bool:
        """Dispatch one line; False when Ctrl-C stopped it."""
        self._stopped = False
        self._answering = asyncio.ensure_future(self.dispatch(line))
        try:
            await self._answering
        except asyncio.CancelledError:
            if not self._stopped:
                raise  # cancelled from outside, not by Ctrl-C
            self.console.print("[yellow]Stopped.[/yellow]")
            return False
        finally:
            self._answering = None
        return True

    def interrupt(self) -> None:
        """Ctrl-C while an answer is in progress: stop it (called on the chat's event loop)."""
        if self._answering is not None and not self._answering.done():
            self._stopped = True
            self._answering.cancel()

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
            step = self.waiting_note() or "thinking"
            await self.render(self.service.handle(self.inbound(line)), step)
            return
        name, _, argument = line[1:].partition(" ")
        name = name.lower()
        if name == "help":
            self.console.print(TERMINAL_HELP, markup=False)
        elif name == "reset":
            if self.reset_thread:
                self.reset_thread(self.inbound("").conversation_id)
            self.session += 1
            self.console.print("[dim]Conversation reset.[/dim]")
        elif name == "as":
            self._become(argument.strip())
        elif name == "edit":
            await self._edit(argument)
        elif name in _SERVICE_COMMANDS:
            await self.render(self.service.command(self.inbound(line), name, argument))
            if self._pending_form is not None:  # /form or /run answered with a form: ask for it
                data, self._pending_form = self._pending_form, None
                await self.collect_form(data)
        else:
            self.console.print(f"Unknown command /{escape(name)}.")
            self.console.print(TERMINAL_HELP, markup=False)

    # ---- who you are -------------------------------------------------------------------------
    def _become(self, who: str) -> None:
        members = self.roles.members if self.roles is not None else {}
        if not who:
            held = ", ".join(r for r, people in members.items() if self.user in people) or "none"
            choices = ", ".join(f"/as {r}" for r in members) or "none configured"
            self.console.print(
                f"You are {escape(self.user)} (roles: {escape(held)}). Roles: {choices}."
            )
            return
        if members.get(who):
            self.user = members[who][0]
            demo = self.roles is not None and self.roles.demo
            kind = "the demo person who holds" if demo else "who holds"
            self.console.print(
                f"[dim]You are now {escape(self.user)}, {kind} the {escape(who)!r} role.[/dim]"
            )
            return
        self.user = who
        held = ", ".join(r for r, people in members.items() if who in people) or "no roles"
        self.console.print(f"[dim]You are now {escape(who)} ({escape(held)}).[/dim]")

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
                'Usage: /edit A-xxxx {"field": "new value", ...} (the full new arguments)',
                markup=False,
            )
            return
        await self.render(self.service.decide(action_id, self.user, "approve", values))

    # ---- rendering events ---------------------------------------------------------------------
    async def render(self, events: Any, step: str = "working") -> None:
        view = EventView(
            self.console,
            user=self.user,
            workspace=self.workspace,
            first_step=step,
            on_form=self._want_form,
        )
        await view.render(events)

    def _want_form(self, data: dict[str, Any]) -> None:
        self._pending_form = data

    # ---- forms, field by field ----------------------------------------------------------------
    async def collect_form(self, data: dict[str, Any]) -> None:
        form = data["form"]
        process = data.get("process")
        target = f"process:{process.name}" if process is not None else form.name
        values: dict[str, Any] = {}
        fields = list(form.fields)
        while fields:
            outcome = self.forms.ask(form, fields, values)
            if outcome != "done":
                self._leaving = outcome == "leave"
                return
            errors = await self._submit(target, values)
            fields = [f for f in form.fields if f.name in errors]

    async def _submit(self, target: str, values: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        view = EventView(self.console, user=self.user, workspace=self.workspace)
        async for event in self.service.submit_form(
            self.inbound(f"/submit {target}"), target, values
        ):
            found = getattr(event, "data", None) or {}
            if found.get("errors"):
                errors = dict(found["errors"])
                for message in errors.values():
                    self.console.print(f"[yellow]{escape(message)}[/yellow]")
            else:
                view.show(event)
        return errors

    # ---- reading lines and Ctrl-C -------------------------------------------------------------
    def _read(self, prompt: str) -> str | None:
        if self._pending_interrupt:  # Ctrl-C pressed between two prompts
            self._pending_interrupt = False
            return INTERRUPTED
        self._reading = True
        try:
            return self.read_line(prompt)
        except KeyboardInterrupt:  # arrived just before or after the reader's own handling
            return INTERRUPTED
        finally:
            self._reading = False

    @contextmanager
    def _interrupts(self) -> Iterator[None]:
        """Ctrl-C stops an answer; at a prompt it reaches the reader (which returns INTERRUPTED)."""
        if not self._own_reader or threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()

        def on_sigint(signum: int, frame: Any) -> None:
            if self._reading:  # input() returns at once; the reader turns it into INTERRUPTED
                self._reading = False  # a second Ctrl-C right after is a second one
                raise KeyboardInterrupt
            if self._answering is not None:
                loop.call_soon_threadsafe(self.interrupt)
            else:
                self._pending_interrupt = True

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


def _default_reader() -> Callable[[str], str | None]:
    interactive = sys.stdin.isatty()
    if interactive:
        with contextlib.suppress(ImportError):  # not on every platform; input() works without
            import readline  # noqa: F401  (line editing and history for input())

    def read(prompt: str) -> str | None:
        try:
            if interactive:
                return input(prompt)
            line = sys.stdin.readline()
            return None if line == "" else line.rstrip("\n")
        except EOFError:
            return None
        except KeyboardInterrupt:
            if interactive:
                print()  # leave the half-typed line
            return INTERRUPTED

    return read
