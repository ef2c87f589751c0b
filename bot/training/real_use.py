"""Training examples from real use: approved actions and the requests that led to them, and
answers people rated with Slack's feedback buttons.

An action in ``pending_actions`` with status ``done`` was approved and executed with its final
``arguments`` (after any edit by the approver): those are the gold. The request is the last
person's message before the model's call in that conversation's thread memory
(``channel:thread``). Actions proposed by processes, or whose thread is gone, are skipped.

A positively rated answer (``memory/slack_feedback.py``) becomes an answer example: the question
and the answer as it was given. Negatively rated ones are never trained on; they are listed for
a person to review.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from bot.config import Settings
from bot.training.context import ModelContext
from bot.training.data import ordered_args

log = logging.getLogger(__name__)


def _thread_messages(saver: Any, conversation_id: str) -> list[BaseMessage]:
    found = saver.get_tuple({"configurable": {"thread_id": conversation_id}})
    if found is None:
        return []
    return list((found.checkpoint.get("channel_values") or {}).get("messages", []))


def request_for(messages: list[BaseMessage], tool: str) -> str | None:
    """The person's message right before the last model call of ``tool``."""
    last_human: str | None = None
    answer: str | None = None
    for message in messages:
        if isinstance(message, HumanMessage):
            last_human = message.text if hasattr(message, "text") else str(message.content)
        elif isinstance(message, AIMessage) and any(c["name"] == tool for c in message.tool_calls):
            answer = last_human
    return answer


def approved_examples(
    settings: Settings, context: ModelContext, limit: int = 5000
) -> Iterator[dict[str, Any]]:
    """Training records from executed approvals (empty when there is no state database yet)."""
    if settings.database_url is None and not settings.state_db.is_file():
        return
    from bot.agent import open_checkpointer
    from memory.approvals import ApprovalStore
    from memory.db import Database

    store = ApprovalStore(Database(settings.state_store))
    saver = open_checkpointer(settings.state_store)
    for action in store.list(status=["done"], limit=limit):
        if action.run_id or action.tool not in context.tool_names():
            continue
        request = request_for(
            _thread_messages(saver, f"{action.channel}:{action.thread}"), action.tool
        )
        if not request:
            continue
        yield {
            "id": f"approved:{action.id}",
            "intent": f"approved:{action.tool}",
            "template": f"approved:{action.id}",
            "split": "train",
            "source": "edited" if action.edited else "approved",
            "messages": [{"role": "user", "content": request}],
            "expect": {
                "tool": action.tool,
                "args": ordered_args(dict(action.arguments), context.schema(action.tool)),
            },
        }


def rated_answers(settings: Settings, limit: int = 5000) -> tuple[list[dict[str, Any]], list[Any]]:
    """Answer examples from positively rated answers, and the negatively rated answers (each
    answer's latest rating by anyone counts once; a negative rating wins over a positive one)."""
    if settings.database_url is None and not settings.state_db.is_file():
        return [], []
    from memory.db import Database
    from memory.slack_feedback import Answers

    rated = Answers(Database(settings.state_store)).rated(limit=limit)
    negative = {r.answer_id: r for r in rated if r.rating == "negative"}
    positive = {
        r.answer_id: r for r in rated if r.rating == "positive" and r.answer_id not in negative
    }
    records = [
        {
            "id": f"rated:{r.answer_id}",
            "intent": "rated:answer",
            "template": f"rated:{r.answer_id}",
            "split": "train",
            "source": "rated",
            "messages": [{"role": "user", "content": r.question}],
            "expect": {"answer": r.answer},
        }
        for r in positive.values()
        if r.question.strip() and r.answer.strip()
    ]
    return records, list(negative.values())
