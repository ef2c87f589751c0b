"""The conversation service: a message in, a stream of events out; no surface knowledge.

Surfaces (terminal, Slack) call ``handle`` for a message meant for the agent, ``command`` for
the model-free commands, ``decide`` for an approval decision and ``submit_form`` for a form a
person filled in. Work runs on a small thread pool (the model and the tools are synchronous);
events cross back to the caller's event loop through a queue. Messages of one conversation
are handled in order (a lock per conversation); different conversations run side by side.

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
from typing import Any, Literal

from langchain_core.messages import AIMessage, ToolMessage

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
from bot.turn_cancel import TurnCancelled, cancel_scope
from memory.errors import RpaError, new_error_id
from tools.docs import QUESTION_PASSAGES

log = logging.getLogger(__name__)

Emit = Callable[[Event], None]
_DONE = object()


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
    ) -> None:
        self.prefetch_docs = prefetch_docs
        self._agent_factory = agent_factory
        self._agent: Any = None
        self._agent_lock = threading.Lock()
        self.registry = registry
        self.actions = actions
        self.commands = commands
        self.roles_of = roles_of
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpa-work")
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # ---- the protocol ------------------------------------------------------------------
    def handle(self, inbound: Inbound) -> AsyncIterator[Event]:
        return self._run(inbound.conversation_id, self._agent_turn, inbound)

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

    # ---- lifecycle -----------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Finish (or report) what a crash left between approval and execution."""
        return self.actions.recover(self.remember)

    def reset_thread(self, conversation_id: str) -> None:
        """Forget a conversation (only if the agent was ever built: otherwise nothing is stored)."""
        if self._agent is not None:
            self._agent.reset(conversation_id)

    def close(self, wait: bool = False) -> None:
        """Stop taking work; ``wait``: until the work in progress has ended (a clean exit)."""
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

        def gate(spec: Any, args: Any, tool_ctx: Any) -> str:
            request = self.actions.propose(spec, args, tool_ctx, cited)
            emit(request)
            return self.actions.describe_for_model(request)

        tools = self.registry.langchain_tools(ctx, gate)
        system = agent.system_prompt(inbound.user, roles)
        seed = self._prefetch(emit, inbound, ctx, cited)
        prefetched = seed[-1].artifact if seed else None
        visible = VisibleStream()
        for kind, payload in agent.stream_turn(
            inbound.conversation_id, inbound.text, tools, system, seed=seed
        ):
            if kind == "delta":
                shown = visible.feed(payload)
                if shown:
                    emit(TextDelta(shown))
            elif kind == "tool_call":
                emit(ToolActivity(payload["name"], self._activity(payload["name"])))
            elif kind == "tool_result":
                found = _new_citations(citations_from_artifact(payload.artifact), cited)
                if found:
                    cited.extend(found)
                    emit(CitationEvent(tuple(found)))
            elif kind == "final":
                text = clean_answer(payload) or self._fallback_answer(prefetched)
                emit(Final(text, tuple(cited)))

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

    @staticmethod
    def _fallback_answer(prefetched: Any) -> str:
        """When the model wrote no usable answer: quote the best passage found, with its source."""
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

    async def _run(self, key: str, work: Callable[..., None], *args: Any) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        # Set when the reader stops reading before the end (Ctrl-C): the work stops at its next
        # model or tool step, and nothing more is posted to a loop that may be gone.
        cancelled = threading.Event()

        def post(item: Any) -> None:
            if not cancelled.is_set():
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def job() -> None:
            try:
                with self._lock_for(key), cancel_scope(cancelled):
                    if not cancelled.is_set():  # the reader may have left while this waited
                        work(post, *args)
            except TurnCancelled:
                log.info("stopped work on %s: its reader left", key)
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

        future = loop.run_in_executor(self._pool, job)
        finished = False
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                yield item
            finished = True
        finally:
            if not finished:
                cancelled.set()
        await future


__all__ = ["ApprovalRequest", "Service", "citations_from_artifact"]
