"""What the model sees stays within the context budget: old turns are dropped first, and a
message larger than the whole budget is cut, never kept whole."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from bot.agent import TrimHistory, count_tokens, cut_to_tokens, message_budget


class _Request:
    """The part of LangChain's ``ModelRequest`` that ``TrimHistory`` uses."""

    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages

    def override(self, messages: list[Any]) -> _Request:
        return _Request(messages)


def _trim(messages: list[Any], budget: int) -> list[Any]:
    return TrimHistory(budget)._trim(_Request(messages)).messages  # type: ignore[arg-type]


def test_a_long_thread_keeps_its_latest_turns_within_the_budget() -> None:
    thread: list[Any] = []
    for n in range(40):
        thread += [HumanMessage(f"question {n} " + "word " * 60), AIMessage(f"answer {n}")]
    thread.append(HumanMessage("the latest question"))
    kept = _trim(thread, 1000)
    assert count_tokens(kept) <= 1000
    assert kept[-1].content == "the latest question"
    assert isinstance(kept[0], HumanMessage)  # never starts on an orphaned answer
    assert len(kept) < len(thread)


def test_one_message_larger_than_the_budget_is_cut_not_kept_whole() -> None:
    huge = HumanMessage("policy " * 20_000)  # about 47,000 tokens by the generous count
    kept = _trim([huge], 2000)
    assert len(kept) == 1 and count_tokens(kept) <= 2000
    assert kept[0].content.startswith("policy policy")


def test_the_last_turn_keeps_its_tool_exchange_when_the_question_is_cut() -> None:
    call = {"name": "search_process_docs", "args": {"query": "q"}, "id": "c1", "type": "tool_call"}
    turn = [
        HumanMessage("x " * 30_000),
        AIMessage(content="", tool_calls=[call]),
        ToolMessage(content="passage " * 50, tool_call_id="c1", name="search_process_docs"),
    ]
    kept = _trim(turn, 1500)
    assert [type(m) for m in kept] == [HumanMessage, AIMessage, ToolMessage]
    assert kept[2].content == turn[2].content  # the search result is whole
    assert count_tokens(kept) <= 1500


def test_cutting_ends_on_a_word_and_says_so() -> None:
    text, cut = cut_to_tokens("alpha beta gamma delta " * 100, 30)
    assert cut and len(text) <= 90 and not text.endswith(" ")
    assert text.split()[-1] in {"alpha", "beta", "gamma", "delta"}
    assert cut_to_tokens("short", 30) == ("short", False)


def test_a_message_gets_half_of_what_the_history_may_hold() -> None:
    assert message_budget(8192, "") == (8192 - 1536) // 2
    assert message_budget(8192, "s" * 3000) < message_budget(8192, "")
