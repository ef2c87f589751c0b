"""Mail that cannot go out at once: the SMTP server down for a whole run, slow at each stage of
its dialogue, or failing in the middle of DATA. Whatever happens, the message reaches the real
server exactly once, nothing after the email step runs (and nobody is told the claim is with
finance) until it has, and the requester is told the truth meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from memory import faults
from tests.processes.conftest import Rig
from tests.processes.test_engine import approve, expense
from tools.email_outbox import Outbox


def later() -> datetime:
    """A moment past any retry backoff, so a pass delivers what is due without waiting."""
    return datetime.now(UTC) + timedelta(days=1)


def notices(rig: Rig, run_id: str) -> list[str]:
    return [n.message for n in rig.engine.runs.notices(run_id)]


def outbox(rig: Rig) -> Outbox:
    assert rig.engine.outbox is not None
    return rig.engine.outbox


def housekeeping_pass(rig: Rig) -> None:
    """What the housekeeper does each round (``bot.background.housekeeping_chores``)."""
    outbox(rig).deliver_pending(now=later())
    rig.engine.resume_deliveries()


def run_to_the_email(rig: Rig) -> Any:
    run = rig.engine.start("expense_reimbursement", expense(750), requester="U_EMP")
    action = rig.engine.report(run.id).waiting_for
    assert action is not None
    return approve(rig, action.id, "U_MGR", "manager")


def test_smtp_down_for_the_whole_run_then_up_delivers_once(rig: Rig) -> None:
    rig.smtp.stop()
    run = run_to_the_email(rig)
    assert run.status == "waiting_delivery"
    told = notices(rig, run.id)
    assert len(told) == 1 and "not complete yet" in told[0] and "queued" in told[0]
    assert not any("is with finance" in n for n in told)
    housekeeping_pass(rig)  # still down: nothing changes, nobody is told twice
    assert rig.engine.runs.get(run.id).status == "waiting_delivery"
    assert len(notices(rig, run.id)) == 1
    rig.smtp.start()
    housekeeping_pass(rig)
    assert rig.engine.runs.get(run.id).status == "done"
    assert [e[1] for e in rig.smtp.envelopes()] == [["finance@acme.example"]]
    assert "is with finance" in notices(rig, run.id)[-1]
    housekeeping_pass(rig)
    assert len(rig.smtp.received) == 1


@pytest.mark.parametrize("stage", ["greeting", "data"])
def test_a_server_too_slow_before_the_data_is_retried_and_delivers_once(
    rig: Rig, stage: str
) -> None:
    outbox(rig).smtp = _short_timeout(outbox(rig))
    setattr(rig.smtp.delays, stage, 1.0)  # longer than the client waits
    run = run_to_the_email(rig)
    assert run.status == "waiting_delivery" and rig.smtp.received == []
    setattr(rig.smtp.delays, stage, 0.0)
    housekeeping_pass(rig)
    assert rig.engine.runs.get(run.id).status == "done"
    assert len(rig.smtp.received) == 1


def test_a_server_slow_after_storing_is_found_by_message_id_not_resent(rig: Rig) -> None:
    from tools.delivery_check import imap_check

    box = outbox(rig)
    box.smtp = _short_timeout(box)
    box.check = imap_check(rig.smtp.start_imap(), "secret")
    rig.smtp.delays.after_store = 1.0  # it stored the message, then answers too late
    run = run_to_the_email(rig)
    assert rig.engine.runs.get(run.id).status == "done"
    [msg] = box.store.list()
    assert msg.status == "sent" and "found by Message-ID" in (msg.delivered_to or "")
    housekeeping_pass(rig)
    assert len(rig.smtp.received) == 1


def test_a_server_slow_after_storing_without_a_check_waits_for_a_person(rig: Rig) -> None:
    box = outbox(rig)
    box.smtp = _short_timeout(box)
    rig.smtp.delays.after_store = 1.0
    run = run_to_the_email(rig)
    assert rig.engine.runs.get(run.id).status == "waiting_delivery"
    told = notices(rig, run.id)
    assert any("did not confirm" in n and "admin must check" in n for n in told), told
    assert not any("is with finance" in n for n in told)
    housekeeping_pass(rig)
    assert len(rig.smtp.received) == 1  # never resent blindly
    [msg] = box.store.list()
    assert msg.status == "unknown"


def test_a_refusal_after_the_data_is_retried_and_delivers_once(rig: Rig) -> None:
    rig.smtp.refuse_after_data("451 4.3.0 mailbox busy, try again later")
    run = run_to_the_email(rig)
    assert run.status == "waiting_delivery" and rig.smtp.received == []
    rig.smtp.refuse_after_data(None)
    housekeeping_pass(rig)
    assert rig.engine.runs.get(run.id).status == "done"
    assert len(rig.smtp.received) == 1


@pytest.fixture
def connection_drops() -> Iterator[list[str]]:
    """The connection fails (OSError) once, at the I/O point the test names."""
    at: list[str] = []

    def hook(name: str) -> None:
        if at and name == at[0]:
            at.clear()
            raise ConnectionResetError(f"connection reset at {name}")

    with faults.injected(hook):
        yield at


@pytest.mark.parametrize(
    ("point", "first_status"),
    [
        ("smtp.connect", "pending"),
        ("smtp.envelope", "pending"),
        ("smtp.data", "pending"),
        ("smtp.payload", "pending"),  # mid-DATA, before the final dot: the server drops it
        ("smtp.dot", "sent"),  # after the final dot: unknown, then found by Message-ID
    ],
)
def test_a_connection_failing_mid_dialogue_never_loses_or_doubles_the_mail(
    rig: Rig, connection_drops: list[str], point: str, first_status: str
) -> None:
    from tools.delivery_check import imap_check

    box = outbox(rig)
    box.check = imap_check(rig.smtp.start_imap(), "secret")
    connection_drops.append(point)
    run = run_to_the_email(rig)
    [msg] = box.store.list()
    assert msg.status == first_status
    housekeeping_pass(rig)
    assert rig.engine.runs.get(run.id).status == "done"
    assert len(rig.smtp.received) == 1


def _short_timeout(box: Outbox) -> Any:
    from dataclasses import replace

    assert box.smtp is not None
    return replace(box.smtp, timeout=0.3)


def test_an_approved_email_is_not_reported_done_until_the_server_took_it(
    rig: Rig,
) -> None:
    from tests.processes import fault_harness as fh

    world = fh.build_world(rig.settings)
    told: list[str] = []
    world.runner.notify = lambda action, text: told.append(text)
    fh.propose(world, fh.Scenario("mail", action=("send_email", {
        "to": ["finance@acme.example"], "subject": "Claim EXP-01001", "body": "Please pay.",
    })))  # fmt: skip
    [action] = world.approvals.list(status=("pending",))
    assert action.role == "admin"  # company mail: someone other than the requester approves
    rig.smtp.stop()
    world.approvals.decide(action.id, "U_ADMIN", "approve", user_roles=["admin"])
    final = world.runner.execute(action.id)
    assert final.kind == "final" and final.text.startswith("Approved, not done yet")
    assert "Not sent yet" in final.text and "Done" not in final.text
    assert world.approvals.get(action.id).status == "delivering"
    assert world.runner.follow_up() == [] and told == []  # still queued: nothing to say
    rig.smtp.start()
    outbox(rig).deliver_pending(now=later())
    assert world.runner.follow_up() == [f"{action.id} send_email: done"]
    assert world.approvals.get(action.id).status == "done"
    assert told == ["Send an email to finance@acme.example: 'Claim EXP-01001': the email to "
                    "finance@acme.example ('Claim EXP-01001') has been sent"]  # fmt: skip
    assert world.runner.follow_up() == [] and len(rig.smtp.received) == 1
