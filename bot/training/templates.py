"""How people ask for a form: generic phrasings built on its title and labels, and the company's own.

An ``Intent`` has phrasings (templates with slots) and a ``fill`` that draws realistic values
and returns the slots with the gold outcome: a tool call with exact arguments, or a clarifying
question when the request leaves a required value out. Splits are made by template, so the
held-out test measures phrasings the model never saw.

A form request is built from a ``Request``: each field's value as said and as gold, and how it
is mentioned ("project P-1234", "receipt attached", or the value alone when the value says
what it is). Generic templates place the mentions after an opener made of the form's title;
a company's own templates (``training/phrasings.yaml``) name fields as ``{field}``, and the
fields they leave out are appended as mentions.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.training import values as v
from bot.training.facts import FormWords, WorkspaceFacts
from tools.forms import FieldDefinition, FormDefinition

Gold = dict[str, Any]  # {"tool": name, "args": {...}} or {"ask": question, "missing": field}
Filled = tuple[str, Gold]  # the request as written, and its gold outcome

POLITE_PREFIX = ("", "", "", "hi, ", "hello! ", "please ", "hey, ", "good morning, ")
POLITE_SUFFIX = ("", "", "", " thanks", ", thank you!", " pls", " :)", ". Thanks a lot")


@dataclass(frozen=True)
class Intent:
    """One thing people ask for, its phrasings, and how to draw values and the gold outcome."""

    name: str
    tools: tuple[str, ...]  # every tool the gold may name; the intent is skipped without them
    templates: tuple[str, ...]
    fill: Callable[[random.Random, date, str], Filled]  # rng, today, the template to fill
    form: str | None = None  # the form whose fields the request fills, if any
    weight: float = 1.0  # examples per template relative to other intents
    extra: dict[str, Any] = field(default_factory=dict)


# ---- generic request templates ------------------------------------------------------------------

# {opener} is the form's title with a verb; {body} the values' mentions; {title} the bare title.
GENERIC = (
    "{opener}: {body}",
    "{opener} - {body}",
    "{opener} with {body}",
    "{body}. {opener} please",
    "can you {verb} {article} {title}? {body}",
    "I need {article} {title}: {body}",
    "{title}: {body}",
    "{body} - please {verb} {article} {title} for me",
    "new {title}, {body}",
    "could you {verb} my {title}? {body}",
    "{opener} for me. {body}",
    "I'd like to {verb} {article} {title} ({body})",
    "{title} please. {body}",
    "help me {verb} {article} {title}: {body}",
)
VERBS = ("submit", "file", "put in", "create", "raise", "send in", "open", "start")
SEPARATORS = (", ", ", ", "; ", " and ", " - ")


@dataclass
class Request:
    """One drawn request for a form: per field, what is said and what the call carries."""

    said: dict[str, str] = field(default_factory=dict)
    gold: dict[str, Any] = field(default_factory=dict)
    mentions: dict[str, str] = field(default_factory=dict)  # field -> "label value" phrase
    dates: dict[str, date] = field(default_factory=dict)  # date fields' days, for later ones


def request_for(
    form: FormDefinition,
    facts: WorkspaceFacts,
    rng: random.Random,
    today: date,
    leave_out: str | None = None,
) -> Request:
    """Values for every required field (but ``leave_out``) and some optional ones."""
    words = facts.words_for(form.name)
    record = dict(v.pick(rng, words.records)) if words.records else {}
    request = Request()
    for f in form.fields:
        if f.name == leave_out:
            continue
        wanted = f.required or f.name in record or rng.random() < 0.35
        if not wanted or (f.type == "user" and not f.required):
            continue
        said = _value(f, form, facts, words, record, request, rng, today)
        if said is None:
            continue
        request.said[f.name], request.gold[f.name] = said.said, said.gold
        if _implied(f, record, rng):
            continue  # the record's description says it ("taxi from the airport": transport)
        request.mentions[f.name] = mention(f, said.said, words, rng)
    return request


def _implied(f: FieldDefinition, record: dict[str, Any], rng: random.Random) -> bool:
    """A choice that the record's other words imply is left unsaid half the time."""
    if f.type not in ("choice", "multi_choice") or f.name not in record:
        return False
    return any(k != f.name and isinstance(v, str) and " " in v for k, v in record.items()) and (
        rng.random() < 0.5
    )


def _value(
    f: FieldDefinition,
    form: FormDefinition,
    facts: WorkspaceFacts,
    words: FormWords,
    record: dict[str, Any],
    request: Request,
    rng: random.Random,
    today: date,
) -> v.Said | None:
    if f.name in record:
        return _from_record(f, record[f.name], words, rng, today, facts)
    if f.type in ("choice", "multi_choice"):
        return _choice(f, words, rng)
    if f.type == "boolean":
        return v.Said("yes", True) if (f.required or rng.random() < 0.9) else None
    if f.type == "date":
        return _date(f, form, request, rng, today, facts.profile.company.date_order)
    if f.type == "money":
        low, high = _bounds(f, 5.0, 20000.0)
        company = facts.profile.company
        currency = f.currency or company.currency
        return v.an_amount(rng, low, high, currency, company.decimal_separator)
    if f.type == "number":
        low, high = _bounds(f, 1.0, 10.0)
        return v.a_number(rng, low, high, f.decimals)
    if f.type == "email":
        return _email(f, words, facts, rng)
    if f.type == "user":
        mention = f"<@U0{rng.randrange(10**7, 10**8)}>"
        return v.Said(mention, mention)
    return _text(f, words, rng)


def _from_record(
    f: FieldDefinition,
    value: Any,
    words: FormWords,
    rng: random.Random,
    today: date,
    facts: WorkspaceFacts,
) -> v.Said:
    if f.type in ("choice", "multi_choice"):
        said = words.say.get(f.name, {}).get(str(value))
        return v.Said(v.pick(rng, said) if said else str(value).replace("_", " "), value)
    return v.Said(str(value), value)


def _choice(f: FieldDefinition, words: FormWords, rng: random.Random) -> v.Said:
    option = v.pick(rng, f.options)
    said = words.say.get(f.name, {}).get(option) or [option.replace("_", " ")]
    text = v.pick(rng, said)
    return v.Said(text, [option] if f.type == "multi_choice" else option)


def _bounds(f: FieldDefinition, low: float, high: float) -> tuple[float, float]:
    """A realistic range inside the field's bounds (a 0.01 minimum is no typical amount)."""
    hi = min(f.max if f.max is not None else high, high)
    lo = max(f.min if f.min is not None else low, min(low, hi))
    return lo, max(lo, hi)


PAST_WORDS = re.compile(r"\b(paid|spent|happened|occurred|incident|ago|noticed|delivered|expense)")


def _date(
    f: FieldDefinition,
    form: FormDefinition,
    request: Request,
    rng: random.Random,
    today: date,
    date_order: str,
) -> v.Said:
    """A date in a sensible window: after the field it may not precede, past for past events."""
    if f.not_before and f.not_before in request.gold:
        start = request.dates.get(f.not_before, today)
        offset = (start - today).days
        day, said = v.a_date(rng, today, (offset, offset + rng.randint(0, 9)), date_order)
    elif PAST_WORDS.search(f"{f.label} {f.help}".lower()):
        window = (
            (-6, 0) if rng.random() < 0.5 else (-25, 0)
        )  # recent days: "yesterday", "last Friday"
        day, said = v.a_date(rng, today, window, date_order)
    else:
        day, said = v.a_date(rng, today, (2, 60), date_order)
    request.dates[f.name] = day
    return said


def _email(
    f: FieldDefinition, words: FormWords, facts: WorkspaceFacts, rng: random.Random
) -> v.Said:
    known = words.fields.get(f.name)
    if known:
        value = str(v.pick(rng, known))
        return v.Said(value, value)
    person = v.pick(rng, facts.people()).lower().split()
    domains = facts.profile.company.mail_domains or ["example.com"]
    value = f"{person[0]}.{person[-1]}@{v.pick(rng, domains)}"
    value = re.sub(r"[^a-z0-9.@-]", "", value)
    return v.Said(value, value)


_EXAMPLE = re.compile(r"""(?:e\.g\.|for example|like|such as)\s*["“]?([^"”.;)]+)["”]?""", re.I)


def _text(f: FieldDefinition, words: FormWords, rng: random.Random) -> v.Said | None:
    known = words.fields.get(f.name)
    if known:
        value = str(v.pick(rng, known))
        return v.Said(value, value)
    if f.regex:
        made = v.from_regex(rng, f.regex) or _example_matching(f, rng)
        return v.Said(made, made) if made else None
    example = _EXAMPLE.search(f.help)
    if example and rng.random() < 0.5:
        value = example.group(1).strip()
        return v.Said(value, value)
    label = f.label.lower()
    if "name" in label or "contact" in label or "person" in label:
        value = v.pick(rng, v.GENERIC_PEOPLE)
    else:
        value = v.pick(rng, v.GENERIC_TEXT)
    return v.Said(value, value)


def _example_matching(f: FieldDefinition, rng: random.Random) -> str | None:
    """A value from the help text that matches the field's pattern (for patterns too rich to draw)."""
    assert f.regex is not None
    found = [m.group(0) for m in re.finditer(f.regex, f.help) if re.fullmatch(f.regex, m.group(0))]
    return v.pick(rng, found) if found else None


def mention(f: FieldDefinition, said: str, words: FormWords, rng: random.Random) -> str:
    """How a request names one value: the company's own way, else by its label."""
    own = words.mention.get(f.name)
    if own:
        return v.pick(rng, own).replace("{value}", said)
    label = f.label.lower()
    if f.type == "boolean":
        return v.pick(rng, (label, f"{label}: yes", f"with {label}"))
    if f.type in ("money", "date", "email") and rng.random() < 0.5:
        return said
    if f.type in ("choice", "multi_choice") and rng.random() < 0.5:
        return said
    return v.pick(rng, (f"{label} {said}", f"{label}: {said}", f"{said} ({label})"))


def title_words(form: FormDefinition) -> str:
    """The title as it reads inside a sentence: "Expense claim" -> "expense claim", "IT" stays."""
    return " ".join(w if w.isupper() else w.lower() for w in form.title.split())


def article(text: str) -> str:
    return "an" if text[:1].lower() in "aeiou" else "a"


GENERIC_SLOTS = frozenset({"opener", "body", "title", "verb", "article"})


def render_request(
    template: str, form: FormDefinition, request: Request, words: FormWords, rng: random.Random
) -> str:
    """A request in a generic template or a company's own (told apart by their slots)."""
    if set(re.findall(r"\{(\w+)\}", template)) <= GENERIC_SLOTS:
        return render_generic(template, form, request, rng)
    return render_own(template, request, words, rng)


def render_generic(
    template: str, form: FormDefinition, request: Request, rng: random.Random
) -> str:
    """A generic template filled with this request's mentions in a random order."""
    parts = list(request.mentions.values())
    rng.shuffle(parts)
    body = v.pick(rng, SEPARATORS).join(parts)
    title = title_words(form)
    verb = v.pick(rng, VERBS)
    opener = v.pick(rng, (f"{verb} {article(title)} {title}", f"please {verb} {article(title)} {title}",
                          f"I want to {verb} {article(title)} {title}", f"{title} for me"))  # fmt: skip
    return template.format(opener=opener, body=body, title=title, verb=verb, article=article(title))


def render_own(template: str, request: Request, words: FormWords, rng: random.Random) -> str:
    """A company's template: its ``{field}`` slots get the said values, the rest are appended."""
    named = set(re.findall(r"\{(\w+)\}", template))
    text = template.format(**{k: request.said.get(k, "") for k in named})
    extra = [m for name, m in request.mentions.items() if name not in named]
    return text + "".join(f"{v.pick(rng, SEPARATORS)}{m}" for m in extra)


def own_templates(facts: WorkspaceFacts, form: str) -> tuple[str, ...]:
    return tuple(facts.phrasings.forms.get(form, ()))


def clarify_question(f: FieldDefinition, currency: str) -> str:
    """The one question that asks for a missing required value."""
    label = " ".join(w if w.isupper() else w.lower() for w in f.label.split())
    if f.type == "money":
        return f"What is the {label}, in {f.currency or currency}?"
    if f.type in ("choice", "multi_choice") and len(f.options) <= 6:
        options = [o.replace("_", " ") for o in f.options]
        return f"Which {label}: {', '.join(options[:-1])} or {options[-1]}?"
    if f.type == "date":
        return f"Which date is the {label}?"
    return f"What is the {label}?"
