"""The run store: references, idempotency keys, step records and notices in real SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.db import Database
from memory.errors import NotFound
from memory.runs import RunStore


@pytest.fixture
def store(data_dir: Path) -> RunStore:
    return RunStore(Database(data_dir / "state.db"))


def test_references_count_per_prefix_and_keys_start_one_run(store: RunStore) -> None:
    a, created_a = store.create(
        process="p", prefix="EXP", digits=5, requester="U", values={"x": 1}, idempotency_key="k1"
    )
    b, _ = store.create(process="p", prefix="EXP", digits=5, requester="U", values={})
    v, _ = store.create(process="v", prefix="V", digits=4, requester="U", values={}, min_number=100)
    again, created_again = store.create(
        process="p", prefix="EXP", digits=5, requester="U", values={}, idempotency_key="k1"
    )
    assert (a.reference, b.reference, v.reference) == ("EXP-00001", "EXP-00002", "V-0101")
    assert a.values == {"x": 1, "reference": "EXP-00001"}
    assert created_a and not created_again and again.id == a.id
    assert store.find("EXP-00002").id == b.id
    with pytest.raises(NotFound, match="'EXP-09999'"):
        store.find("EXP-09999")


def test_step_records_and_values_move_together(store: RunStore) -> None:
    run, _ = store.create(process="p", prefix=None, digits=5, requester="U", values={"a": 1})
    assert run.reference is None
    first = store.step_started(run.id, "submit", 0)
    again = store.step_started(run.id, "submit", 0)
    assert (first.attempts, again.attempts, again.status) == (1, 2, "started")
    store.step_finished(
        run.id, "submit", "done", result={"id": "X-1"}, values={"b": 2}, reference="X-1"
    )
    got = store.get(run.id)
    assert got.reference == "X-1" and got.values == {"a": 1, "b": 2, "reference": "X-1"}
    assert store.steps(run.id)["submit"].result == {"id": "X-1"}
    assert store.set_status(run.id, "done", only_from=("running",))
    assert not store.set_status(run.id, "running", only_from=("waiting_approval",))
    assert store.get(run.id).finished


def test_notices_are_stored_once_per_key(store: RunStore) -> None:
    run, _ = store.create(process="p", prefix="LV", digits=5, requester="U", values={})
    assert store.add_notice(run.id, "tell", "hello")
    assert not store.add_notice(run.id, "tell", "hello again")
    assert [n.message for n in store.notices(run.id)] == ["hello"]
