"""Email: templates, drafts, allowed domains, and outbox delivery to a real SMTP server."""

from __future__ import annotations

import email
from pathlib import Path

import pytest

from memory.db import Database
from memory.errors import PolicyDenied
from tests.fakes.smtp import SmtpServer
from tools.email import EmailTemplates, Outbox, SmtpConfig
from tools.registry import ToolContext, ToolRegistry


def smtp_outbox(db: Database, server: SmtpServer, tmp_path: Path, timeout: float = 5.0) -> Outbox:
    config = SmtpConfig(host=server.host, port=server.port, security="none", timeout=timeout)
    # backoff 0: a failed attempt is due again at once, so the test drives retries itself
    return Outbox(db, sender="rpa-bot@acme.example", allowed_domains=["acme.example"], smtp=config,
                  file_dir=tmp_path / "eml", backoff_base=0.0, max_attempts=3)  # fmt: skip


def test_without_smtp_the_message_is_an_eml_file_and_the_user_is_told_where(
    registry: ToolRegistry, ctx: ToolContext, data_dir: Path
) -> None:
    args = {"to": "hr@acme.example", "subject": "Leave 4-8 May", "body": "Grüße aus Lyon.\n.\nEnd"}
    result = registry.call("send_email", args, ctx)
    assert result.ok, result.content
    path = Path(result.data["delivered_to"])
    assert path.parent == data_dir / "outbox" and path.suffix == ".eml"
    assert str(path) in result.content
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert msg["To"] == "hr@acme.example" and msg["Subject"] == "Leave 4-8 May"
    assert msg["Message-ID"] == result.data["message_id"]
    assert msg.get_content().strip().splitlines() == ["Grüße aus Lyon.", ".", "End"]


def test_recipients_outside_allowed_domains_are_refused_before_anything_is_stored(
    registry: ToolRegistry, ctx: ToolContext, db: Database
) -> None:
    result = registry.call(
        "send_email", {"to": "a@acme.example, eve@gmail.com", "subject": "x", "body": "y"}, ctx
    )
    assert not result.ok and result.status == "invalid"
    assert "to" in result.errors and "eve@gmail.com" in result.errors["to"]
    with db.reading() as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_outbox_enqueue_checks_domains_too(
    db: Database, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    with pytest.raises(PolicyDenied, match=r"evil\.example"):
        smtp_outbox(db, smtp_server, tmp_path).enqueue(
            to=["x@evil.example"], subject="s", body="b", created_by="U1"
        )


def test_template_renders_and_names_every_missing_value(
    workspace: Path, registry: ToolRegistry, ctx: ToolContext
) -> None:
    templates = EmailTemplates(workspace / "templates")
    assert {"vendor_welcome", "vendor_notification", "expense_submitted"} <= set(templates.names())
    missing = registry.call(
        "draft_email",
        {"to": "p@acme.example", "template": "vendor_welcome", "values": {"legal_name": "X"}},
        ctx,
    )
    assert not missing.ok
    assert set(missing.errors) == {"values.contact_name", "values.vendor_id"}
    values = {"legal_name": "Stahl AG", "contact_name": "Eva", "vendor_id": "V-0101"}
    draft = registry.call(
        "draft_email", {"to": "p@acme.example", "template": "vendor_welcome", "values": values}, ctx
    )
    assert draft.ok, draft.content
    assert draft.data["subject"] == "Welcome to Acme Industrial Supplies, Stahl AG"
    assert "Dear Eva" in draft.data["body"] and "V-0101" in draft.data["body"]


def test_a_draft_is_sent_once_per_idempotency_key(
    registry: ToolRegistry, ctx: ToolContext, data_dir: Path
) -> None:
    draft = registry.call(
        "draft_email", {"to": "finance@acme.example", "subject": "Q1", "body": "numbers"}, ctx
    )
    approved = ToolContext(user=ctx.user, approval_id="A-1", idempotency_key="A-1")
    first = registry.call("send_email", {"draft_id": draft.data["draft_id"]}, approved)
    second = registry.call("send_email", {"draft_id": draft.data["draft_id"]}, approved)
    assert first.ok and second.ok
    assert first.data["outbox_id"] == second.data["outbox_id"]
    assert "already queued" in second.content
    assert len(list((data_dir / "outbox").glob("*.eml"))) == 1


def test_smtp_delivery_reaches_the_server_once(
    db: Database, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    box = smtp_outbox(db, smtp_server, tmp_path)
    msg = box.enqueue(
        to=["hr@acme.example"],
        cc=["payroll@acme.example"],
        subject="Hi",
        body=".leading dot",
        created_by="U1",
    )
    assert box.deliver(msg.id).status == "sent"
    assert box.deliver(msg.id).status == "sent"  # a second call finds it sent and does nothing
    assert box.deliver_pending() == []
    [got] = smtp_server.received
    assert got.recipients == ["hr@acme.example", "payroll@acme.example"]
    assert got.message_id == msg.message_id
    assert got.message.get_payload(decode=True).decode().startswith(".leading dot")


def test_server_down_then_back_delivers_exactly_once(
    db: Database, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    box = smtp_outbox(db, smtp_server, tmp_path)
    smtp_server.stop()
    msg = box.enqueue(to=["hr@acme.example"], subject="Retry me", body="b", created_by="U1")
    after_first = box.deliver(msg.id)
    assert after_first.status == "pending" and after_first.attempts == 1
    assert "Connection" in (after_first.last_error or "")
    smtp_server.start()
    [delivered] = box.deliver_pending()
    assert delivered.status == "sent" and delivered.attempts == 2
    assert [r.message_id for r in smtp_server.received] == [msg.message_id]
    assert box.deliver_pending() == []


def test_out_of_attempts_the_message_fails_and_is_not_lost(
    db: Database, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    box = smtp_outbox(db, smtp_server, tmp_path)
    smtp_server.stop()
    msg = box.enqueue(to=["hr@acme.example"], subject="s", body="b", created_by="U1")
    for _ in range(3):
        box.deliver_pending()
    assert box.get(msg.id).status == "failed"
    smtp_server.start()
    assert box.retry(msg.id).status == "sent"
    assert len(smtp_server.received) == 1


def test_timeout_after_data_is_unknown_and_never_resent_blindly(
    db: Database, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    box = smtp_outbox(db, smtp_server, tmp_path, timeout=1.0)
    smtp_server.stall_after_data()
    msg = box.enqueue(to=["hr@acme.example"], subject="Maybe", body="b", created_by="U1")
    state = box.deliver(msg.id)
    assert state.status == "unknown"
    assert "after the message data" in (state.last_error or "")
    smtp_server.unstall()
    assert box.deliver_pending() == []  # the worker leaves it alone
    assert box.deliver(msg.id).status == "unknown"
    assert [r.message_id for r in smtp_server.received] == [msg.message_id]
    # A person checked and decided to send again: the same Message-ID goes out.
    assert box.retry(msg.id).status == "sent"
    assert [r.message_id for r in smtp_server.received] == [msg.message_id, msg.message_id]


def test_refused_recipient_fails_permanently(
    db: Database, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    box = smtp_outbox(db, smtp_server, tmp_path)
    smtp_server.refuse("gone@acme.example")
    msg = box.enqueue(to=["gone@acme.example"], subject="s", body="b", created_by="U1")
    state = box.deliver(msg.id)
    assert state.status == "failed" and "550" in (state.last_error or "")
    assert smtp_server.received == []


def test_send_email_tool_reports_a_queued_message_while_the_server_is_down(
    db: Database, smtp_server: SmtpServer, tmp_path: Path, workspace: Path
) -> None:
    from memory.drafts import DraftStore
    from tools.email import make_email_tools
    from tools.registry import ToolPolicy

    box = smtp_outbox(db, smtp_server, tmp_path)
    registry = ToolRegistry(
        make_email_tools(box, EmailTemplates(workspace / "templates"), DraftStore(db)),
        db,
        ToolPolicy(),
    )
    smtp_server.stop()
    result = registry.call(
        "send_email", {"to": "hr@acme.example", "subject": "s", "body": "b"}, ToolContext(user="U1")
    )
    assert result.ok and result.data["status"] == "pending" and not result.settled
    assert result.content.startswith("Not sent yet") and "Sent to" not in result.content


def test_a_claim_left_before_the_data_is_sent_again_once(
    db: Database, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    from datetime import timedelta

    box = smtp_outbox(db, smtp_server, tmp_path)
    msg = box.enqueue(to=["hr@acme.example"], subject="s", body="b", created_by="U1")
    assert box.store.claim(msg.id) is not None  # a worker claimed it, then died
    box.claim_lease = timedelta(0)
    [sent] = box.deliver_pending()
    assert sent.status == "sent" and sent.message_id == msg.message_id
    assert [r.message_id for r in smtp_server.received] == [msg.message_id]


def test_a_claim_left_after_the_data_waits_for_a_person_without_a_check(
    db: Database, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    from datetime import timedelta

    from tools.email_outbox import UNCONFIRMED

    box = smtp_outbox(db, smtp_server, tmp_path)
    msg = box.enqueue(to=["hr@acme.example"], subject="s", body="b", created_by="U1")
    box.store.claim(msg.id)
    box.store.mark_stage(msg.id, "data")  # it died after the data went out
    box.claim_lease = timedelta(0)
    assert box.deliver_pending() == []
    state = box.get(msg.id)
    assert state.status == "unknown" and state.last_error == UNCONFIRMED
    assert smtp_server.received == []
