"""The LangChain agent: model + tools + system prompt + thread memory + the approval gate.

One turn = one ``create_agent`` graph run over the conversation's checkpointed messages
(LangGraph's ``SqliteSaver`` on the state file, or ``PostgresSaver`` when the state is on
PostgreSQL, so a restart, or another replica, keeps every thread). The graph
is compiled per turn because its tools are bound to the caller (``ToolContext``): compiling
costs milliseconds, the model and the checkpointer are shared.

Tools that need approval never run inside the agent: the registry hands them to ``gate``,
which stores a ``PendingAction`` and tells the model it waits for a person.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware.types import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.messages.utils import count_tokens_approximately, trim_messages
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver

from prompts import render_prompt

log = logging.getLogger(__name__)

# Room left in the context window for the system prompt, tool schemas and the answer.
_RESERVED_TOKENS = 1536
# Characters per token when counting without the tokenizer. English prose runs about four;
# numbers, codes and other scripts run fewer, so counting three errs on the side of room.
CHARS_PER_TOKEN = 3.0


def count_tokens(messages: Any) -> int:
    """Tokens ``messages`` take, estimated generously (``CHARS_PER_TOKEN``)."""
    return count_tokens_approximately(messages, chars_per_token=CHARS_PER_TOKEN)


def history_budget(context_window: int, system_prompt: str) -> int:
    """Tokens the conversation's messages may take beside the system prompt, tools and answer."""
    return max(256, context_window - _RESERVED_TOKENS - int(len(system_prompt) / CHARS_PER_TOKEN))


def message_budget(context_window: int, system_prompt: str) -> int:
    """Tokens one person's message may take: half the history budget (the rest keeps context)."""
    return history_budget(context_window, system_prompt) // 2


def cut_to_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    """``text`` cut to about ``max_tokens`` tokens at a word boundary; and whether it was cut."""
    limit = int(max_tokens * CHARS_PER_TOKEN)
    if len(text) <= limit:
        return text, False
    head = text[:limit]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip(), True


def _cut_message(message: BaseMessage, max_tokens: int) -> BaseMessage:
    """``message`` with its text cut to ``max_tokens`` (messages within it come back as they are)."""
    if not isinstance(message.content, str) or count_tokens([message]) <= max_tokens:
        return message
    text, _ = cut_to_tokens(message.content, max_tokens)
    return message.model_copy(update={"content": text})


class TrimHistory(AgentMiddleware):
    """Keep the prompt inside the model's context window: drop the oldest turns first.

    The checkpoint keeps the whole thread; only what the model sees is trimmed, always
    starting on a person's message so tool results are never orphaned from their call. A
    single message larger than the whole budget is never kept whole: its text is cut to fit.
    """

    def __init__(self, max_tokens: int) -> None:
        super().__init__()
        self.max_tokens = max(256, max_tokens)

    def _trim(self, request: ModelRequest) -> ModelRequest:
        messages = list(
            trim_messages(
                request.messages,
                max_tokens=self.max_tokens,
                token_counter=count_tokens,
                strategy="last",
                start_on="human",
            )
        )
        if not messages and request.messages:  # the last turn alone is too big: cut it down
            messages = self._fit_last_turn(list(request.messages))
        return request.override(messages=messages)  # type: ignore[arg-type]

    def _fit_last_turn(self, messages: list[BaseMessage]) -> list[BaseMessage]:
        """The last turn, from its person's message on, cut to fit: no message takes more than
        half the budget, and the person's message gets what the rest leaves."""
        humans = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
        turn = [
            _cut_message(m, self.max_tokens // 2) for m in messages[humans[-1] if humans else -1 :]
        ]
        room = self.max_tokens - count_tokens(turn[1:]) - 16
        return [_cut_message(turn[0], max(64, room)), *turn[1:]]

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        return handler(self._trim(request))

    async def awrap_model_call(self, request: ModelRequest, handler: Any) -> ModelResponse:
        return await handler(self._trim(request))


class ToolRounds(AgentMiddleware):
    """After ``limit`` rounds of tool calls in one turn, the model must answer in words.

    Small models can call the same tool again and again; past the limit the tools are taken
    away for that call, so every turn ends with an answer instead of a recursion error. A call
    repeated exactly within the turn would get the same result, so once one is, the tools are
    taken away at once.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = max(1, limit)

    def _limited(self, request: ModelRequest) -> ModelRequest:
        calls: list[str] = []
        for message in reversed(request.messages):
            if isinstance(message, HumanMessage):
                break
            if isinstance(message, AIMessage) and message.tool_calls:
                calls.append(
                    json.dumps([(c["name"], c["args"]) for c in message.tool_calls], sort_keys=True)
                )
        repeated = len(set(calls)) < len(calls)
        return request.override(tools=[]) if repeated or len(calls) >= self.limit else request

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        return handler(self._limited(request))

    async def awrap_model_call(self, request: ModelRequest, handler: Any) -> ModelResponse:
        return await handler(self._limited(request))


def open_checkpointer(target: str) -> BaseCheckpointSaver[Any]:
    """Thread memory beside the rest of the state: the SQLite file (its own tables, WAL like
    the rest), or, for a ``postgresql://`` URL, LangGraph's ``PostgresSaver`` on that server
    (a connection pool, so every replica reads and writes the same threads)."""
    from memory.migrate import one_at_a_time
    from memory.sql import is_url, libpq_url

    if is_url(target):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        pool: ConnectionPool[Any] = ConnectionPool(
            libpq_url(target), min_size=1, max_size=8, name="rpa-threads", open=True,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )  # fmt: skip
        saver: BaseCheckpointSaver[Any] = PostgresSaver(pool)  # type: ignore[arg-type]
    else:
        conn = sqlite3.connect(target, check_same_thread=False, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        saver = SqliteSaver(conn)
    with one_at_a_time(target):  # replicas starting together set the tables up in turn
        saver.setup()  # type: ignore[attr-defined]
    return saver


@dataclass(frozen=True)
class Persona:
    """Whose assistant the agent is: the company and what people come to it for."""

    company: str  # the company's name (workspace.yaml)
    topics: tuple[str, ...]  # the processes and forms people use it for, by title
    currency: str = "EUR"

    @classmethod
    def of(cls, workspace: Path) -> Persona:
        """The persona of the company whose workspace this is."""
        from tools.forms import load_forms
        from tools.process_defs import load_processes
        from tools.workspace import load_profile

        company = load_profile(workspace).company
        processes = load_processes(workspace)
        wrapped = {p.form for p in processes.values() if p.form}
        titles = [p.title for p in processes.values()]
        titles += [f.title for name, f in load_forms(workspace).items() if name not in wrapped]
        return cls(company.name, tuple(titles), company.currency)


def render_system_prompt(
    persona: Persona, user: str, roles: list[str] | tuple[str, ...], today: date | None = None
) -> str:
    """``prompts/system.md`` for one person on one day: the agent and training both use this."""
    return render_prompt(
        "system.md",
        company=persona.company,
        topics=", ".join(t[:1].lower() + t[1:] for t in persona.topics),
        currency=persona.currency,
        today=(today or date.today()).isoformat(),
        user=user,
        roles=", ".join(roles),
    )


def data_block(text: str) -> str:
    """Delimit text that is data, never instructions (documents, tool results, other users)."""
    return f"<data>\n{text.replace('</data>', '</ data>')}\n</data>"


@dataclass
class TurnResult:
    """What one agent turn produced, besides the streamed events."""

    text: str = ""
    tool_messages: list[ToolMessage] = field(default_factory=list)


class Agent:
    """Runs turns of one conversation at a time over a shared model and checkpointer."""

    def __init__(
        self,
        model: BaseChatModel,
        checkpointer: BaseCheckpointSaver[Any],
        *,
        persona: Persona,
        clock: Callable[[], date] = date.today,
        context_window: int = 8192,
        max_model_calls: int = 6,
        max_tool_rounds: int = 3,
    ) -> None:
        self.max_tool_rounds = max_tool_rounds
        self.model = model
        self.checkpointer = checkpointer
        self.persona = persona
        self.clock = clock  # what today is (settings can pin it)
        self.context_window = context_window
        self.max_model_calls = max_model_calls

    def system_prompt(self, user: str, roles: list[str]) -> str:
        """The system prompt for one turn (the model runtime adds the bound tools' schemas)."""
        return render_system_prompt(self.persona, user, roles, self.clock())

    def graph(self, tools: list[Any], system_prompt: str) -> Any:
        budget = history_budget(self.context_window, system_prompt)
        return create_agent(
            self.model,
            tools,
            system_prompt=system_prompt,
            middleware=[ToolRounds(self.max_tool_rounds), TrimHistory(budget)],
            checkpointer=self.checkpointer,
        )

    @staticmethod
    def config(conversation_id: str, recursion_limit: int = 25) -> dict[str, Any]:
        return {"configurable": {"thread_id": conversation_id}, "recursion_limit": recursion_limit}

    def stream_turn(
        self,
        conversation_id: str,
        text: str,
        tools: list[Any],
        system_prompt: str,
        seed: list[BaseMessage] | None = None,
    ) -> Iterator[tuple[str, Any]]:
        """Yield ``("delta", str)``, ``("tool_call", dict)``, ``("tool_result", ToolMessage)``,
        ``("final", str)`` while the agent works on one message.

        ``seed``: messages that follow the person's message before the model runs (a tool call
        and its result the service already made), exactly as if the model had made the call.
        """
        graph = self.graph(tools, system_prompt)
        config = self.config(conversation_id, recursion_limit=2 * self.max_model_calls + 1)
        final = ""
        streamed = ""
        for mode, payload in graph.stream(
            {"messages": [HumanMessage(content=text), *(seed or [])]},
            config,
            stream_mode=["messages", "updates"],
        ):
            if mode == "messages":
                chunk, meta = payload
                if (
                    isinstance(chunk, AIMessageChunk)
                    and meta.get("langgraph_node") == "model"
                    and not chunk.tool_call_chunks
                    and isinstance(chunk.content, str)
                    and chunk.content
                ):
                    streamed += chunk.content
                    yield "delta", chunk.content
                continue
            for update in (payload or {}).values():
                for message in (
                    (update or {}).get("messages", []) if isinstance(update, dict) else []
                ):
                    if isinstance(message, AIMessage):
                        for call in message.tool_calls:
                            yield "tool_call", call
                        if not message.tool_calls:
                            final = (
                                message.text if hasattr(message, "text") else str(message.content)
                            )
                    elif isinstance(message, ToolMessage):
                        yield "tool_result", message
        yield "final", final or streamed

    def remember(self, conversation_id: str, note: str) -> None:
        """Add a note (e.g. an approved action's result) to the thread's memory."""
        graph = self.graph([], "")
        graph.update_state(
            self.config(conversation_id),
            {"messages": [HumanMessage(content=note)]},
            as_node="model",
        )

    def history(self, conversation_id: str) -> list[BaseMessage]:
        graph = self.graph([], "")
        state = graph.get_state(self.config(conversation_id))
        return list((state.values or {}).get("messages", []))

    def reset(self, conversation_id: str) -> None:
        self.checkpointer.delete_thread(conversation_id)
