"""``rpa-agent feedback`` lists the presses of Slack's feedback buttons; ``train data
--from-feedback`` trains on the positively rated answers and lists the negative ones."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from memory.db import Database
from memory.slack_feedback import Answers
from tests.cli.conftest import run


def _rated(data_dir: Path) -> None:
    answers = Answers(Database(data_dir / "state.db"))
    answers.record(
        "A1", "D100", "1.0", "what is the hotel cap?", "150 EUR per night [1].", "smollm2", "acme"
    )
    answers.record(
        "A2", "D100", "1.0", "and for trains?", "I have no answer to that.", "smollm2", "acme"
    )
    answers.rate("A1", "U100", "positive")
    answers.rate("A2", "U100", "positive")
    answers.rate("A2", "U100", "negative")  # the latest press counts
    assert not answers.rate("A-unknown", "U100", "positive")


def test_feedback_lists_the_presses_with_turn_and_model(cli: CliRunner, data_dir: Path) -> None:
    code, out = run(cli, "feedback")
    assert code == 0 and "No feedback yet" in out
    _rated(data_dir)
    code, out = run(cli, "feedback")
    assert code == 0, out
    assert "what is the hotel cap?" in out and "smollm2 + acme" in out
    assert "1 positive, 1 negative" in out
    code, out = run(cli, "feedback", "--rating", "negative")
    assert "and for trains?" in out and "hotel cap" not in out


def test_train_data_takes_the_good_answers_and_lists_the_bad(
    cli: CliRunner, data_dir: Path
) -> None:
    _rated(data_dir)
    code, out = run(
        cli, "train", "data", "--quick", "--answers-per-template", "0", "--no-from-audit",
        "--from-feedback", "--name", "rated",
    )  # fmt: skip
    assert code == 0, out
    assert "Added 1 positively rated answers" in out
    assert "1 answers were rated negatively" in out and "and for trains?" in out
    rows = [json.loads(line) for line in (data_dir / "training/rated/train.jsonl").open()]
    rated = [r for r in rows if r["source"] == "rated"]
    assert rated == [
        {
            "id": "rated:A1", "intent": "rated:answer", "template": "rated:A1", "split": "train",
            "source": "rated", "messages": [{"role": "user", "content": "what is the hotel cap?"}],
            "expect": {"answer": "150 EUR per night [1]."},
        }
    ]  # fmt: skip
