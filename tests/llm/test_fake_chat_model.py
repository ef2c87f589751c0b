"""The scripted fake chat model the rest of the suite uses, inside LangChain's agent."""

from __future__ import annotations

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from tests.fakes.chat_model import ScriptedChatModel, tool_call


def lookup_policy(topic: str) -> str:
    """Look up a company policy by topic."""
    return f"Policy on {topic}: receipts within 30 days."


def test_agent_runs_a_tool_then_answers() -> None:
    def answer_from_tool(messages: list[BaseMessage]) -> str:
        result = next(m for m in reversed(messages) if isinstance(m, ToolMessage))
        return f"Answer: {result.content}"

    model = ScriptedChatModel().enqueue(tool_call("lookup_policy", topic="taxi"), answer_from_tool)
    agent = create_agent(model, tools=[lookup_policy], system_prompt="You help Acme staff.")
    state = agent.invoke({"messages": [HumanMessage("taxi receipts?")]})
    assert state["messages"][-1].content == "Answer: Policy on taxi: receipts within 30 days."
    assert model.bound_tools == ["lookup_policy"]
    assert len(model.calls) == 2 and model.remaining == 0
    assert model.calls[0][0].type == "system"


def test_streaming_yields_the_text_in_chunks() -> None:
    model = ScriptedChatModel().enqueue("Hello there, world")
    chunks = [c.content for c in model.stream("hi")]
    assert len(chunks) > 1 and "".join(map(str, chunks)) == "Hello there, world"


def test_streamed_tool_call_aggregates() -> None:
    model = ScriptedChatModel().enqueue(tool_call("lookup_policy", topic="leave"))
    total = None
    for chunk in model.stream("x"):
        total = chunk if total is None else total + chunk
    assert total is not None and total.tool_calls[0]["args"] == {"topic": "leave"}


async def test_async_invoke_and_recorded_messages() -> None:
    model = ScriptedChatModel().enqueue(AIMessage("ok"))
    reply = await model.ainvoke([HumanMessage("ping")])
    assert reply.content == "ok" and model.calls[0][0].content == "ping"


def test_empty_queue_fails_clearly() -> None:
    model = ScriptedChatModel()
    with pytest.raises(AssertionError, match="no reply queued for call 1"):
        model.invoke("anything")
