"""Pending actions: single use, bound to arguments, permitted approvers only, expiry, claims."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from memory.approvals import ApprovalStore, args_hash
from memory.db import Database
from memory.errors import ApprovalError, NotFound


@pytest.fixture
def store(tmp_path: Path) -> ApprovalStore:
    return ApprovalStore(Database(tmp_path / "state.db"))


def make(store: ApprovalStore, **kw: object) -> str:
    defaults: dict = {
        "tool": "send_email",
        "arguments": {"to": "a@acme.example"},
        "summary": "mail",
        "requester": "U1",
    }
    defaults.update(kw)
    return store.create(**defaults).id


def test_requester_approves_once_and_replay_is_refused_and_logged(store: ApprovalStore) -> None:
    action_id = make(store)
    assert store.decide(action_id, "U1", "approve").status == "approved"
    with pytest.raises(ApprovalError, match="already approved"):
        store.decide(action_id, "U1", "approve")
    log = store.decisions(action_id)
    assert [(d["accepted"], d["user"]) for d in log] == [(1, "U1"), (0, "U1")]


def test_foreign_approver_is_refused_and_action_stays_pending(store: ApprovalStore) -> None:
    action_id = make(store)
    with pytest.raises(ApprovalError, match="may not decide"):
        store.decide(action_id, "U2", "approve")
    assert store.get(action_id).status == "pending"
    assert store.decisions(action_id)[0]["accepted"] == 0


def test_role_bound_action_needs_the_role_even_from_the_requester(store: ApprovalStore) -> None:
    action_id = make(store, role="manager")
    with pytest.raises(ApprovalError, match="manager"):
        store.decide(action_id, "U1", "approve")
    decided = store.decide(action_id, "M1", "approve", user_roles=["manager"])
    assert decided.decided_by == "M1"


def test_edit_binds_the_new_arguments(store: ApprovalStore) -> None:
    action_id = make(store)
    edited = store.decide(action_id, "U1", "approve", arguments={"to": "b@acme.example"})
    assert edited.edited and edited.arguments == {"to": "b@acme.example"}
    assert edited.args_hash == args_hash({"to": "b@acme.example"})


def test_stale_hash_is_refused(store: ApprovalStore) -> None:
    action_id = make(store)
    with pytest.raises(ApprovalError, match="changed since"):
        store.decide(action_id, "U1", "approve", expected_hash="0" * 64)


def test_expired_action_cannot_be_approved(tmp_path: Path) -> None:
    store = ApprovalStore(Database(tmp_path / "s.db"), ttl=timedelta(seconds=-1))
    action_id = make(store)
    with pytest.raises(ApprovalError, match="expired"):
        store.decide(action_id, "U1", "approve")
    assert store.get(action_id).status == "expired"


def test_claim_happens_once_and_a_live_claim_is_not_recovered(store: ApprovalStore) -> None:
    action_id = make(store)
    store.decide(action_id, "U1", "approve")
    assert store.claim(action_id) is not None
    assert store.claim(action_id) is None  # a second worker gets nothing
    assert store.recoverable() == []  # this process is alive and its lease holds
    assert store.claim(action_id, recovering=True) is None
    store.finish(action_id, ok=True, result="sent")
    assert store.recoverable() == []
    assert store.get(action_id).result == "sent"


def test_unknown_action_is_not_found(store: ApprovalStore) -> None:
    with pytest.raises(NotFound):
        store.decide("A-missing", "U1", "approve")


def test_state_survives_a_new_store_on_the_same_file(tmp_path: Path) -> None:
    first = ApprovalStore(Database(tmp_path / "s.db"))
    action_id = make(first)
    second = ApprovalStore(Database(tmp_path / "s.db"))
    assert second.get(action_id).arguments == {"to": "a@acme.example"}
