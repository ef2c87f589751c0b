"""How the terminal chat shows the service's events: answers, progress, citations, approval cards.

``EventView`` renders one stream of events. On a real terminal a spinner names the current step
with the seconds spent (it disappears when the answer starts to stream); piped output gets one
line per new step instead. Citations are short links (title and section, the file underneath);
an approval card shows what will happen, the fields a person decides on, the documents behind
it, and who may decide.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from bot.events import (
    ApprovalRequest,
    Citation,
    CitationEvent,
    Error,
    Event,
    Final,
    TextDelta,
    ToolActivity,
)

# Longer text values in a process approval are what earlier steps looked up (policy passages),
# not what the person decides on; the card points to the documents instead.
_LOOKUP_TEXT = 200


class Working:
    """A spinner renderable: the current step and the seconds since the question was sent."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.started = time.monotonic()
        self.spinner = Spinner("dots", style="cyan")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        seconds = int(time.monotonic() - self.started)
        self.spinner.update(text=Text(f"{self.step}… {seconds} s", style="dim"))
        yield self.spinner


def citation_line(n: int, citation: Citation, workspace: Path | None) -> str:
    """``[1] Title › Section`` linked to the file when it lies in the workspace, then its path."""
    label = escape(citation.label())
    target = (workspace / citation.path) if workspace and citation.path else None
    if target is not None and target.is_file():
        label = f"[link={target.resolve().as_uri()}]{label}[/link]"
    where = f" [dim]({escape(citation.path)})[/dim]" if citation.path else ""
    return f"[{n}] {label}{where}"  # "[1]" is no markup tag: rich prints it as it is


class EventView:
    """Renders the events of one request on ``console``; ``render`` consumes the stream."""

    def __init__(
        self,
        console: Console,
        *,
        user: str,
        workspace: Path | None = None,
        first_step: str = "working",
        on_form: Callable[[dict[str, Any]], None] = lambda data: None,
    ) -> None:
        self.console = console
        self.user = user
        self.workspace = workspace
        self.first_step = first_step
        self.on_form = on_form
        self._streamed = False
        self._cited: list[Citation] = []
        self._live: Live | None = None
        self._working: Working | None = None
        self._last_step = ""
        self._had_text = False  # the answer of this turn streamed (its Final repeats it)

    async def render(self, events: Any) -> None:
        try:
            self._set_step(self.first_step)
            async for event in events:
                self.show(event)
        finally:
            self._stop_spinner()
            if self._streamed:
                self.console.print()

    # ---- progress ----------------------------------------------------------------------------
    def _set_step(self, step: str) -> None:
        step = step.strip().rstrip(".…").strip()
        if not self.console.is_terminal:
            if step != self._last_step and step not in ("working", "thinking"):
                self.console.print(f"[dim]… {escape(step)}[/dim]")
            self._last_step = step
            return
        if self._working is None:
            self._working = Working(step)
        self._working.step = step
        if self._live is None:
            self._live = Live(
                self._working,
                console=self.console,
                transient=True,
                refresh_per_second=8,
                # Library output stays in the log: Live would otherwise show it above the spinner.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()

    def _stop_spinner(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # ---- events ------------------------------------------------------------------------------
    def show(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self._stop_spinner()
            self.console.print(event.text, end="", markup=False, highlight=False)
            self._streamed = self._had_text = True
            return
        if self._streamed:
            self.console.print()
            self._streamed = False
        if isinstance(event, ToolActivity):
            self._set_step(event.message)
        elif isinstance(event, CitationEvent):
            self._cited.extend(c for c in event.citations if c not in self._cited)
            self._set_step("writing the answer")
        elif isinstance(event, ApprovalRequest):
            self._stop_spinner()
            self.console.print(approval_card(event, self.user, self.workspace))
        elif isinstance(event, Final):
            self._final(event)
        elif isinstance(event, Error):
            self._stop_spinner()
            self.console.print(
                f"[red]{escape(event.message)}[/red] [dim](error id {event.error_id}; "
                "the log has the details)[/dim]"
            )

    def _final(self, event: Final) -> None:
        self._stop_spinner()
        if not self._had_text:
            self.console.print(event.text, markup=False, highlight=False)
        self._had_text = False
        self.show_citations(event.citations or tuple(self._cited))
        if event.data and event.data.get("form") is not None:
            self.on_form(event.data)  # asked field by field once the stream ends

    def show_citations(self, citations: Iterable[Citation]) -> None:
        for n, citation in enumerate(citations, 1):
            self.console.print(
                citation_line(n, citation, self.workspace), highlight=False, soft_wrap=True
            )


# ---- approval cards ------------------------------------------------------------------------------
def decision_fields(request: ApprovalRequest) -> list[tuple[str, str]]:
    """The fields a person decides on, as (label, value) rows.

    An event that names its fields (``fields``) is shown as it is; otherwise the arguments are:
    a process step's form values without what earlier steps looked up, or a tool's arguments.
    """
    given = getattr(request, "fields", None)
    if given:
        pairs = given.items() if isinstance(given, Mapping) else given
        return [(_label(label), _shown(value)) for label, value in pairs]
    arguments = request.arguments
    process_values = arguments.get("values") if "run_id" in arguments else None
    if isinstance(process_values, Mapping):
        return [
            (_label(name), _shown(value))
            for name, value in process_values.items()
            if not (isinstance(value, str) and len(value) > _LOOKUP_TEXT)
            and not isinstance(value, dict | list)
        ]
    return [(_label(name), _shown(value)) for name, value in arguments.items()]


def _label(name: str) -> str:
    words = str(name).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _shown(value: Any) -> str:
    if isinstance(value, bool) or value in ("True", "False"):  # a yes/no field, maybe as text
        return "yes" if value in (True, "True") else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def _who_decides(request: ApprovalRequest, user: str) -> tuple[str, bool]:
    """Who may decide, in words, and whether ``user`` may."""
    if request.role:
        people = ", ".join(request.approvers)
        if not request.approvers:
            return f"the {request.role!r} role, which nobody holds yet (set RPA_ROLES)", False
        return f"the {request.role!r} role ({people})", user in request.approvers
    return ("you" if user == request.requester else request.requester), user == request.requester


def approval_card(request: ApprovalRequest, user: str, workspace: Path | None = None) -> Panel:
    """The card: what will happen, the fields, the documents, who decides, the commands."""
    rows = Table.grid(padding=(0, 2))
    rows.add_column(style="dim", no_wrap=True)
    rows.add_column(overflow="fold")
    for label, value in decision_fields(request):
        rows.add_row(escape(label), escape(value))
    who, may = _who_decides(request, user)
    parts: list[Any] = [Text(request.summary), Text(""), rows, Text("")]
    for n, citation in enumerate(request.citations, 1):
        parts.append(Text.from_markup(citation_line(n, citation, workspace)))
    parts.append(Text.from_markup(f"[dim]Waits for {escape(who)}.[/dim]"))
    if may:
        edit = "" if "run_id" in request.arguments else f"   /edit {request.action_id} {{...}}"
        parts.append(Text(f"/approve {request.action_id}   /reject {request.action_id}{edit}"))
    return Panel(Group(*parts), title=f"Approval needed: {request.action_id}", expand=False)
