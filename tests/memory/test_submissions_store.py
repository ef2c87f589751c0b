"""Form submissions: ids per form and year, once per idempotency key, status changes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from memory.db import Database
from memory.errors import NotFound
from memory.submissions import SubmissionStore


def test_ids_follow_the_format_and_keys_dedupe(tmp_path: Path) -> None:
    store = SubmissionStore(Database(tmp_path / "s.db"))
    a = store.create(
        "expense_claim",
        {"amount": 1},
        "U1",
        id_format="EXP-{seq:05d}",
        first_number=1001,
        idempotency_key="A-1",
    )
    b = store.create(
        "expense_claim",
        {"amount": 2},
        "U1",
        id_format="EXP-{seq:05d}",
        first_number=1001,
        idempotency_key="A-1",
    )
    c = store.create(
        "expense_claim", {"amount": 3}, "U2", id_format="EXP-{seq:05d}", first_number=1001
    )
    assert (a.id, b.id, c.id) == ("EXP-01001", "EXP-01001", "EXP-01002")
    assert a.created and not b.created and b.values == {"amount": 1}
    assert [s.id for s in store.list(submitter="U2")] == ["EXP-01002"]
    assert store.set_status("EXP-01001", "approved").status == "approved"
    with pytest.raises(NotFound, match="EXP-09999"):
        store.get("EXP-09999")


def test_concurrent_submitters_get_distinct_ids(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    ids: list[str] = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        for i in range(5):
            sub = SubmissionStore(db).create(
                "leave_request", {"n": n, "i": i}, f"U{n}", id_format="LV-{seq:05d}"
            )
            with lock:
                ids.append(sub.id)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids) == [f"LV-{n:05d}" for n in range(1, 21)]
