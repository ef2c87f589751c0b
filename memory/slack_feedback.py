"""What people thought of the bot's answers in Slack: each answer as given, and each press of
its feedback buttons.

``Answers.record`` keeps an answer with its thread, its turn in that thread and the model (and
adapter) that wrote it; ``Answers.rate`` stores a person's press (their latest counts);
``rated`` lists answers with their ratings for ``rpa-agent feedback`` and for training data
(positively rated answers become real-use examples; negative ones are listed for review).
``frequent_questions`` names what people ask most, for the suggested prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from memory.clock import now_iso
from memory.db import Database

Rating = Literal["positive", "negative"]


@dataclass(frozen=True)
class RatedAnswer:
    """One press of a feedback button, with the answer it was about."""

    answer_id: str
    channel: str
    thread: str
    turn: int
    question: str
    answer: str
    model: str
    adapter: str
    user: str
    rating: Rating
    pressed_at: str


class Answers:
    """Answers given in Slack and their feedback."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        answer_id: str,
        channel: str,
        thread: str,
        question: str,
        answer: str,
        model: str,
        adapter: str = "",
        message_ts: str | None = None,
    ) -> int:
        """Keep an answer; returns its turn in the thread (1 for the first)."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT COUNT(*) AS n FROM slack_answers WHERE channel = ? AND thread = ?",
                (channel, thread),
            ).fetchone()
            turn = int(row["n"]) + 1
            conn.execute(
                "INSERT INTO slack_answers (answer_id, channel, thread, turn, question, answer,"
                " model, adapter, message_ts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (answer_id, channel, thread, turn, question, answer, model, adapter,
                 message_ts, now_iso()),
            )  # fmt: skip
        return turn

    def turns(self, channel: str, thread: str) -> int:
        """How many answers the thread has had."""
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT COUNT(*) AS n FROM slack_answers WHERE channel = ? AND thread = ?",
                (channel, thread),
            ).fetchone()
        return int(row["n"])

    def rate(self, answer_id: str, user: str, rating: Rating) -> bool:
        """Store a press (a person's latest counts); False when the answer is unknown."""
        with self.db.transaction() as conn:
            known = conn.execute(
                "SELECT 1 FROM slack_answers WHERE answer_id = ?", (answer_id,)
            ).fetchone()
            if known is None:
                return False
            conn.execute(
                "INSERT INTO slack_feedback (answer_id, user_id, rating, pressed_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (answer_id, user_id)"
                " DO UPDATE SET rating = excluded.rating, pressed_at = excluded.pressed_at",
                (answer_id, user, rating, now_iso()),
            )
        return True

    def rated(self, rating: Rating | None = None, limit: int = 1000) -> list[RatedAnswer]:
        """Presses with their answers, newest first (only ``rating`` ones when given)."""
        where, params = ("WHERE f.rating = ?", [rating]) if rating else ("", [])
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT a.*, f.user_id, f.rating, f.pressed_at FROM slack_feedback f"
                f" JOIN slack_answers a ON a.answer_id = f.answer_id {where}"
                " ORDER BY f.pressed_at DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_rated(r) for r in rows]

    def frequent_questions(self, limit: int = 2, at_least: int = 2) -> list[str]:
        """The questions asked most (asked ``at_least`` times), most asked first."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT question, COUNT(*) AS n FROM slack_answers WHERE question <> ''"
                " GROUP BY question HAVING COUNT(*) >= ? ORDER BY n DESC, question LIMIT ?",
                (at_least, limit),
            ).fetchall()
        return [str(r["question"]) for r in rows]


def _rated(row: Any) -> RatedAnswer:
    fields = ("answer_id", "channel", "thread", "question", "answer", "model", "adapter")
    return RatedAnswer(
        **{name: str(row[name]) for name in fields},
        turn=int(row["turn"]),
        user=str(row["user_id"]),
        rating=row["rating"],
        pressed_at=str(row["pressed_at"]),
    )
