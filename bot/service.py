"""The conversation service: a message in, a stream of events out; no surface knowledge.

Surfaces (terminal, Slack) call ``handle`` for a message meant for the agent, ``command`` for
the model-free commands, ``decide`` for an approval decision and ``submit_form`` for a form a
person filled in. Work runs on thread pools (the model and the tools are synchronous): agent
turns on one, sized like the surfaces' number of conversations worked on at once, and the
model-free work on another, so a command or an approval never waits behind model work. Events
cross back to the caller's event loop through a queue. Messages of one conversation are
handled in order (a lock per conversation); different conversations run side by side.

An agent turn is bounded: the person's message is cut to its share of the context window (the
reply says so), and the turn has a deadline after which the person is told and the work stops.
``stop`` ends a conversation's running turn on request (Slack's stop button); a reader that
stops reading ends it the same way. A stopped turn's model request ends at the scheduler's
next step (``bot.priority.stop_scope``, also during its prefill), LangChain's next event
raises (``bot.turn_cancel``), nothing not yet proposed is proposed, and a halted reader gets a
short true ``Final`` at once.

Every failure that is not the person's doing is logged with its traceback under an error id
and reaches the surface as an ``Error`` event naming that id: never silence.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage, ToolMessage

from bot.agent import cut_to_tokens, message_budget
from bot.approval_flow import ActionRunner
from bot.commands import CommandHandler
from bot.events import (
    ApprovalRequest,
    Citation,
    CitationEvent,
    Error,
    Event,
    Final,
    Inbound,
    TextDelta,
    ToolActivity,
)
from bot.priority import stop_scope, stopped
from bot.turn_cancel import TurnCancelled, cancel_scope
from memory.errors import RpaError, new_error_id
from tools.docs import QUESTION_PASSAGES

log = logging.getLogger(__name__)

Emit = Callable[[Event], None]
_DONE = object()

STOPPED_TEXT = "Stopped, as you asked."
CUT_NOTE = (
    "_Your message was long: I read its first {kept:,} of {total:,} characters. "
    "Send the rest in another message if it matters._\n\n"
)


def deadline_text(seconds: float) -> str:
    return (
        f"I could not finish this within {seconds:g} seconds, so I stopped. "
        "Please ask again, perhaps in shorter form."
    )


@dataclass(frozen=True)
class _Halt:
    """Ends a running stream at once with ``text`` (a stop, a deadline)."""

    text: str
    reason: str


@dataclass
class _Running:
    """A running agent turn: its stop, and how to end its reader's wait."""

    stop: threading.Event
    halt: Callable[[_Halt], None]


_QUESTION_WORDS = {
    "how", "what", "who", "whom", "when", "where", "which", "why", "can", "could", "do",
    "does", "is", "are", "should", "may", "must", "am", "will", "would", "wie", "was", "wer",
}  # fmt: skip


def looks_like_question(text: str) -> bool:
    """A question about how things are done (not a request to do something)."""
    stripped = text.strip()
    words = stripped.lower().split()
    return bool(words) and (stripped.endswith("?") or words[0].strip(",.:") in _QUESTION_WORDS)


_TOOL_CALL_TEXT = re.compile(r"<tool_call>.*?(</tool_call>|$)", re.S)


def clean_answer(text: str) -> str:
    """The answer without tool-call markup a model wrote as text once its tools were taken away."""
    return _TOOL_CALL_TEXT.sub("", text or "").strip()


class VisibleStream:
    """Streamed answer text with ``clean_answer``'s markup held back as it arrives.

    ``feed`` takes the model's raw pieces and returns only what a person should see: a
    ``<tool_call>`` span is never shown, and a piece ending in what may be the start of one
    (``<tool``) waits for the next piece before it is shown or dropped.
    """

    _OPEN = "<tool_call>"

    def __init__(self) -> None:
        self.raw = ""
        self.shown = 0

    def feed(self, piece: str) -> str:
        self.raw += piece
        text = _TOOL_CALL_TEXT.sub("", self.raw)
        cut = text.rfind("<")
        if cut != -1 and self._OPEN.startswith(text[cut:]):
            text = text[:cut]  # maybe the start of a tool call: wait for more
        new = text[self.shown :]
        self.shown = max(self.shown, len(text))
        return new


def _new_citations(candidates: list[Citation], cited: list[Citation]) -> list[Citation]:
    """Candidates not cited yet, each once (several passages often share one section)."""
    fresh: list[Citation] = []
    for citation in candidates:
        if citation not in cited and citation not in fresh:
            fresh.append(citation)
    return fresh


def citations_from_artifact(artifact: Any) -> list[Citation]:
    """Citations carried by a tool result (``ToolOutput.citations`` or a dict's ``citations``)."""
    raw = getattr(artifact, "citations", None)
    if raw is None and isinstance(artifact, dict):
        raw = artifact.get("citations")
    return [Citation.from_any(item) for item in raw or []]


class Service:
    """Implements ``bot.events.ConversationService`` over the agent, tools and approvals."""

    def __init__(
        self,
        *,
        agent_factory: Callable[[], Any] | None,
        registry: Any,
        actions: ActionRunner,
        commands: CommandHandler,
        roles_of: Callable[[str], list[str]],
        workers: int = 4,
        prefetch_docs: bool = True,
        deadline: float = 180.0,
        quick_workers: int = 4,
    ) -> None:
        self.prefetch_docs = prefetch_docs
        self.deadline = deadline
        self._agent_factory = agent_factory
        self._agent: Any = None
        self._agent_lock = threading.Lock()
        self.registry = registry
        self.actions = actions
        self.commands = commands
        self.roles_of = roles_of
        # Agent turns (the model) and model-free work each have their own threads.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpa-work")
        self._quick = ThreadPoolExecutor(max_workers=quick_workers, thread_name_prefix="rpa-quick")
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._running: dict[str, _Running] = {}

    # ---- the protocol ------------------------------------------------------------------
    def handle(self, inbound: Inbound) -> AsyncIterator[Event]:
        return self._run(
            inbound.conversation_id, self._agent_turn, inbound, pool=self._pool, bounded=True
        )

    def command(self, inbound: Inbound, name: str, argument: str) -> AsyncIterator[Event]:
        return self._run(inbound.conversation_id, self.commands.run, inbound, name, argument)

    def decide(
        self,
        action_id: str,
        user: str,
        decision: Literal["approve", "reject"],
        arguments: dict[str, Any] | None = None,
    ) -> AsyncIterator[Event]:
        return self._run(
            f"action:{action_id}", self.actions.decide, action_id, user, decision, arguments
        )

    def submit_form(
        self, inbound: Inbound, form: str, values: dict[str, Any]
    ) -> AsyncIterator[Event]:
        return self._run(inbound.conversation_id, self.commands.submit_form, inbound, form, values)

    def stop(self, conversation_id: str) -> bool:
        """Stop the conversation's running agent turn; False when none is running."""
        with self._locks_guard:
            running = self._running.get(conversation_id)
        if running is None:
            return False
        running.stop.set()
        running.halt(_Halt(STOPPED_TEXT, "person"))
        return True

    # ---- lifecycle -----------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Finish (or report) what a crash left between approval and execution."""
        return self.actions.recover(self.remember)

    def reset_thread(self, conversation_id: str) -> None:
        """Forget a conversation (only if the agent was ever built: otherwise nothing is stored)."""
        if self._agent is not None:
            self._agent.reset(conversation_id)

    def close(self, wait: bool = False) -> None:
        """Stop taking work and every running turn (its model request ends at its next step);
        ``wait``: until the work in progress has ended (a clean exit)."""
        with self._locks_guard:
            running = list(self._running.values())
        for turn in running:
            turn.stop.set()
        self._quick.shutdown(wait=wait, cancel_futures=True)
        self._pool.shutdown(wait=wait, cancel_futures=True)

    # ---- the agent turn --------------------------------------------------------------------
    def agent(self) -> Any:
        """The agent, built on first use (loading the model takes a moment)."""
        with self._agent_lock:
            if self._agent is None:
                if self._agent_factory is None:
                    raise RpaError("no language model is configured; the /commands still work")
                self._agent = self._agent_factory()
            return self._agent

    def _agent_turn(self, emit: Emit, inbound: Inbound) -> None:
        agent = self.agent()
        roles = self.roles_of(inbound.user)
        ctx = self.actions.context_for(inbound, roles)
        cited: list[Citation] = []
        proposed: list[ApprovalRequest] = []
        refusal: dict[str, str] = {}  # what the checks found in the last refused write call

        def gate(spec: Any, args: Any, tool_ctx: Any) -> str:
            if stopped():  # the answer was stopped: nothing new is proposed
                return "The person stopped this request; nothing was proposed."
            request = self.actions.propose(spec, args, tool_ctx, cited)
            proposed.append(request)
            emit(request)
            return self.actions.describe_for_model(request)

        tools = self.registry.langchain_tools(ctx, gate)
        system = agent.system_prompt(inbound.user, roles)
        text, note = _bounded(inbound.text, message_budget(agent.context_window, system))
        if note:
            emit(TextDelta(note))
        seed = self._prefetch(emit, inbound, ctx, cited)
        prefetched = seed[-1].artifact if seed else None
        visible = VisibleStream()
        for kind, payload in agent.stream_turn(
            inbound.conversation_id, text, tools, system, seed=seed
        ):
            if stopped():
                return  # the reader has its answer; the model request ends at its next step
            if kind == "delta":
                shown = visible.feed(payload)
                if shown:
                    emit(TextDelta(shown))
            elif kind == "tool_call":
                emit(ToolActivity(payload["name"], self._activity(payload["name"])))
            elif kind == "tool_result":
                if _refused(payload.artifact):
                    refusal = payload.artifact.errors
                found = _new_citations(citations_from_artifact(payload.artifact), cited)
                if found:
                    cited.extend(found)
                    emit(CitationEvent(tuple(found)))
            elif kind == "final":
                answer = clean_answer(payload) or self._fallback_answer(
                    prefetched, proposed, refusal, inbound.surface
                )
                emit(Final(note + answer, tuple(cited)))

    def _prefetch(self, emit: Emit, inbound: Inbound, ctx: Any, cited: list[Citation]) -> list[Any]:
        """For a question about how things are done, search the documents before the model runs.

        A small local model does not reliably decide to search; the search it would have made
        is made for it and handed over as that tool call and its result, so the model continues
        exactly as if it had called the tool (the shape training teaches).
        """
        if not (self.prefetch_docs and looks_like_question(inbound.text)):
            return []
        if "search_process_docs" not in {spec.name for spec in self.registry.specs()}:
            return []
        emit(ToolActivity("search_process_docs", self._activity("search_process_docs")))
        args = {"query": inbound.text[:500], "k": QUESTION_PASSAGES}
        result = self.registry.call("search_process_docs", args, ctx)
        if not result.ok:
            return []
        found = _new_citations(citations_from_artifact(result), cited)
        if found:
            cited.extend(found)
            emit(CitationEvent(tuple(found)))
        call_id = f"prefetch_{uuid.uuid4().hex[:8]}"
        call = {"name": "search_process_docs", "args": args, "id": call_id, "type": "tool_call"}
        return [
            AIMessage(content="", tool_calls=[call]),
            ToolMessage(
                content=result.content,
                tool_call_id=call_id,
                name="search_process_docs",
                artifact=result,
            ),
        ]

    def _fallback_answer(
        self,
        prefetched: Any,
        proposed: list[ApprovalRequest],
        refusal: dict[str, str],
        surface: str,
    ) -> str:
        """When the model wrote no usable answer: name what waits for approval, else what was
        wrong with the request it tried to make, else quote the best passage found, with its
        source."""
        if proposed:
            return self.actions.describe_for_person(proposed[-1])
        if refusal:
            return refusal_for_person(refusal, surface)
        hits = (getattr(prefetched, "data", None) or {}).get("hits") or []
        if not hits or not hits[0].get("text"):
            return "I could not write an answer this time; please ask again in other words."
        best = hits[0]
        return (
            f"From the process documents ({best.get('title', '')}):\n\n{best['text'].strip()} [1]"
        )

    def _activity(self, tool: str) -> str:
        try:
            return str(self.registry.get(tool).activity)
        except (KeyError, RpaError):
            return f"using {tool}..."

    def remember(self, conversation_id: str, note: str) -> None:
        """Put a note into a thread's memory, if the agent exists (it does after any turn)."""
        if self._agent_factory is None:
            return
        try:
            self.agent().remember(conversation_id, note)
        except Exception:  # memory is a convenience here; the action's own record is durable
            log.exception("could not add a note to thread %s", conversation_id)

    # ---- running work off the caller's loop ---------------------------------------------------
    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    async def _run(
        self,
        key: str,
        work: Callable[..., None],
        *args: Any,
        pool: ThreadPoolExecutor | None = None,
        bounded: bool = False,
    ) -> AsyncIterator[Event]:
        """Run ``work`` on a pool thread (the quick one by default) and yield what it emits.

        ``bounded`` (agent turns): the turn can be stopped (``stop``) and has a deadline; either
        ends the stream at once with a short ``Final``. When the reader stops reading before
        the end (Ctrl-C, a shutdown), the work stops too, and nothing more is posted to a loop
        that may be gone.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def post(item: Any) -> None:
            if not stop.is_set():
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def job() -> None:
            try:
                with self._lock_for(key), cancel_scope(stop), stop_scope(stop):
                    if not stop.is_set():  # the reader may have left while this waited
                        work(post, *args)
            except TurnCancelled:
                log.info("stopped work on %s: nobody waits for it any more", key)
            except RpaError as exc:  # a known failure: short and true, still with an id
                error_id = new_error_id()
                log.warning("%s: %s", error_id, exc)
                post(Error(str(exc), error_id))
            except Exception as exc:
                error_id = new_error_id()
                log.exception("%s: unexpected failure", error_id)
                post(Error(f"Something went wrong ({type(exc).__name__}).", error_id))
            finally:
                post(_DONE)

        def halt(reason: _Halt) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, reason)

        if bounded:
            self._track(key, _Running(stop, halt))
        future = loop.run_in_executor(pool or self._quick, job)
        limit = loop.time() + self.deadline if bounded else None
        try:
            while True:
                item = await _next(queue, None if limit is None else limit - loop.time())
                if item is None:  # the deadline passed
                    log.warning("the turn in %s stopped at its deadline (%g s)", key, self.deadline)
                    item = _Halt(deadline_text(self.deadline), "deadline")
                if isinstance(item, _Halt):
                    yield Final(item.text, data={"stopped": item.reason})
                    return
                if item is _DONE:
                    break
                yield item
            await future
        finally:
            stop.set()  # finished, halted, or the reader left: nothing more of it is wanted
            if bounded:
                self._untrack(key, stop)

    def _track(self, key: str, running: _Running) -> None:
        with self._locks_guard:
            self._running[key] = running

    def _untrack(self, key: str, stop: threading.Event) -> None:
        with self._locks_guard:
            if key in self._running and self._running[key].stop is stop:
                del self._running[key]


async def _next(queue: asyncio.Queue[Any], timeout: float | None) -> Any:
    """The queue's next item; None once ``timeout`` seconds pass without one."""
    try:
        return await asyncio.wait_for(queue.get(), None if timeout is None else max(timeout, 0.0))
    except TimeoutError:
        return None


def _bounded(text: str, max_tokens: int) -> tuple[str, str]:
    """The person's message within ``max_tokens``, and the note for the reply if it was cut."""
    kept, cut = cut_to_tokens(text, max_tokens)
    return kept, (CUT_NOTE.format(kept=len(kept), total=len(text)) if cut else "")


REFUSED = (
    "I could not turn that into a request: {problems}. Say which form or process you mean "
    "(`{forms}` lists the forms), or add what is missing."
)


def _refused(artifact: Any) -> bool:
    """Whether a tool result is a write call refused for its values (the form's own checks)."""
    return (
        getattr(artifact, "ok", True) is False
        and getattr(artifact, "status", "") == "invalid"
        and bool(getattr(artifact, "errors", None))
    )


def refusal_for_person(errors: dict[str, str], surface: str = "") -> str:
    """What the checks found, for the person: a form's messages name their field's label
    ("Access level is required"); others get the argument's name in front."""
    problems = []
    for name, message in errors.items():
        message = message.rstrip(".")
        problems.append(
            message if message[:1].isupper() or name in message else f"{name}: {message}"
        )
    forms = "/rpa forms" if surface == "slack" else "/forms"  # Slack's one command, or the chat's
    return REFUSED.format(problems="; ".join(problems), forms=forms)


__all__ = ["ApprovalRequest", "Service", "citations_from_artifact"]
