"""Training data from the workspace: tool schemas, forms, processes, and approved real calls.

``generate_dataset`` draws requests for every intent whose tools the registry has, with gold
tool calls (arguments in the order of the tool's schema, as the decoding grammar writes
them) or clarifying questions, and splits them *by template* into train / validation / test.
Approved actions in the state database (``pending_actions`` with status ``done``; an edit's
final arguments are the gold) join the training split with the request that led to them.

The context a model sees (system prompt, bound tools) is stored once in ``meta.json`` and
rebuilt into LangChain messages by ``example_messages``, so training, evaluation and the bot
all render through ``bot.llm.rendering.render_chat``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from bot.training.context import ModelContext
from bot.training.facts import WorkspaceFacts
from bot.training.intents import workspace_intents
from bot.training.multiturn import multiturn_intents
from bot.training.templates import POLITE_PREFIX, POLITE_SUFFIX, Intent

if TYPE_CHECKING:
    from memory.knowledge import KnowledgeBase

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class DataOptions:
    """How much to generate and how to split it."""

    seed: int = 0
    per_template: int = 6  # examples drawn from each training / validation template
    test_per_template: int = 3  # fewer for the held-out test: evaluation decodes every one
    test_share: float = 0.2  # share of each intent's templates held out for the test
    validation_share: float = 0.12
    typo_rate: float = 0.12
    max_intents: int | None = None  # --quick: only the first few intents
    answers_per_template: int = 6  # document questions with cited answers (long examples)
    test_answers_per_template: int = 4


@dataclass
class Dataset:
    """Records per split, the model context they were made for, and where they were written."""

    splits: dict[str, list[dict[str, Any]]]
    context: ModelContext
    skipped: list[str] = field(default_factory=list)  # intents left out and why
    directory: Path | None = None

    def counts(self) -> dict[str, Counter[str]]:
        return {s: Counter(r["intent"] for r in rows) for s, rows in self.splits.items()}


def split_templates(intent: Intent, options: DataOptions) -> dict[str, list[int]]:
    """Which template indices go to which split (seeded; every split gets whole templates).

    An intent that reuses another's templates is split as that one, so no template of the
    held-out test is ever trained on.
    """
    return split_indices(intent.extra.get("split_as", intent.name), len(intent.templates), options)


def split_indices(name: str, n: int, options: DataOptions) -> dict[str, list[int]]:
    """``n`` template indices of ``name`` dealt to the splits (seeded, whole templates)."""
    order = list(range(n))
    random.Random(f"{options.seed}:{name}").shuffle(order)
    n_test = max(1, round(n * options.test_share)) if n >= 3 else 0
    n_val = max(1, round(n * options.validation_share)) if n >= 3 else 0
    return {
        "test": order[:n_test],
        "validation": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }


def _typo(text: str, rng: random.Random) -> str:
    """Swap two letters inside one literal word of a template (never inside a value slot)."""
    words = text.split(" ")
    spots = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not spots:
        return text
    i = spots[rng.randrange(len(spots))]
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def polite(text: str, rng: random.Random) -> str:
    """A filled request with the odd greeting or thanks, and its first letter in either case."""
    suffix = POLITE_SUFFIX[rng.randrange(len(POLITE_SUFFIX))]
    if text.rstrip()[-1:] in "?!." and suffix.startswith("."):
        suffix = suffix[1:]  # "approved yet? Thanks", not "approved yet?. Thanks"
    text = v_strip(POLITE_PREFIX[rng.randrange(len(POLITE_PREFIX))] + text + suffix)
    return text[0].upper() + text[1:] if rng.random() < 0.5 else text


def v_strip(text: str) -> str:
    return " ".join(text.split())


def ordered_args(args: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments in the order of the schema's properties: the order the grammar writes them."""
    props = list((schema.get("properties") or {}).keys())
    known = {k: args[k] for k in props if k in args}
    return known | {k: val for k, val in args.items() if k not in known}


def _records(
    intent: Intent,
    split: str,
    indices: list[int],
    count: int,
    context: ModelContext,
    options: DataOptions,
) -> Iterator[dict[str, Any]]:
    today = date.fromisoformat(context.today)
    for index in indices:
        rng = random.Random(f"{options.seed}:{intent.name}:{index}:{split}")
        for n in range(count):
            template = intent.templates[index]
            if rng.random() < options.typo_rate:  # typos in the wording, never in a value
                template = _typo(template, rng)
            filled = intent.fill(rng, today, template)
            if filled is None:  # the draw gave nothing to ask or correct: no example
                continue
            content, gold = filled
            if isinstance(content, str):
                turns = [{"role": "user", "content": polite(content, rng)}]
            else:  # a conversation: the bot's thread memory before the last turn
                turns = [dict(t) for t in content]
                turns[0]["content"] = polite(str(turns[0]["content"]), rng)
            if "tool" in gold:
                gold = {
                    "tool": gold["tool"],
                    "args": ordered_args(gold["args"], context.schema(gold["tool"])),
                }
            yield {
                "id": f"{intent.name}#{index}-{n}",
                "intent": intent.name,
                "template": f"{intent.name}#{index}",
                "split": split,
                "source": "template",
                "messages": turns,
                "expect": gold,
            }


def generate_dataset(
    context: ModelContext,
    facts: WorkspaceFacts,
    options: DataOptions,
    knowledge: KnowledgeBase | None = None,
) -> Dataset:
    """Every split for the intents whose tools ``context`` binds (deterministic by seed).

    With ``knowledge`` (an indexed knowledge base), document questions with cited answers
    join them (``bot.training.answers``), and its sections are the topics people ask about.
    """
    splits: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    skipped: list[str] = []
    intents = workspace_intents(facts, doc_topics(knowledge))
    intents += multiturn_intents(facts, intents)
    if options.max_intents:
        intents = intents[: options.max_intents]
    for intent in intents:
        missing = [t for t in intent.tools if t not in context.tool_names()]
        if missing:
            skipped.append(f"{intent.name}: no tool {missing[0]!r} in this deployment")
            continue
        for split, indices in split_templates(intent, options).items():
            count = options.test_per_template if split == "test" else options.per_template
            count = max(1, round(count * intent.weight))
            splits[split].extend(_records(intent, split, indices, count, context, options))
    if options.answers_per_template:
        skipped += _add_answers(splits, context, options, knowledge)
    return Dataset(splits, context, skipped)


def doc_topics(knowledge: KnowledgeBase | None) -> list[str]:
    """What people ask the documents about: every section heading, by its own words."""
    if knowledge is None:
        return []
    from bot.training import answers

    headings = [s.heading.lower() for s in answers.sections(knowledge)]
    return [h for h in dict.fromkeys(headings) if len(h.split()) <= 6]


def _add_answers(
    splits: dict[str, list[dict[str, Any]]],
    context: ModelContext,
    options: DataOptions,
    knowledge: KnowledgeBase | None,
) -> list[str]:
    """Cited-answer records into ``splits``; the reasons they were left out, if they were."""
    from bot.training import answers

    if answers.TOOL not in context.tool_names():
        return [f"answer: no tool {answers.TOOL!r} in this deployment"]
    found = answers.sections(knowledge) if knowledge is not None else []
    if knowledge is None or not found:
        return ["answer: no indexed process documents (run `rpa-agent ingest` first)"]
    for split, indices in split_indices("answer", len(answers.TEMPLATES), options).items():
        count = (
            options.test_answers_per_template if split == "test" else options.answers_per_template
        )
        splits[split].extend(
            answers.answer_records(knowledge, split, indices, count, options.seed, found)
        )
    return []


def example_messages(record: dict[str, Any], system_prompt: str) -> list[BaseMessage]:
    """The conversation of a record as LangChain messages, after the agent's system prompt."""
    out: list[BaseMessage] = [SystemMessage(content=system_prompt)]
    for turn in record["messages"]:
        if turn["role"] == "user":
            out.append(HumanMessage(content=turn["content"]))
        elif turn["role"] == "assistant":
            out.append(
                AIMessage(content=turn.get("content", ""), tool_calls=turn.get("tool_calls", []))
            )
        elif turn["role"] == "tool":
            out.append(
                ToolMessage(
                    content=turn["content"],
                    tool_call_id=turn["tool_call_id"],
                    name=turn.get("name"),
                )
            )
        else:
            raise ValueError(
                f"record {record['id']!r} has a turn with unknown role {turn['role']!r}"
            )
    return out


def gold_message(record: dict[str, Any]) -> AIMessage:
    """What the model should reply: the tool call, or the clarifying question / answer text."""
    expect = record["expect"]
    if "tool" in expect:
        call = {
            "name": expect["tool"],
            "args": expect["args"],
            "id": "call_gold",
            "type": "tool_call",
        }
        return AIMessage(content="", tool_calls=[call])
    return AIMessage(content=str(expect.get("ask") or expect.get("answer", "")))


# ---- files ----------------------------------------------------------------------------------


def write_dataset(dataset: Dataset, directory: Path) -> Path:
    """``train.jsonl``, ``validation.jsonl``, ``test.jsonl``, ``meta.json`` and ``report.md``."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, rows in dataset.splits.items():
        with (directory / f"{split}.jsonl").open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    meta = {
        "context": dataset.context.to_dict(),
        "skipped": dataset.skipped,
        "hash": data_hash(directory),
    }
    (directory / "meta.json").write_text(
        json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    (directory / "report.md").write_text(report(dataset), encoding="utf-8")
    dataset.directory = directory
    return directory


def data_hash(directory: Path) -> str:
    """sha256 over the three split files: names the exact data an adapter was trained on."""
    digest = hashlib.sha256()
    for split in SPLITS:
        path = directory / f"{split}.jsonl"
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()


def read_split(directory: Path, split: str) -> list[dict[str, Any]]:
    path = directory / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"no {split} data at {str(path)!r}; run `rpa-agent train data` first"
        )
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def read_context(directory: Path) -> ModelContext:
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    return ModelContext.from_dict(meta["context"])


def report(dataset: Dataset) -> str:
    """Counts per intent and split, as a short Markdown table."""
    counts = dataset.counts()
    intents = sorted(set().union(*[set(c) for c in counts.values()]))
    lines = [
        "# Training data",
        "",
        "| intent | train | validation | test |",
        "|---|---:|---:|---:|",
    ]
    for name in intents:
        lines.append(f"| {name} | " + " | ".join(str(counts[s][name]) for s in SPLITS) + " |")
    lines.append("| **total** | " + " | ".join(str(len(dataset.splits[s])) for s in SPLITS) + " |")
    if dataset.skipped:
        lines += ["", "Skipped:", *(f"- {s}" for s in dataset.skipped)]
    return "\n".join(lines) + "\n"


def merge_records(splits: dict[str, list[dict[str, Any]]], extra: Iterable[dict[str, Any]]) -> None:
    """Add real-use records to the training split (they follow no template)."""
    splits["train"].extend(extra)
