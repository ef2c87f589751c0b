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


def test_replicas_starting_together_on_a_new_database_all_open_it(state_target: str) -> None:
    import threading

    start, failures = threading.Barrier(4), []

    def open_one() -> None:
        start.wait()
        try:
            open_checkpointer(state_target)
        except Exception as exc:  # e.g. two set-ups recording the same version
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
