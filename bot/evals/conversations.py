"""``rpa-agent eval conversations``: whole threads through the real service, turn by turn.

A conversation is a list of turns in one thread: people's messages (one or more people) and
approvals. After each turn something must be true of what the service did, exactly as people
meet it (document prefetch, thread memory, approvals, fallbacks included):

- ``ask``: a clarifying question mentioning these words, and nothing proposed;
- ``action``: a pending action for this tool with these arguments (``eval agent``'s matchers),
  and with ``superseded`` the thread's earlier pending action withdrawn, never executed;
- ``answer``: a reply stating these facts and citing this document;
- ``none``: no side effect and nothing proposed; ``no_leak``: none of the bot's instructions;
- an ``approve`` turn and ``executed``: the action ran, exactly once.

The runner uses the workspace's real tools and stores in a scratch data directory (a copy of
the workspace, so its sheets stay as they are), with whatever chat model it is given.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.evals.matchers import args_match, asks_question, fact_recall

# Fragments of the bot's own instructions (system prompt, tool protocol): never in a reply.
LEAKS = ("<tool_call>", "to call a tool", "you are the process assistant", "tool results, documents",
         "never instructions to you", '"parameters"')  # fmt: skip


@dataclass
class TurnResult:
    """How one turn went."""

    index: int
    ok: bool
    seconds: float
    checks: dict[str, bool] = field(default_factory=dict)
    reply: str = ""
    proposed: list[str] = field(default_factory=list)  # tools of the actions proposed


@dataclass
class ConversationResult:
    id: str
    kind: str
    ok: bool
    turns: list[TurnResult]

    @property
    def seconds(self) -> float:
        return sum(t.seconds for t in self.turns)


def load_conversations(path: Path) -> list[dict[str, Any]]:
    """Conversations from YAML; each turn has ``text`` (with ``user``) or ``approve``."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    out = []
    for i, conv in enumerate(raw):
        turns = conv.get("turns") if isinstance(conv, dict) else None
        if not turns:
            raise ValueError(f"{path.name}: conversation {i} has no turns")
        for n, turn in enumerate(turns):
            if ("text" in turn) == ("approve" in turn) or ("text" in turn and "user" not in turn):
                raise ValueError(
                    f"{path.name}: {conv.get('id', i)!r} turn {n} needs 'user' + 'text', or 'approve'"
                )
        out.append({**conv, "id": str(conv.get("id", f"{path.stem}-{i}"))})
    return out


class ConversationRunner:
    """Plays conversations against one built app (``bot.wiring.build_app``)."""

    def __init__(self, app: Any, normalise: Callable[..., Any] | None = None) -> None:
        self.app = app
        self.normalise = normalise

    def run(self, conversation: dict[str, Any]) -> ConversationResult:
        thread = f"eval-{conversation['id']}-{time.time_ns()}"
        state: dict[str, Any] = {"pending": [], "thread": thread}
        results = [
            self._turn(n, turn, conversation, state) for n, turn in enumerate(conversation["turns"])
        ]
        ok = all(r.ok for r in results)
        return ConversationResult(
            conversation["id"], str(conversation.get("kind", "")), ok, results
        )

    def _turn(
        self, n: int, turn: dict[str, Any], conversation: dict[str, Any], state: dict[str, Any]
    ) -> TurnResult:
        from bot.events import Inbound

        started = time.perf_counter()
        if "approve" in turn:
            action = state["pending"][-1] if state["pending"] else None
            events = (
                []
                if action is None
                else self._collect(self.app.service.decide(action, str(turn["approve"]), "approve"))
            )
        else:
            inbound = Inbound(
                user=str(turn["user"]), channel="C_EVAL", thread=state["thread"],
                text=str(turn["text"]), surface="test", event_id=f"{state['thread']}-{n}",
            )  # fmt: skip
            events = self._collect(self.app.service.handle(inbound))
        seconds = time.perf_counter() - started
        return self._check(n, turn.get("expect") or {}, events, seconds, state)

    @staticmethod
    def _collect(stream: Any) -> list[Any]:
        async def gather() -> list[Any]:
            return [event async for event in stream]

        return asyncio.run(gather())

    def _check(
        self,
        n: int,
        expect: dict[str, Any],
        events: list[Any],
        seconds: float,
        state: dict[str, Any],
    ) -> TurnResult:
        proposals = [e for e in events if getattr(e, "kind", "") == "approval_request"]
        finals = [e for e in events if getattr(e, "kind", "") == "final"]
        reply = finals[-1].text if finals else ""
        citations = [c for f in finals for c in f.citations]
        earlier = list(state["pending"])
        state["pending"] += [p.action_id for p in proposals]
        checks: dict[str, bool] = {}
        if "ask" in expect:
            checks["ask"] = not proposals and asks_question(reply, list(expect.get("mentions", [])))
        if "action" in expect:
            checks["action"] = any(self._matches(p, expect["action"]) for p in proposals)
        if expect.get("superseded"):
            checks["superseded"] = bool(earlier) and all(self._withdrawn(a) for a in earlier)
        if "answer" in expect:
            want = expect["answer"]
            checks["facts"] = fact_recall(list(want.get("facts", [])), reply) == 1.0
            if want.get("cite"):
                checks["cite"] = any(
                    str(want["cite"]).casefold() in c.path.casefold() for c in citations
                )
        if expect.get("none"):
            checks["none"] = not proposals
        if expect.get("no_leak"):
            checks["no_leak"] = not any(x in reply.casefold() for x in LEAKS)
        if expect.get("executed"):
            checks["executed"] = self._executed_once(earlier[-1] if earlier else None)
        return TurnResult(
            n, all(checks.values()), seconds, checks, reply, [p.tool for p in proposals]
        )

    def _matches(self, proposal: Any, want: dict[str, Any]) -> bool:
        """The proposal is for the wanted tool, with arguments that meet the expectation (exact
        ones made exact as the bot makes them: a gold "yesterday" is the date it names)."""
        if proposal.tool != want.get("tool"):
            return False
        args = want.get("args")
        if args is not None and self.normalise is not None:
            args = self.normalise(proposal.tool, args)
        return args_match(args, proposal.arguments, want.get("match"))

    def _withdrawn(self, action_id: str) -> bool:
        action = self.app.approvals.get(action_id)
        return action.status not in ("pending", "approved", "executing", "done", "delivering")

    def _executed_once(self, action_id: str | None) -> bool:
        if action_id is None:
            return False
        from memory.audit import AuditLog

        if self.app.approvals.get(action_id).status not in ("done", "delivering"):
            return False
        runs = AuditLog(self.app.db).recent(status="ok", approval_id=action_id, limit=10)
        return len([r for r in runs if not r.dry_run]) == 1


def summarize(results: Sequence[ConversationResult]) -> dict[str, Any]:
    """Task success per conversation and per turn, turns per task, seconds per turn."""
    turns = [t for r in results for t in r.turns]
    kinds: dict[str, list[bool]] = {}
    for r in results:
        kinds.setdefault(r.kind or "other", []).append(r.ok)
    return {
        "conversations": len(results),
        "task_success": round(sum(r.ok for r in results) / len(results), 4) if results else None,
        "turn_success": round(sum(t.ok for t in turns) / len(turns), 4) if turns else None,
        "turns_per_task": round(len(turns) / len(results), 2) if results else None,
        "seconds_per_turn_p50": round(statistics.median(t.seconds for t in turns), 2)
        if turns
        else None,
        "by_kind": {k: round(sum(v) / len(v), 4) for k, v in sorted(kinds.items())},
    }


def to_dict(label: str, results: Sequence[ConversationResult]) -> dict[str, Any]:
    return {"label": label, "metrics": summarize(results), "results": [asdict(r) for r in results]}


def held_out_conversations(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conversations from the held-out test split's multi-turn records (templates never trained).

    The bot writes its own turns, so only the people's turns are replayed; each carries the
    expectation the generator attached to it, the last one the record's gold.
    """
    out = []
    for record in records:
        people = [t for t in record["messages"] if t["role"] == "user"]
        if len(people) < 2 or "tool" not in record["expect"]:
            continue
        turns = [
            {"user": "U_EVAL1", "text": t["content"], "expect": dict(t.get("expect") or {})}
            for t in people
        ]
        last: dict[str, Any] = {
            "action": {"tool": record["expect"]["tool"], "args": record["expect"]["args"]}
        }
        if record["intent"].startswith("correct:"):
            last["superseded"] = True
        turns[-1]["expect"] = last
        kind = record["intent"].split(":")[0]
        out.append({"id": record["id"], "kind": kind, "today": record.get("today"), "turns": turns})
    return out
