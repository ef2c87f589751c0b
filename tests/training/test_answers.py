"""Cited answers to document questions: built from the real knowledge base and its search."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from bot.agent import Persona
from bot.config import DEFAULT_WORKSPACE, Settings
from bot.evals.agent import AgentEvaluator
from bot.training.answers import (
    MAX_ANSWER_CHARS,
    TEMPLATES,
    answer_records,
    facts_of,
    quote,
    sections,
)
from bot.training.context import open_registry, workspace_context
from bot.training.data import DataOptions, example_messages, generate_dataset
from bot.training.facts import WorkspaceFacts
from memory.knowledge import KnowledgeBase
from tests.fakes.chat_model import ScriptedChatModel
from tools.docs import QUESTION_PASSAGES


@pytest.fixture(scope="module")
def kb(demo_chroma: Path) -> KnowledgeBase:
    return KnowledgeBase(demo_chroma, "embedded", "process_docs")


def test_sections_are_the_headed_parts_of_every_document(kb: KnowledgeBase) -> None:
    found = sections(kb)
    paths = {s.path for s in found}
    assert "docs/security/incident-reporting.md" in paths
    assert len(paths) == len({h.citation.path for h in kb.chunks()})
    assert len({(s.path, s.heading) for s in found}) == len(found)
    assert any(s.heading == "Report within one hour" for s in found)


def test_quote_keeps_opening_sentences_and_shortens_long_ones() -> None:
    text = "# Heading\n\nReport incidents within 1 hour. Say what has happened. Then add more."
    assert quote(text) == "Report incidents within 1 hour. Say what has happened."
    long = "Give " + ", ".join(f"item number {i}" for i in range(60)) + "."
    short = quote(long)
    assert len(short) <= MAX_ANSWER_CHARS + 4 and short.endswith(" ...")


def test_facts_prefer_numbers_and_addresses() -> None:
    answer = "Report it to security@acme.example within 1 hour of discovery."
    assert facts_of(answer) == ["security@acme.example", "1 hour"]
    words = facts_of("Finance checks every invoice for duplicates. A duplicate is returned.")
    assert "duplicates" in words and "duplicate" not in words  # one of a word and its plural


def test_records_quote_the_passage_they_cite_from_the_real_search(kb: KnowledgeBase) -> None:
    found = sections(kb)
    records = list(answer_records(kb, "train", [0, 1], 3, seed=5, all_sections=found))
    assert records and len(records) <= 6
    for record in records:
        user, call, tool = record["messages"]
        assert call["tool_calls"][0]["args"] == {"query": user["content"], "k": QUESTION_PASSAGES}
        assert tool["tool_call_id"] == call["tool_calls"][0]["id"]
        assert len(tool["citations"]) <= QUESTION_PASSAGES
        expect = record["expect"]
        number = int(expect["answer"].rsplit("[", 1)[1].rstrip("]"))
        cited = tool["citations"][number - 1]
        assert cited["path"] == expect["cite"]
        # The quoted sentences stand in the passage numbered [n] of the tool result.
        passage = tool["content"].split(f"[{number}] ", 1)[1].split('"""')[1]
        flat = " ".join(passage.replace("- ", " ").split())
        first_words = " ".join(expect["answer"].split()[:6])
        assert first_words in flat
        assert all(f.casefold() in expect["answer"].casefold() for f in expect["facts"])
    again = list(answer_records(kb, "train", [0, 1], 3, seed=5, all_sections=found))
    assert again == records


def test_dataset_splits_answers_by_template_and_renders_them(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    s = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    registry = open_registry(s)
    context = workspace_context(registry, Persona.of(DEFAULT_WORKSPACE), date(2026, 3, 20))
    facts = WorkspaceFacts.load(s.workspace)
    options = DataOptions(seed=1, per_template=1, test_per_template=1, answers_per_template=2)
    dataset = generate_dataset(context, facts, options, kb)
    answers = {
        split: {r["template"] for r in rows if r["intent"] == "answer"}
        for split, rows in dataset.splits.items()
    }
    assert all(answers.values())
    assert not answers["train"] & answers["test"] and not answers["validation"] & answers["test"]
    assert sum(len(t) for t in answers.values()) <= len(TEMPLATES)
    record = next(r for r in dataset.splits["test"] if r["intent"] == "answer")
    messages = example_messages(record, context.system_prompt)
    assert isinstance(messages[-1], ToolMessage) and isinstance(messages[-2], AIMessage)

    without = generate_dataset(context, facts, options, None)
    assert not [r for rows in without.splits.values() for r in rows if r["intent"] == "answer"]
    assert any("rpa-agent ingest" in reason for reason in without.skipped)


def test_evaluator_credits_a_citation_of_a_passage_handed_over(
    kb: KnowledgeBase, settings: Settings
) -> None:
    record = next(
        answer_records(kb, "test", [2], 1, seed=2, all_sections=sections(kb)),
    )
    registry = open_registry(settings)
    context = workspace_context(registry, Persona.of(DEFAULT_WORKSPACE), date(2026, 3, 20))
    model = ScriptedChatModel().enqueue(
        AIMessage(content=record["expect"]["answer"]),
        AIMessage(content="I am not sure."),
    )
    evaluator = AgentEvaluator(model, context, registry)
    right, vague = evaluator.run([record, {**record, "id": "vague"}])
    assert right.kind == "answer" and right.cited_ok is True and right.fact_recall == 1.0
    assert vague.cited_ok is False and vague.fact_recall is not None and vague.fact_recall < 1.0
