"""Durable de-duplication: one claim per key, across connections and restarts."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from memory.db import Database
from memory.dedupe import Dedupe
from memory.slack_state import DecisionCards, JoinedThreads


def test_a_key_is_claimed_once_even_after_a_restart(tmp_path: Path) -> None:
    assert Dedupe(Database(tmp_path / "s.db")).claim("event:Ev1", "msg:C1:1.0")
    again = Dedupe(Database(tmp_path / "s.db"))  # a new process over the same file
    assert not again.claim("event:Ev1")
    assert not again.claim("event:Ev2", "msg:C1:1.0")  # any taken key refuses the whole claim
    assert not again.seen("event:Ev2")  # ... and stores nothing
    again.release("event:Ev1")
    assert again.claim("event:Ev1")


def test_concurrent_claims_have_one_winner(tmp_path: Path) -> None:
    dedupe = Dedupe(Database(tmp_path / "s.db"))
    wins: list[bool] = []
    start = threading.Barrier(8)

    def claim() -> None:
        start.wait()
        wins.append(dedupe.claim("event:race"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_an_empty_claim_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="non-empty key"):
        Dedupe(Database(tmp_path / "s.db")).claim("", "")


def test_joined_threads_and_decision_cards(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    threads = JoinedThreads(db)
    threads.add("C1", "1.0")
    threads.add("C1", "1.0")
    assert threads.contains("C1", "1.0") and not threads.contains("C1", "2.0")
    cards = DecisionCards(db)
    cards.save("PA-1", "C1", "5.0", {"action_id": "PA-1", "approvers": ["U2"]})
    assert cards.claim("PA-1", "U2", "approve")
    assert not cards.claim("PA-1", "U2", "approve")
    cards.finish("PA-1", "done")
    card = cards.get("PA-1")
    assert card is not None and (card.decided_by, card.decision, card.result) == (
        "U2",
        "approve",
        "done",
    )
    cards.release("PA-1")
    assert cards.claim("PA-1", "U3", "reject")
    assert cards.get("PA-9") is None
