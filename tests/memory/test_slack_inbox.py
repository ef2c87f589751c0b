"""The Slack surface's owed turns: claimed once by message and by event, answered once, and
taken over after a restart only from owners that died, stopped or let their lease lapse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from memory.db import Database
from memory.slack_inbox import Claim, Inbox, owner_gone, process_owner
from memory.slack_state import JoinedThreads


def _inbox(tmp_path: Path, owner: str | None = None, clock: float = 1000.0) -> Inbox:
    return Inbox(Database(tmp_path / "state.db"), owner=owner, clock=lambda: clock)


def test_a_message_and_an_event_are_each_claimed_once(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    assert inbox.accept("msg:C1:1.0", "Ev1", {"kind": "turn"})
    assert not inbox.accept("msg:C1:1.0", "Ev2", {})  # app_mention + message of one mention
    assert not inbox.accept("msg:C1:9.0", "Ev1", {})  # a retry of the same event
    assert inbox.accept("msg:C1:2.0", None, {})
    assert [t.key for t in inbox.open_turns()] == ["msg:C1:1.0", "msg:C1:2.0"]


def test_a_turn_is_owed_until_it_is_answered(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    turn = "msg:C1:1.0"
    assert inbox.accept(turn, "Ev1", {"kind": "turn", "inbound": {"text": "hi"}})
    inbox.placed(turn, "1.5")
    inbox.placed(turn, "1.9")  # the first message stays the reply's message
    inbox.started(turn)
    got = inbox.get(turn)
    assert got is not None and got.reply_ts == "1.5" and got.attempts == 1
    inbox.answered(turn)
    assert inbox.open_turns() == []
    assert not inbox.accept("msg:C1:1.0", "Ev1", {})  # still claimed after the answer


def test_a_restart_takes_over_only_what_nobody_is_answering(tmp_path: Path) -> None:
    live = _inbox(tmp_path, owner=process_owner())  # this very process: alive
    live.accept(live_turn := "msg:C1:1.0", None, {})
    dead_owner = f"{process_owner().split(':')[0]}:{_dead_pid()}:x"
    dead = _inbox(tmp_path, owner=dead_owner)
    dead.accept(dead_turn := "msg:C1:2.0", None, {})
    stopped = _inbox(tmp_path, owner=process_owner())
    stopped.accept(stopped_turn := "msg:C1:3.0", None, {})
    stopped.release()  # a clean shutdown leaves its turns for the next start at once
    later = _inbox(tmp_path, owner="elsewhere:1:y")
    taken = later.take_over()
    assert sorted(t.key for t in taken) == [dead_turn, stopped_turn]
    assert all(t.owner == "elsewhere:1:y" for t in taken)
    assert later.take_over() == []  # taken once
    lapsed = _inbox(tmp_path, owner="third:2:z", clock=1000.0 + 61)
    assert [t.key for t in lapsed.take_over()] == [live_turn, dead_turn, stopped_turn]


def test_renewing_keeps_a_live_owners_turns(tmp_path: Path) -> None:
    now = [1000.0]
    owner = Inbox(Database(tmp_path / "state.db"), owner="h:1:a", clock=lambda: now[0])
    owner.accept(turn := "msg:C1:1.0", None, {})
    now[0] += 50
    assert owner.renew() == 1
    now[0] += 50  # 100 s after the claim, 50 after the renewal
    other = Inbox(Database(tmp_path / "state.db"), owner="h2:2:b", clock=lambda: now[0])
    assert other.take_over() == []
    owner.answered(turn)
    assert owner.renew() == 0


def test_an_owner_on_another_host_is_never_taken_for_dead() -> None:
    assert owner_gone(f"{process_owner().split(':')[0]}:{_dead_pid()}:x")
    assert not owner_gone(process_owner())
    assert not owner_gone("some-other-host:1:x")
    assert owner_gone(None)


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    return int(child.stdout)


def test_claims_made_together_are_each_claimed_once_in_order(state_target: str) -> None:
    db = Database(state_target)
    inbox = Inbox(db, clock=lambda: 1000.0)
    assert inbox.accept("msg:C1:0.5", "Ev0", {})
    claims = [
        Claim("msg:C1:1.0", "Ev1", {"kind": "turn"}, ("C1", "1.0")),
        Claim("msg:C1:1.0", "Ev2", {}),  # the message + app_mention deliveries of one mention
        Claim("msg:C1:2.0", "Ev1", {}),  # a retry of an event claimed earlier in the same list
        Claim("msg:C1:0.5", None, {}),  # claimed before the list
        Claim("msg:C1:3.0", None, {}, ("C1", "3.0")),
        Claim("msg:C1:4.0", "Ev0", {}, ("C1", "4.0")),  # an event claimed before: no thread
    ]
    assert inbox.accept_many(claims) == [True, False, False, False, True, False]
    threads = JoinedThreads(db)
    assert threads.contains("C1", "1.0") and threads.contains("C1", "3.0")
    assert not threads.contains("C1", "4.0")
    assert sorted(t.key for t in inbox.open_turns()) == ["msg:C1:0.5", "msg:C1:1.0", "msg:C1:3.0"]
    assert inbox.accept_many([]) == []
