"""Retrieval quality: recall@1, recall@5 and MRR of vector, keyword and hybrid search.

The evaluation set (a workspace's ``eval/retrieval.yaml``) names, for each question, the
document and section that answer it. A hit is correct when it comes from that document and
its section path contains that heading. Figures are reported per search mode, overall and per
question kind (literal, paraphrase, no_overlap), so the value of fusing the two rankings shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import yaml

from memory.errors import ConfigError
from memory.knowledge import KnowledgeBase, SearchHit, SearchMode

MODES: tuple[SearchMode, ...] = get_args(SearchMode)  # hybrid, vector, keyword
DEPTH = 10  # ranks looked at for MRR


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    doc: str
    section: str
    kind: str = "literal"


@dataclass
class ModeScore:
    """Recall@1, recall@5 and MRR@10 of one search mode over a set of questions."""

    ranks: list[int | None] = field(default_factory=list)  # 1-based rank of the first correct hit

    def recall(self, k: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= k) / max(len(self.ranks), 1)

    @property
    def mrr(self) -> float:
        return sum(1.0 / r for r in self.ranks if r is not None) / max(len(self.ranks), 1)


@dataclass
class RetrievalEval:
    """Scores by mode, overall and per question kind."""

    questions: list[EvalQuestion]
    scores: dict[str, dict[str, ModeScore]]  # kind ("all", "literal", ...) -> mode -> score

    def table(self) -> str:
        lines = [f"{'questions':<22}{'mode':<9}{'recall@1':>9}{'recall@5':>9}{'MRR':>7}"]
        for kind, by_mode in self.scores.items():
            count = len(next(iter(by_mode.values())).ranks)
            for mode, score in by_mode.items():
                lines.append(
                    f"{f'{kind} ({count})':<22}{mode:<9}{score.recall(1):>9.3f}"
                    f"{score.recall(5):>9.3f}{score.mrr:>7.3f}"
                )
        return "\n".join(lines)


def load_questions(path: Path) -> list[EvalQuestion]:
    """The evaluation set at ``path``; a malformed entry is an error naming it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the retrieval evaluation set {str(path)!r}: {exc}") from exc
    out = []
    for number, item in enumerate((data or {}).get("questions", []), start=1):
        try:
            out.append(
                EvalQuestion(
                    str(item["q"]),
                    str(item["doc"]),
                    str(item["section"]),
                    str(item.get("kind", "literal")),
                )
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(
                f"question {number} in {str(path)!r} lacks q, doc or section"
            ) from exc
    if not out:
        raise ConfigError(f"{str(path)!r} holds no questions")
    return out


def is_correct(hit: SearchHit, question: EvalQuestion) -> bool:
    return hit.citation.path == question.doc and question.section in hit.citation.headings


def first_correct_rank(hits: Iterable[SearchHit], question: EvalQuestion) -> int | None:
    return next((rank for rank, hit in enumerate(hits, start=1) if is_correct(hit, question)), None)


def evaluate(
    kb: KnowledgeBase, questions: list[EvalQuestion], modes: Iterable[SearchMode] = MODES
) -> RetrievalEval:
    """Search every question in every mode and score the ranks of the expected section."""
    kinds = ["all", *sorted({q.kind for q in questions})]
    modes = list(modes)
    scores: dict[str, dict[str, ModeScore]] = {k: {m: ModeScore() for m in modes} for k in kinds}
    for question in questions:
        for mode in modes:
            rank = first_correct_rank(kb.search(question.question, k=DEPTH, mode=mode), question)
            scores["all"][mode].ranks.append(rank)
            scores[question.kind][mode].ranks.append(rank)
    return RetrievalEval(questions, scores)
