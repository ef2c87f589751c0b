"""Conversations of several turns in one thread, as the bot's thread memory keeps them.

People rarely write one perfect message. These records teach the turns that follow the first:

- a request missing a value, the bot's question, the person's answer, then the complete call;
- a correction after a proposal ("actually it was 45 EUR") that yields the corrected call
  (the earlier action waits for approval and is superseded by the new one);
- the reply after a proposal: the call waits for approval, so the bot says it is not done yet;
- a request after an unrelated earlier exchange, whose values must not leak into the call.

The history is the one the agent's checkpointer stores: the person's messages, the model's
calls, the tool results (a gated call's result is ``ActionRunner.describe_for_model``'s text)
and the model's replies.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from typing import Any

from bot.training import values as v
from bot.training.facts import WorkspaceFacts
from bot.training.templates import (
    GENERIC,
    Intent,
    clarify_question,
    mention,
    render_request,
    request_for,
)
from tools.forms import FieldDefinition, FormDefinition

ANSWERS = ("{value}", "it was {value}", "{label}: {value}", "oh sorry, {value}", "{value} please",
           "the {label} is {value}", "{value}, thanks")  # fmt: skip
CORRECTIONS = ("actually it was {value}", "sorry, make it {value}", "correction: {label} {value}",
               "no wait, {value}", "oops, the {label} should be {value}", "please change the {label} to {value}",
               "I made a mistake, it's {value}", "can you fix the {label}? {value}")  # fmt: skip
AFTER_GATE = "Not done yet: {summary} is waiting for approval{by}. It will happen once approved."

# A multi-turn intent's fill returns the whole conversation and the gold of its last turn.
Turns = list[dict[str, Any]]
Conversation = tuple[Turns, dict[str, Any]]


def _call_turn(call: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"role": "assistant", "content": "",
            "tool_calls": [{"name": call["tool"], "args": call["args"], "id": call_id, "type": "tool_call"}]}  # fmt: skip


def _gated(summary: str, by: str, call_id: str, tool: str, rng: random.Random) -> dict[str, Any]:
    action = f"A-{rng.randrange(16**8):08x}"
    who = f"someone with the {by!r} role" if by else "the requester"
    text = (f"Not done yet: action {action} ({summary}) is waiting for approval by {who}. "
            "Tell the person it will happen once approved; do not call the tool again.")  # fmt: skip
    return {"role": "tool", "name": tool, "tool_call_id": call_id, "content": text}


def _summary(facts: WorkspaceFacts, form: FormDefinition, gold: dict[str, Any]) -> str:
    """The approval summary the tools write (``summarize_start`` / ``summarize_submit``)."""
    values = gold["args"].get("inputs", gold["args"].get("values", {}))
    shown = ", ".join(f"{k}: {val}" for k, val in values.items())
    process = facts.process_for(form.name)
    if process:
        return f"Start {facts.processes[process].title} ({shown})"
    return f"Submit the {form.title} form ({shown})"


def _form_call(facts: WorkspaceFacts, form: str, values: dict[str, Any]) -> dict[str, Any]:
    process = facts.process_for(form)
    if process:
        return {"tool": "start_process", "args": {"name": process, "inputs": values}}
    return {"tool": "submit_form", "args": {"form": form, "values": values}}


def _tool(facts: WorkspaceFacts, form: str) -> str:
    return "start_process" if facts.process_for(form) else "submit_form"


def _fillable(form: FormDefinition) -> list[FieldDefinition]:
    return [f for f in form.fields if f.required and f.default is None and f.type != "boolean"]


def _follow_up(template: str, f: FieldDefinition, said: str, words: Any, rng: random.Random) -> str:
    label = " ".join(w if w.isupper() else w.lower() for w in f.label.split())
    value = mention(f, said, words, rng) if "{label}" not in template else said
    return template.format(value=value, label=label)


def answer_intent(facts: WorkspaceFacts, name: str) -> Intent | None:
    """Request missing a value -> the question -> the person's answer -> the complete call."""
    form = facts.forms[name]
    fields = _fillable(form)
    if not fields:
        return None
    words = facts.words_for(name)
    currency = facts.profile.company.currency

    def fill(rng: random.Random, today: date, template: str) -> Any:
        missing = v.pick(rng, fields)
        request = request_for(form, facts, rng, today, leave_out=missing.name)
        opener = render_request(v.pick(rng, GENERIC), form, request, words, rng)
        full = request_for(form, facts, rng, today)  # a value for the missing field
        if missing.name not in full.said:
            return None
        said, gold = full.said[missing.name], full.gold[missing.name]
        label = " ".join(w if w.isupper() else w.lower() for w in missing.label.split())
        turns: Turns = [
            {"role": "user", "content": opener, "expect": {"ask": True, "mentions": [label]}},
            {"role": "assistant", "content": clarify_question(missing, currency)},
            {"role": "user", "content": _follow_up(template, missing, said, words, rng)},
        ]
        return turns, _form_call(facts, name, {**request.gold, missing.name: gold})

    return Intent(f"clarified:{name}", (_tool(facts, name),), ANSWERS, fill, form=name, weight=0.5)


def correction_intent(facts: WorkspaceFacts, name: str) -> Intent | None:
    """A proposal, its approval wait, the bot's reply, then a correction -> the corrected call."""
    form = facts.forms[name]
    fields = [f for f in _fillable(form) if f.type in ("money", "number", "date", "choice", "text")]
    if not fields:
        return None
    words = facts.words_for(name)

    def fill(rng: random.Random, today: date, template: str) -> Any:
        request = request_for(form, facts, rng, today)
        first = _form_call(facts, name, dict(request.gold))
        changed = v.pick(rng, fields)
        other = request_for(form, facts, rng, today)
        if other.said.get(changed.name) in (None, request.said.get(changed.name)):
            return None
        summary = _summary(facts, form, first)
        turns: Turns = [
            {
                "role": "user",
                "content": render_request(v.pick(rng, GENERIC), form, request, words, rng),
            },
            _call_turn(first, "call_1"),
            _gated(summary, "", "call_1", first["tool"], rng),
            {"role": "assistant", "content": AFTER_GATE.format(summary=summary, by="")},
            {
                "role": "user",
                "content": _follow_up(template, changed, other.said[changed.name], words, rng),
            },
        ]
        return turns, _form_call(
            facts, name, {**request.gold, changed.name: other.gold[changed.name]}
        )

    return Intent(
        f"correct:{name}", (_tool(facts, name),), CORRECTIONS, fill, form=name, weight=0.5
    )


def after_gate_intent(facts: WorkspaceFacts) -> Intent | None:
    """After a call that waits for approval, the reply says so and claims nothing done."""
    names = list(facts.forms)
    if not names:
        return None

    def fill(rng: random.Random, today: date, template: str) -> Any:
        form = facts.forms[v.pick(rng, names)]
        request = request_for(form, facts, rng, today)
        call = _form_call(facts, form.name, dict(request.gold))
        summary = _summary(facts, form, call)
        turns: Turns = [
            {"role": "user", "content": template.format(request=render_request(v.pick(rng, GENERIC), form, request, facts.words_for(form.name), rng))},
            _call_turn(call, "call_1"),
            _gated(summary, "", "call_1", call["tool"], rng),
        ]  # fmt: skip
        return turns, {
            "answer": AFTER_GATE.format(summary=summary, by=""),
            "facts": ["not done yet"],
        }

    return Intent("after_gate", ("start_process", "submit_form"), ("{request}",), fill, weight=0.6)


def unrelated_turns(facts: WorkspaceFacts) -> Callable[[random.Random], Turns]:
    """A short earlier exchange about something else (a list of forms, a status lookup)."""
    titles = ", ".join(f.title for f in facts.forms.values())

    def earlier(rng: random.Random) -> Turns:
        call = {"tool": "list_forms", "args": {}}
        return [
            {"role": "user", "content": v.pick(rng, ("which forms are there?", "what can I fill in here?")),
             "expect": {"none": True}},
            _call_turn(call, "call_0"),
            {"role": "tool", "name": "list_forms", "tool_call_id": "call_0", "content": f"Forms: {titles}."},
            {"role": "assistant", "content": f"You can fill in: {titles}."},
        ]  # fmt: skip

    return earlier


def after_unrelated(base: Intent, earlier: Callable[[random.Random], Turns]) -> Intent:
    """``base``'s requests after an unrelated exchange; split like ``base`` (same templates)."""

    def fill(rng: random.Random, today: date, template: str) -> Any:
        text, gold = base.fill(rng, today, template)
        return [*earlier(rng), {"role": "user", "content": text}], gold

    return Intent(f"later:{base.form}", base.tools, base.templates, fill, form=base.form,
                  weight=0.25, extra={"split_as": base.name})  # fmt: skip


def multiturn_intents(facts: WorkspaceFacts, singles: list[Intent]) -> list[Intent]:
    """Every multi-turn intent of this workspace (``singles``: its one-turn form intents)."""
    out: list[Intent] = []
    for name in facts.forms:
        out += [i for i in (answer_intent(facts, name), correction_intent(facts, name)) if i]
    earlier = unrelated_turns(facts)
    out += [
        after_unrelated(i, earlier)
        for i in singles
        if i.form and ":" in i.name and not i.name.startswith("ask:")
    ]
    gate = after_gate_intent(facts)
    return out + ([gate] if gate else [])
