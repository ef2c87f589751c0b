"""Answers and their feedback on both engines: turns count per thread, each person's latest
press counts, the most asked questions come first."""

from __future__ import annotations

from memory.db import Database
from memory.slack_feedback import Answers


def test_answers_and_presses_on_both_engines(state_target: str) -> None:
    db = Database(state_target)
    try:
        answers = Answers(db)
        assert answers.record("A1", "C1", "1.0", "hotel cap?", "150 EUR", "m", "a") == 1
        assert answers.record("A2", "C1", "1.0", "hotel cap?", "150 EUR", "m") == 2
        assert answers.record("A3", "C1", "2.0", "trains?", "second class", "m") == 1
        assert answers.turns("C1", "1.0") == 2 and answers.turns("C9", "1.0") == 0
        assert answers.rate("A1", "U1", "negative") and answers.rate("A1", "U1", "positive")
        assert answers.rate("A3", "U2", "negative")
        assert not answers.rate("nope", "U1", "positive")
        by_answer = {r.answer_id: r for r in answers.rated()}
        assert by_answer["A1"].rating == "positive" and by_answer["A1"].adapter == "a"
        assert (by_answer["A3"].turn, by_answer["A3"].rating) == (1, "negative")
        assert [r.answer_id for r in answers.rated("negative")] == ["A3"]
        assert answers.frequent_questions() == ["hotel cap?"]  # asked twice; "trains?" once
    finally:
        db.close()
