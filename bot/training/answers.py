"""Document questions with cited answers, built from the workspace's own knowledge base.

For a question about how things are done, the bot searches the process documents before the
model runs and hands it the search as a tool call and its result (``Service._prefetch``). The
model then has to answer from the passages and cite the one it used as ``[n]``. These
examples teach exactly that turn: a question about one section of one document, the real
search the bot makes for it (same query, same number of passages, the real ranked passages
from Chroma), and the gold answer: the section's opening sentences, quoted, with the number
of the passage they come from. Questions whose section the search does not return are left
out (there is nothing right to quote).

Held-out cases carry the facts the answer must state (numbers, addresses and rare words of
the quoted sentences) and the document it must cite, for ``rpa-agent eval agent``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from memory.knowledge import KnowledgeBase, SearchHit
from tools.docs import QUESTION_PASSAGES, search_process_docs

TOOL = "search_process_docs"
MAX_ANSWER_CHARS = 320  # a quote of one or two sentences, not the whole passage

TEMPLATES = (
    "what does the {title} document say about {section}?",
    "what are the rules on {section} in {title}?",
    "can you check the docs: {title}, {section}?",
    "what is our policy on {section} for {title}?",
    "how does {section} work in the {title} process?",
    "what do I need to know about {section} ({title})?",
    "where can I read about {section} in {title}?",
    "{title} - {section}: what applies?",
    "what do the docs say on {section} for {title}?",
    "could you explain {section} in {title}?",
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
_FACT = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.]+"
    r"|\b\d[\d,.]*(?:\s?(?:%|EUR|working days|days?|hours?|weeks?|months?|years?)\b)?"
)


@dataclass(frozen=True)
class Section:
    """One section of one document: what a question is about and what answers it."""

    path: str
    title: str
    heading: str  # the section's own heading (last part of its heading path)
    text: str


def sections(kb: KnowledgeBase) -> list[Section]:
    """The first chunk of every headed section, in document order."""
    out: list[Section] = []
    seen: set[tuple[str, str]] = set()
    for hit in kb.chunks():
        c = hit.citation
        if not c.section or (c.path, c.section) in seen:
            continue
        seen.add((c.path, c.section))
        if quote(hit.text):
            out.append(Section(c.path, c.title, c.headings[-1], hit.text))
    return out


def quote(text: str) -> str:
    """The opening sentences of a passage, up to ``MAX_ANSWER_CHARS`` (at least one sentence)."""
    lines = [ln.strip().lstrip("-*•").strip() for ln in text.splitlines()]
    prose = " ".join(ln for ln in lines if ln and not ln.startswith("#"))
    picked: list[str] = []
    for sentence in _SENTENCE_END.split(prose):
        if len(sentence.split()) < 4:
            continue
        if picked and len(" ".join([*picked, sentence])) > MAX_ANSWER_CHARS:
            break
        picked.append(_shortened(sentence.strip()))
        if len(picked) == 2:
            break
    return " ".join(picked)


def _shortened(sentence: str) -> str:
    """A sentence longer than an answer should be, cut after its last clause that fits."""
    if len(sentence) <= MAX_ANSWER_CHARS:
        return sentence
    head = sentence[:MAX_ANSWER_CHARS]
    cut = max(head.rfind("; "), head.rfind(", "))
    return (head[:cut] if cut > MAX_ANSWER_CHARS // 3 else head.rsplit(" ", 1)[0]) + " ..."


def facts_of(answer: str, limit: int = 2) -> list[str]:
    """What an answer must state: numbers and addresses first, else its rarest long words."""
    answer = answer.replace("`", "")
    found = [m.group(0).strip(" .,") for m in _FACT.finditer(answer)]
    found = [f for f in dict.fromkeys(found) if len(f) > 1 or f.isdigit()]
    if len(found) < limit:
        words = sorted(
            {w.strip(".,;:()\"'").lower() for w in answer.split() if len(w.strip(".,;:()")) >= 8},
            key=lambda w: (-len(w), w),
        )
        for word in words:
            if not any(word in f.lower() or f.lower() in word for f in found):
                found.append(word)
    return found[:limit]


def _position(hits: tuple[SearchHit, ...], section: Section) -> int | None:
    for n, hit in enumerate(hits, start=1):
        if hit.citation.path == section.path and hit.text == section.text:
            return n
    for n, hit in enumerate(hits, start=1):  # another chunk of the same section
        if hit.citation.path == section.path and hit.citation.headings[-1:] == (section.heading,):
            return n
    return None


def _phrase(template: str, section: Section, rng: random.Random) -> str:
    text = template.format(title=section.title.lower(), section=section.heading.lower())
    return text[0].upper() + text[1:] if rng.random() < 0.5 else text


def answer_records(
    kb: KnowledgeBase,
    split: str,
    indices: list[int],
    count: int,
    seed: int,
    all_sections: list[Section],
) -> Iterator[dict[str, Any]]:
    """``count`` cited-answer records per template index, on sections drawn by seed."""
    for index in indices:
        rng = random.Random(f"{seed}:answer:{index}:{split}")
        chosen = rng.sample(all_sections, min(count, len(all_sections)))
        for n, section in enumerate(chosen):
            question = _phrase(TEMPLATES[index], section, rng)
            result = search_process_docs(kb, question, QUESTION_PASSAGES)
            position = _position(result.hits, section)
            if position is None:
                continue
            quoted = quote(result.hits[position - 1].text)
            answer = f"{quoted} [{position}]"
            call_id = f"call_{index}_{n}"
            yield {
                "id": f"answer#{index}-{n}",
                "intent": "answer",
                "template": f"answer#{index}",
                "split": split,
                "source": "documents",
                "messages": [
                    {"role": "user", "content": question},
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [
                            {
                                "name": TOOL,
                                "args": {"query": question, "k": QUESTION_PASSAGES},
                                "id": call_id,
                                "type": "tool_call",
                            }
                        ],
                    },
                    {
                        "role": "tool",
                        "name": TOOL,
                        "tool_call_id": call_id,
                        "content": result.text,
                        "citations": [
                            {"title": c.title, "section": c.section, "path": c.path}
                            for c in result.citations
                        ],
                    },
                ],
                "expect": {"answer": answer, "facts": facts_of(quoted), "cite": section.path},
            }
