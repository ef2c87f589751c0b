"""``rpa-agent eval agent``: does the model pick the right tool with the right arguments?

A case is a conversation (one or more user turns) and an expectation: a tool call
(``tool`` + exact ``args`` and/or per-field ``match``ers), a clarifying question (``ask``,
optional ``mentions``), or an answer (``facts`` it must state, the document ``cite`` it must
cite). Cases come from YAML or JSONL files; the default is the held-out test split.

Each case runs through the real model path: ``LocalChatModel.bind_tools`` with the
registry's LangChain tools in a dry-run ``ToolContext`` (read tools such as the document
search really run; nothing with a side effect does), the agent's system prompt, greedy
decoding as configured. The first reply is scored for choice and arguments; for answer cases
read-tool calls are executed and the model answers from their results.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from bot.evals.matchers import args_match, asks_question, fact_recall
from bot.training.context import ModelContext
from bot.training.data import example_messages

if TYPE_CHECKING:
    from bot.agent import Persona


MAX_TOOL_ROUNDS = 2  # answer cases: search, maybe search again, then answer


@dataclass
class CaseResult:
    """How the model did on one case."""

    id: str
    kind: str  # "tool" | "ask" | "answer"
    expected: str  # the expected tool, "(ask)" or "(answer)"
    called: str | None = None
    args: dict[str, Any] | None = None
    schema_valid: bool | None = None  # None: no call made
    selection_ok: bool = False
    args_ok: bool | None = None
    text: str = ""
    fact_recall: float | None = None
    cited_ok: bool | None = None
    latency_s: float = 0.0


def case_kind(expect: dict[str, Any]) -> str:
    if "tool" in expect:
        return "tool"
    if "ask" in expect or expect.get("clarify"):
        return "ask"
    if "facts" in expect or "cite" in expect:
        return "answer"
    raise ValueError(f"expectation {expect!r} names no tool, question (ask) or answer (facts/cite)")


def load_cases(path: Path) -> list[dict[str, Any]]:
    """Cases from a ``.yaml``/``.yml`` list (or ``{cases: [...]}``) or a ``.jsonl`` file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        raw = yaml.safe_load(text) or []
        raw = raw.get("cases", []) if isinstance(raw, dict) else raw
    else:
        raw = [json.loads(line) for line in text.splitlines() if line.strip()]
    cases = []
    for i, case in enumerate(raw):
        if not isinstance(case, dict) or "expect" not in case:
            raise ValueError(f"{path.name}: case {i} needs an 'expect' mapping")
        turns = case.get("messages") or [
            {"role": "user", "content": t} for t in _as_list(case.get("user"))
        ]
        if not turns:
            raise ValueError(
                f"{path.name}: case {case.get('id', i)!r} has no conversation ('user' or 'messages')"
            )
        case_kind(case["expect"])
        cases.append({**case, "id": str(case.get("id", f"{path.stem}-{i}")), "messages": turns})
    return cases


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


# (tool, arguments, the case's day) -> the arguments with their values made exact by code, as
# the bot makes them before an approval card is shown (tools/form_input.py).
Normaliser = Callable[[str, dict[str, Any], date], dict[str, Any]]


class AgentEvaluator:
    """Runs cases against one chat model within one context (system prompt + tools)."""

    def __init__(
        self,
        model: Any,
        context: ModelContext,
        registry: Any,
        normalise: Normaliser | None = None,
    ) -> None:
        from tools.registry import ToolContext

        self.context = context
        self.registry = registry
        self.normalise = normalise
        self.runnable = model.bind_tools(list(context.tools))
        ctx = ToolContext(user=context.user, dry_run=True)
        self.tools = {t.name: t for t in registry.langchain_tools(ctx)}

    def run(
        self, cases: Sequence[dict[str, Any]], progress: Any = None, concurrency: int = 1
    ) -> list[CaseResult]:
        """Every case's result, in case order.

        With ``concurrency`` above 1, that many cases run at once and the local model's
        scheduler decodes them in one batch: greedy replies are the same as one at a time
        (tests/llm/test_scheduler.py), only faster; latencies then include the batching.
        """
        results: list[CaseResult | None] = [None] * len(cases)
        with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="eval") as pool:
            futures = {pool.submit(self.run_case, case): i for i, case in enumerate(cases)}
            for done, future in enumerate(as_completed(futures), start=1):
                result = future.result()
                results[futures[future]] = result
                if progress:
                    progress(done, len(cases), result)
        return [r for r in results if r is not None]

    def run_case(self, case: dict[str, Any]) -> CaseResult:
        expect = case["expect"]
        kind = case_kind(expect)
        label = expect.get("tool") or ("(ask)" if kind == "ask" else "(answer)")
        result = CaseResult(id=case["id"], kind=kind, expected=label)
        context = self.context.on(str(case.get("today") or self.context.today))
        messages = example_messages(case, context.system_prompt)
        started = time.perf_counter()
        reply = self.runnable.invoke(messages)
        result.latency_s = time.perf_counter() - started
        self._score_reply(result, reply, expect, date.fromisoformat(context.today))
        if kind == "answer":
            seeded = [c for turn in case["messages"] for c in turn.get("citations", ())]
            self._answer(result, messages, reply, expect, seeded)
        return result

    def _score_reply(
        self, result: CaseResult, reply: AIMessage, expect: dict[str, Any], day: date
    ) -> None:
        calls: list[Any] = [*reply.tool_calls, *reply.invalid_tool_calls]
        call = calls[0] if calls else None
        result.text = reply.text if hasattr(reply, "text") else str(reply.content)
        if call is not None:
            result.called = call.get("name")
            raw = call.get("args")
            result.args = raw if isinstance(raw, dict) else None
            if result.args is not None and self.normalise is not None:
                result.args = self.normalise(str(result.called), result.args, day)
            result.schema_valid = bool(reply.tool_calls) and self._valid(result.called, result.args)
        if result.kind == "tool":
            result.selection_ok = result.called == expect["tool"]
            result.args_ok = bool(
                result.selection_ok
                and result.schema_valid
                and args_match(expect.get("args"), result.args or {}, expect.get("match"))
            )
        elif result.kind == "ask":
            result.selection_ok = call is None and asks_question(
                result.text, expect.get("mentions")
            )

    def _valid(self, name: str | None, args: dict[str, Any] | None) -> bool:
        from memory.errors import RpaError

        try:
            self.registry.validate(str(name), args or {})
        except RpaError:
            return False
        return True

    def _answer(
        self,
        result: CaseResult,
        messages: list[BaseMessage],
        reply: AIMessage,
        expect: dict[str, Any],
        seeded: Sequence[Any] = (),
    ) -> None:
        citations: list[Any] = list(seeded)
        history = list(messages)
        for _ in range(MAX_TOOL_ROUNDS):
            if not reply.tool_calls or reply.tool_calls[0]["name"] not in self.tools:
                break
            call = reply.tool_calls[0]
            tool_message = self.tools[call["name"]].invoke(call)
            citations += list(
                getattr(getattr(tool_message, "artifact", None), "citations", ()) or ()
            )
            history += [
                reply,
                tool_message
                if isinstance(tool_message, ToolMessage)
                else ToolMessage(str(tool_message), tool_call_id=call["id"]),
            ]
            reply = self.runnable.invoke(history)
        result.text = reply.text if hasattr(reply, "text") else str(reply.content)
        result.fact_recall = fact_recall(list(expect.get("facts", [])), result.text)
        result.selection_ok = not reply.tool_calls
        if expect.get("cite"):
            result.cited_ok = cites(result.text, citations, str(expect["cite"]))


def cites(text: str, citations: Sequence[Any], document: str) -> bool:
    """The answer names ``document`` or refers as [n] to a returned source from it."""
    want = document.casefold()
    for n, source in enumerate(citations, start=1):
        path = str(_attr(source, "path")).casefold()
        title = str(_attr(source, "title")).casefold()
        named = want in path or want in title
        if named and (f"[{n}]" in text or (title and title in text.casefold())):
            return True
    return want in text.casefold()


def _attr(source: Any, name: str) -> Any:
    return source.get(name, "") if isinstance(source, dict) else getattr(source, name, "")


def _mean(values: list[Any]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return round(sum(kept) / len(kept), 4) if kept else None


def summarize(results: Sequence[CaseResult]) -> dict[str, Any]:
    """The metrics of one run (None where no case measures them)."""
    choice = [r for r in results if r.kind in ("tool", "ask")]
    tools = [r for r in results if r.kind == "tool"]
    answers = [r for r in results if r.kind == "answer"]
    latencies = [r.latency_s for r in results]
    return {
        "cases": len(results),
        "tool_selection_accuracy": _mean([r.selection_ok for r in choice]),
        "exact_argument_accuracy": _mean([r.args_ok for r in tools]),
        "schema_valid_rate": _mean([r.schema_valid for r in results if r.called is not None]),
        "clarify_accuracy": _mean([r.selection_ok for r in results if r.kind == "ask"]),
        "answer_fact_recall": _mean([r.fact_recall for r in answers]),
        "citation_accuracy": _mean([r.cited_ok for r in answers if r.cited_ok is not None]),
        "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
    }


@dataclass
class RunReport:
    """One labelled run (e.g. ``base`` or ``adapter``): metrics and every case's result."""

    label: str
    model: str
    metrics: dict[str, Any]
    results: list[CaseResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "model": self.model,
            "metrics": self.metrics,
            "results": [asdict(r) for r in self.results],
        }


def held_out_cases(data_dir: Path) -> tuple[list[dict[str, Any]], ModelContext]:
    """The test split of generated data, with the context it was generated in."""
    from bot.training.data import read_context, read_split

    return read_split(data_dir, "test"), read_context(data_dir)


def context_for_cases(
    registry: Any, persona: Persona, cases: Sequence[dict[str, Any]]
) -> ModelContext:
    """Custom cases run in today's context (or the ``today`` the first case pins)."""
    from bot.training.context import workspace_context

    pinned = next((c.get("today") for c in cases if c.get("today")), None)
    return workspace_context(registry, persona, date.fromisoformat(str(pinned)) if pinned else None)
