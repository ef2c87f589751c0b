"""Thread memory on both engines: a thread written through one checkpointer is read back
through another (a restart, or another replica), on the SQLite file and on PostgreSQL."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph

from bot.agent import open_checkpointer


def _graph(saver: object) -> object:
    builder = StateGraph(MessagesState)
    builder.add_node("echo", lambda state: {"messages": [AIMessage("heard you")]})
    builder.add_edge(START, "echo")
    builder.add_edge("echo", END)
    return builder.compile(checkpointer=saver)  # type: ignore[arg-type]


def test_a_thread_survives_into_another_checkpointer(state_target: str) -> None:
    config = {"configurable": {"thread_id": "C1:1.0"}}
    first = _graph(open_checkpointer(state_target))
    first.invoke({"messages": [HumanMessage("hello")]}, config)  # type: ignore[attr-defined]
    second = _graph(open_checkpointer(state_target))  # another process, the same state
    state = second.get_state(config)  # type: ignore[attr-defined]
    assert [m.content for m in state.values["messages"]] == ["hello", "heard you"]
