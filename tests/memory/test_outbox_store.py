"""The outbox table: idempotent enqueue, exclusive claims, state transitions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memory.db import Database
from memory.errors import NotFound
from memory.outbox import OutboxStore


def enqueue(store: OutboxStore, key: str = "k1") -> str:
    msg = store.enqueue(idempotency_key=key, message_id=f"<{key}@acme.example>", sender="bot@acme.example",
                        recipients=["a@acme.example"], subject="s", raw="Subject: s\r\n\r\nb\r\n", created_by="U1")  # fmt: skip
    return msg.id


def test_enqueue_is_idempotent(tmp_path: Path) -> None:
    store = OutboxStore(Database(tmp_path / "s.db"))
    first = enqueue(store)
    again = store.enqueue(
        idempotency_key="k1",
        message_id="<other@x>",
        sender="s",
        recipients=[],
        subject="other",
        raw="",
        created_by="U2",
    )
    assert again.id == first and not again.created and again.subject == "s"
    assert len(store.list()) == 1


def test_claims_are_exclusive_across_threads(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    store = OutboxStore(db)
    ids = {enqueue(store, f"k{i}") for i in range(10)}
    claimed: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        got = OutboxStore(db).claim_due(limit=10)
        with lock:
            claimed.extend(m.id for m in got)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)


def test_transitions(tmp_path: Path) -> None:
    store = OutboxStore(Database(tmp_path / "s.db"))
    msg_id = enqueue(store)
    assert store.claim(msg_id) is not None and store.claim(msg_id) is None
    later = datetime.now(UTC) + timedelta(minutes=5)
    retry = store.mark_retry(msg_id, "refused", later)
    assert retry.status == "pending" and retry.attempts == 1 and retry.last_error == "refused"
    assert store.claim_due() == []  # not due yet
    assert [m.id for m in store.claim_due(now=later + timedelta(seconds=1))] == [msg_id]
    sent = store.mark_sent(msg_id, "smtp://h:25")
    assert (
        sent.status == "sent"
        and sent.sent_at
        and sent.delivered_to == "smtp://h:25"
        and sent.attempts == 2
    )
    with pytest.raises(NotFound):
        store.mark_failed(msg_id, "not being sent")
    with pytest.raises(NotFound):
        store.requeue(msg_id)  # a sent message is never requeued
    with pytest.raises(NotFound):
        store.get("M-nope")
