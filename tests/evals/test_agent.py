"""The agent evaluation: matchers, per-case scoring and metrics on hand-made cases."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from langchain_core.messages import AIMessage, BaseMessage

from bot.agent import Persona
from bot.config import DEFAULT_WORKSPACE, REPO_ROOT, Settings
from bot.evals.agent import AgentEvaluator, load_cases, summarize
from bot.evals.matchers import args_match, asks_question, fact_recall, values_equal
from bot.training.context import open_registry, workspace_context
from tests.fakes.chat_model import ScriptedChatModel, tool_call


def call(name: str, args: dict[str, object]) -> AIMessage:
    """A scripted reply calling ``name`` (whose arguments may include a ``name`` key)."""
    reply = tool_call(name)
    reply.tool_calls[0]["args"] = dict(args)
    return reply


EXPENSE = {
    "name": "expense_reimbursement",
    "inputs": {
        "expense_date": "2026-03-14",
        "category": "transport",
        "amount": 42.5,
        "description": "taxi to the station",
    },
}


def test_values_compare_as_a_person_reads_them() -> None:
    assert values_equal(42, 42.0) and values_equal(42.5, "42.50") and values_equal("Taxi ", "taxi")
    assert values_equal({"a": 1, "b": None}, {"a": 1.0})
    assert values_equal(["hr@acme.example"], "hr@acme.example")
    assert not values_equal(42, 43) and not values_equal({"a": 1}, {"a": 1, "b": 2})
    assert not values_equal(True, "yes")


def test_args_match_exact_and_per_field() -> None:
    got = {
        "name": "expense_reimbursement",
        "inputs": {**EXPENSE["inputs"], "description": "Taxi to the main station"},
    }
    assert not args_match(EXPENSE, got)
    assert args_match(EXPENSE, got, {"inputs.description": {"contains": "station"}})
    assert not args_match(EXPENSE, got, {"inputs.description": {"regex": "^airport"}})
    assert args_match(None, {"query": "vendor onboarding"}, {"query": {"contains": "vendor"}})
    assert args_match(EXPENSE, EXPENSE, {"inputs.amount": {"approx": 42, "tol": 1}})
    with pytest.raises(ValueError, match="unknown matcher"):
        args_match(None, {"x": 1}, {"x": {"near": 1}})
    # Exact arguments beside matchers for every field of a nested object: the object's fields
    # are all decided by the matchers, and an invented extra field still fails.
    rules = {f"inputs.{k}": {"equals": v} for k, v in EXPENSE["inputs"].items()}
    assert args_match({"name": "expense_reimbursement"}, EXPENSE, rules)
    invented = {**EXPENSE, "inputs": {**EXPENSE["inputs"], "project_code": "P-1"}}
    assert not args_match({"name": "expense_reimbursement"}, invented, rules)


def test_questions_and_fact_recall() -> None:
    assert asks_question("Which cost center should it be charged to?", ["cost center"])
    assert not asks_question("Done.", None)
    assert not asks_question("What is it?", ["IBAN"])
    assert (
        fact_recall(
            ["500 EUR", "manager|line manager"], "Above 500 eur your line manager approves."
        )
        == 1.0
    )
    assert fact_recall(["500 EUR", "director"], "Above 500 EUR.") == 0.5


def test_scores_and_metrics_on_hand_made_cases(settings: Settings, tmp_path: Path) -> None:
    cases_file = tmp_path / "cases.yaml"
    rows = [
        {
            "id": "right",
            "user": "Claim 42.50 EUR for a taxi to the station on 2026-03-14",
            "expect": {"tool": "start_process", "args": EXPENSE},
        },
        {
            "id": "wrong-args",
            "user": "Claim 42.50 EUR for a taxi to the station on 2026-03-14",
            "expect": {"tool": "start_process", "args": EXPENSE},
        },
        {
            "id": "wrong-tool",
            "user": "which forms are there?",
            "expect": {"tool": "list_forms", "args": {}},
        },
        {
            "id": "ask",
            "user": "I need a PO for chairs from Nordlicht, 2000 EUR",
            "expect": {"ask": True, "mentions": ["cost center"]},
        },
    ]
    cases_file.write_text(yaml.safe_dump(rows), encoding="utf-8")
    cases = load_cases(cases_file)
    wrong = {**EXPENSE, "inputs": {**EXPENSE["inputs"], "amount": 24.5}}
    model = ScriptedChatModel().enqueue(
        call("start_process", EXPENSE),
        call("start_process", wrong),
        tool_call("list_sheets"),
        AIMessage(content="Which cost center should it be charged to?"),
    )
    registry = open_registry(settings)
    evaluator = AgentEvaluator(
        model,
        workspace_context(registry, Persona.of(DEFAULT_WORKSPACE), date(2026, 3, 20)),
        registry,
    )
    results = evaluator.run(cases)
    assert [r.selection_ok for r in results] == [True, True, False, True]
    assert [r.args_ok for r in results] == [True, False, False, None]
    metrics = summarize(results)
    assert metrics["tool_selection_accuracy"] == 0.75
    assert metrics["exact_argument_accuracy"] == round(1 / 3, 4)
    assert metrics["schema_valid_rate"] == 1.0
    assert metrics["clarify_accuracy"] == 1.0
    assert metrics["cases"] == 4 and metrics["latency_p50_s"] is not None
    assert "start_process" in model.bound_tools and "search_process_docs" in model.bound_tools


def test_a_case_without_expectation_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- user: hello\n  expect: {}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="names no tool"):
        load_cases(bad)


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for name in ("agent_cases.yaml", "independent.yaml")
        for p in (REPO_ROOT / "examples").glob(f"*/eval/{name}")
    ),
    ids=lambda p: f"{p.parent.parent.name}/{p.name}",
)
def test_shipped_cases_load(path: Path) -> None:
    cases = load_cases(path)
    assert len(cases) >= (60 if path.name == "independent.yaml" else 8)


def test_cases_run_at_once_keep_their_order_and_scores(tmp_path: Path, settings: Settings) -> None:
    rows = [
        {
            "id": f"forms-{n}",
            "user": f"which forms are there? ({n})",
            "expect": {"tool": "list_forms"},
        }
        for n in range(6)
    ]
    rows[3] = {"id": "sheets", "user": "which sheets are there?", "expect": {"tool": "list_sheets"}}
    cases_file = tmp_path / "cases.yaml"
    cases_file.write_text(yaml.safe_dump(rows), encoding="utf-8")

    def by_question(messages: list[BaseMessage]) -> AIMessage:
        # Replies follow the question, not the order calls arrive in: "sheets" gets a miss.
        asked = str(messages[-1].content)
        return tool_call("list_forms" if "forms" in asked else "list_processes")

    model = ScriptedChatModel().enqueue(*[by_question] * len(rows))
    registry = open_registry(settings)
    evaluator = AgentEvaluator(
        model,
        workspace_context(registry, Persona.of(DEFAULT_WORKSPACE), date(2026, 3, 20)),
        registry,
    )
    seen: list[int] = []
    results = evaluator.run(load_cases(cases_file), lambda i, n, r: seen.append(i), concurrency=3)
    assert [r.id for r in results] == [row["id"] for row in rows]
    assert [r.selection_ok for r in results] == [True, True, True, False, True, True]
    assert sorted(seen) == [1, 2, 3, 4, 5, 6] and model.remaining == 0


def test_earlier_runs_are_read_back_only_for_the_same_cases(tmp_path: Path) -> None:
    from bot.evals.agent import CaseResult, RunReport
    from bot.evals.report import read_json, write_json

    results = [CaseResult(id="a", kind="tool", expected="list_forms", selection_ok=True)]
    path = write_json([RunReport("base", "m", summarize(results), results)], tmp_path / "r.json")
    (back,) = read_json(path, ["a"])
    assert back.label == "base" and back.results == results and back.metrics["cases"] == 1
    with pytest.raises(ValueError, match="other cases"):
        read_json(path, ["a", "b"])
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read"):
        read_json(tmp_path / "bad.json", ["a"])
