"""Model-free commands, shared by every surface: the LLM is never the only path.

``/docs QUERY`` searches the knowledge base; ``/forms`` and ``/form NAME`` describe forms;
``/run PROCESS`` describes what a process needs (the surface then collects the values and
calls ``submit_form`` with ``process:NAME``); ``/status ID`` reports an action, a run or a
submission; ``/approvals`` lists what waits for the caller's decision and what the caller
asked for that waits for someone else; ``/approve ID`` and ``/reject ID`` decide. Text here
is for people: ``/docs`` shows excerpts, not the passages as they are framed for the model.
Each command emits a ``Final`` whose ``data`` carries the structured result so a
surface can render it its own way (a Slack modal, terminal prompts).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.approval_flow import ActionRunner
from bot.events import Citation, Error, Final, Inbound
from memory.errors import NotFound, RpaError, new_error_id

if TYPE_CHECKING:
    from tools.processes import ProcessEngine

log = logging.getLogger(__name__)

Emit = Callable[[Any], None]

HELP = """Commands (no model needed):
  docs QUERY        search the process documents, with citations
  forms             list the forms you can fill in
  form NAME         fill in a form
  run PROCESS       start a process (e.g. expense_reimbursement)
  processes         list the processes
  status [ID]       an approval (A-...), a process run, or a submission
  approvals         what waits for your decision, and what you asked for
  approve ID        approve a pending action
  reject ID         reject a pending action
  help              this list
Anything else is a question or request for the assistant."""


class CommandHandler:
    """Runs the model-free commands against the tools, the approvals and the processes."""

    def __init__(
        self,
        *,
        registry: Any,
        actions: ActionRunner,
        roles_of: Callable[[str], list[str]],
        forms: Callable[[], dict[str, Any]],
        engine: ProcessEngine,
        search: Callable[[str, int], Any] | None = None,
    ) -> None:
        self.registry = registry
        self.actions = actions
        self.roles_of = roles_of
        self.forms = forms
        self.engine = engine
        self.search = search

    def run(self, emit: Emit, inbound: Inbound, name: str, argument: str) -> None:
        name = name.strip().lower().lstrip("/")
        argument = argument.strip()
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            emit(Final(f"Unknown command {name!r}.\n\n{HELP}", data={"help": True}))
            return
        handler(emit, inbound, argument)

    # ---- commands --------------------------------------------------------------------------
    def _cmd_help(self, emit: Emit, inbound: Inbound, argument: str) -> None:
        emit(Final(HELP, data={"help": True}))

    def _cmd_docs(self, emit: Emit, inbound: Inbound, argument: str) -> None:
        if not argument:
            emit(Final("Usage: docs QUERY (e.g. docs receipts for taxi rides)"))
            return
        if self.search is None:
            raise RpaError("the knowledge base is not available")
        result = self.search(argument, 5)
        citations = tuple(Citation.from_any(c) for c in getattr(result, "citations", []) or [])
        hits = list(getattr(result, "hits", []) or [])
        emit(Final(passages_for_people(argument, hits), citations, data={"query": argument}))

    def _cmd_forms(self, emit: Emit, inbound: Inbound, argument: str) -> None:
        forms = self.forms()
        lines = [f"- `{f.name}`: {f.title}" for f in forms.values()]
        emit(Final("Forms:\n" + "\n".join(lines), data={"forms": sorted(forms)}))

    def _cmd_form(self, emit: Emit, inbound: Inbound, argument: str) -> None:
        forms = self.forms()
        form = forms.get(argument)
        if form is None:
            known = ", ".join(sorted(forms)) or "none"
            emit(
                Final(
                    f"There is no form {argument!r}. Forms: {known}.", data={"forms": sorted(forms)}
                )
            )
            return
        emit(Final(f"{form.title}: {form.description}".strip(), data={"form": form}))

    def _cmd_processes(self, emit: Emit, inbound: Inbound, argument: str) -> None:
        items = self.engine.definitions()
        lines = [f"- `{p.name}`: {p.title}" for p in items.values()]
        emit(Final("Processes:\n" + "\n".join(lines), data={"processes": sorted(items)}))

    def _cmd_run(self, emit: Emit, inbound: Inbound, argument: str) -> None:
        name, _, raw = argument.partition(" ")
        definitions = self.engine.definitions()
        process = definitions.get(name)
        if process is None:
            known = ", ".join(sorted(definitions)) or "none"
            emit(Final(f"There is no process {name!r}. Processes: {known}."))
            return
        if raw.strip():
            try:
                values = json.loads(raw)
            except json.JSONDecodeError as exc:
                emit(Final(f"The inputs are not valid JSON: {exc.msg} (at {exc.pos})."))
                return
            self.submit_form(emit, inbound, f"process:{name}", values)
            return
        form = self.forms().get(process.form) if process.form else None
        emit(
            Final(
                f"{process.title}: {process.description}".strip(),
                data={"process": process, "form": form},
            )
        )

    def _cmd_status(self, emit: Emit, inbound: Inbound, argument: str) -> None:
        if not argument:
            pending = self.actions.pending_for(inbound.user)
            runs = self.engine.list_runs(requester=inbound.user, limit=5)
            lines = [f"- {a.id}: {sentence(a.summary)} (waiting)" for a in pending]
            lines += [f"- {r.id}: {r.process} ({r.status})" for r in runs]
            emit(Final("\n".join(lines) or "Nothing in progress for you."))
            return
        if argument.startswith("A-"):
            action = self.actions.approvals.get(argument)
            who = f" by {action.decided_by}" if action.decided_by else ""
            emit(
                Final(
                    f"{action.id}: {sentence(action.summary)} ({action.status}{who})",
                    data={"action": action.id},
                )
            )
            return
        try:
            emit(Final(self.engine.describe_run(argument), data={"run": argument}))
            return
        except NotFound:
            pass
        result = self.registry.call(
            "get_submission", {"submission_id": argument}, self._ctx(inbound)
        )
        emit(Final(result.content))

    def _cmd_approvals(self, emit: Emit, inbound: Inbound, argument: str) -> None:
        """What waits for the caller's decision, then what the caller asked for that waits."""
        pending = self.actions.pending_for(inbound.user)
        theirs = {a.id for a in pending}
        asked = [
            a
            for a in self.actions.approvals.list(status=("pending",))
            if a.requester == inbound.user and a.id not in theirs
        ]
        if pending:
            emit(
                Final(f"{_count(len(pending), 'action waits', 'actions wait')} for your decision:")
            )
            for action in pending:
                emit(self.actions.request_event(action))
        else:
            emit(Final("Nothing waits for your decision."))
        if asked:
            lines = [f"- {a.id}: {sentence(a.summary)} {self._waits_for(a.role)}" for a in asked]
            head = f"You asked for {_count(len(asked), 'action that waits', 'actions that wait')}"
            emit(Final(f"{head} for someone else:\n" + "\n".join(lines)))

    def _waits_for(self, role: str | None) -> str:
        if not role:
            return "(waits for you)"
        people = self.actions.role_members(role)
        if not people:
            return f"(waits for the {role!r} role, which nobody holds: set RPA_ROLES)"
        return f"(waits for the {role!r} role: {', '.join(people)})"

    def _cmd_approve(self, emit: Emit, inbound: Inbound, argument: str) -> None:
        self.actions.decide(emit, argument, inbound.user, "approve")

    def _cmd_reject(self, emit: Emit, inbound: Inbound, argument: str) -> None:
        self.actions.decide(emit, argument, inbound.user, "reject")

    # ---- forms filled by a person ----------------------------------------------------------------
    def submit_form(self, emit: Emit, inbound: Inbound, form: str, values: dict[str, Any]) -> None:
        """A person filled in a form (or a process's form) themselves: that is their own act."""
        key = inbound.event_id or None
        if form.startswith("process:"):
            name = form.removeprefix("process:")
            outcome = self.engine.start_from_surface(
                name,
                values,
                requester=inbound.user,
                channel=inbound.channel,
                thread=inbound.thread,
                idempotency_key=key,
            )
            errors = getattr(outcome, "errors", None)
            if errors:
                emit(Final("Please correct the form.", data={"errors": errors}))
                return
            emit(
                Final(
                    getattr(outcome, "message", str(outcome)),
                    data={"run": getattr(outcome, "run_id", None)},
                )
            )
            return
        result = self.registry.call(
            "submit_form", {"form": form, "values": values}, self._ctx(inbound, idempotency_key=key)
        )
        errors = (getattr(result, "data", None) or {}).get("errors") if not result.ok else None
        if errors:
            emit(Final("Please correct the form.", data={"errors": errors}))
        elif not result.ok:
            emit(Error(result.content, getattr(result, "error_id", None) or new_error_id()))
        else:
            emit(Final(result.content, data={"submission": getattr(result, "data", None)}))

    def _ctx(self, inbound: Inbound, **extra: Any) -> Any:
        return self.actions.context_for(inbound, self.roles_of(inbound.user), **extra)


# ---- text for people ---------------------------------------------------------------------------
_EXCERPT = 240  # characters of a passage shown by /docs (the citation says where the rest is)


def sentence(text: str) -> str:
    """``text`` ending in exactly one full stop (summaries may or may not end with one)."""
    stripped = text.strip().rstrip(".")
    return f"{stripped}." if stripped else ""


def excerpt(text: str, limit: int = _EXCERPT) -> str:
    """The start of a passage on one line, cut at a word and marked when cut."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return f"{cut.rstrip(',;:')} …"


def passages_for_people(query: str, hits: list[Any]) -> str:
    """What ``/docs`` shows: numbered excerpts, each matching the citation of the same number."""
    if not hits:
        return f"Nothing in the process documents matches {query!r}."
    lines = [f"From the process documents, for {query!r}:"]
    lines += [f"[{n}] {excerpt(getattr(hit, 'text', ''))}" for n, hit in enumerate(hits, 1)]
    return "\n\n".join(lines)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
