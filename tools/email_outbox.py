"""The outbox service: compose a message once, store it, deliver it exactly once.

``Outbox.enqueue`` builds the complete RFC 5322 message (with a stable Message-ID) and stores
it under an idempotency key; every attempt sends those same bytes. ``deliver`` tries one
message now; ``deliver_pending`` is what start-up, the housekeeper and ``rpa-agent outbox``
call. Recipients are checked against the allowed domains before anything is stored.

A claim whose process died (or that outlived its lease) is resolved by ``resolve_stuck``, by
the stage the attempt reached: nothing went out -> sent again; the message data went out ->
the delivery check is asked (``tools.delivery_check``): the server has it -> ``sent``, it has
not -> sent again with the same Message-ID, nobody can tell -> ``unknown``, for a person.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path

from memory.clock import iso
from memory.db import Database
from memory.errors import PolicyDenied
from memory.outbox import OutboxMessage, OutboxStore
from tools.delivery_check import DeliveryCheck, FolderCheck
from tools.smtp_delivery import Delivery, SmtpConfig, file_deliver, smtp_deliver

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^[A-Za-z0-9._%+'-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)$")


def check_address(address: str, allowed_domains: Iterable[str]) -> str:
    """The address, lower-cased; ``ValueError`` for bad syntax, ``PolicyDenied`` for a domain."""
    value = address.strip().lower()
    match = _ADDRESS.match(value)
    if not match:
        raise ValueError(f"{address!r} is not an email address")
    allowed = [d.lower().lstrip("@") for d in allowed_domains]
    if "*" not in allowed and match.group(1) not in allowed:
        where = ", ".join(allowed) or "none are configured (RPA_EMAIL_ALLOWED_DOMAINS)"
        raise PolicyDenied(f"mail may not go to {value!r}: allowed domains are {where}")
    return value


_NAME_NOISE = re.compile(r"^(?:the|our) |(?: team| mailbox| inbox)$")


def _mailbox_key(text: str) -> str:
    """A mailbox name read without case, separators or "the ... team" ("IT help desk")."""
    words = " ".join(re.split(r"[\s_.\-]+", text.strip().casefold())).strip()
    return _NAME_NOISE.sub("", words).replace(" ", "")


def mailbox_address(recipient: str, mailboxes: Mapping[str, str]) -> str:
    """The address of the team mailbox ``recipient`` names ("IT helpdesk", "the payroll team"),
    by the mailbox's name or its address's local part; anything else as given."""
    if "@" in recipient or not mailboxes:
        return recipient
    key = _mailbox_key(recipient)
    found = {
        address
        for name, address in mailboxes.items()
        if key in (_mailbox_key(name), _mailbox_key(address.partition("@")[0]))
    }
    return found.pop() if len(found) == 1 else recipient


class Outbox:
    """Durable outgoing mail: enqueue, deliver with retries and backoff, never twice."""

    def __init__(
        self,
        db: Database,
        *,
        sender: str,
        allowed_domains: Iterable[str],
        smtp: SmtpConfig | None,
        file_dir: Path,
        max_attempts: int = 8,
        backoff_base: float = 30.0,
        backoff_cap: float = 3600.0,
        claim_lease: timedelta = timedelta(minutes=15),
        check: DeliveryCheck | None = None,
    ) -> None:
        self.store = OutboxStore(db)
        self.sender = sender
        self.allowed_domains = list(allowed_domains)
        self.smtp = smtp
        self.file_dir = Path(file_dir)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.claim_lease = claim_lease
        # Without SMTP the .eml folder answers for itself; over SMTP only a configured check can.
        self.check: DeliveryCheck | None = check or (None if smtp else FolderCheck(self.file_dir))

    @property
    def target(self) -> str:
        """Where mail goes: the SMTP server, or the folder of .eml files."""
        return self.smtp.url if self.smtp else str(self.file_dir)

    def check_recipients(self, addresses: Iterable[str]) -> list[str]:
        return [check_address(a, self.allowed_domains) for a in addresses]

    def compose(
        self, *, to: list[str], subject: str, body: str, cc: list[str] | None = None
    ) -> EmailMessage:
        msg = EmailMessage(policy=SMTP)
        msg["From"] = self.sender
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or "localhost")
        # Quoted-printable keeps the stored message 7-bit: any server takes it, byte for byte.
        plain = body.isascii() and all(len(line) < 900 for line in body.splitlines())
        msg.set_content(body, cte="7bit" if plain else "quoted-printable")
        return msg

    def enqueue(
        self,
        *,
        to: list[str],
        subject: str,
        body: str,
        created_by: str,
        cc: list[str] | None = None,
        idempotency_key: str | None = None,
        draft_id: str | None = None,
    ) -> OutboxMessage:
        """Store one message (or return the one already stored under this key)."""
        to, cc = self.check_recipients(to), self.check_recipients(cc or [])
        if not to:
            raise ValueError("a message needs at least one recipient")
        msg = self.compose(to=to, subject=subject, body=body, cc=cc)
        return self.store.enqueue(
            idempotency_key=idempotency_key or f"{created_by}:{uuid.uuid4()}",
            message_id=str(msg["Message-ID"]),
            sender=self.sender,
            recipients=to + cc,
            subject=subject,
            raw=msg.as_bytes().decode("ascii"),
            created_by=created_by,
            draft_id=draft_id,
        )

    def deliver(self, message_id: str) -> OutboxMessage:
        """Try one message now if it is pending; returns its state afterwards.

        A claim left by a process that died is resolved first (see ``resolve_stuck``)."""
        claimed = self.store.claim(message_id, _owner())
        if claimed is not None:
            return self._attempt(claimed)
        current = self.store.get(message_id)
        if current.status != "sending" or not self._abandoned(current):
            return current
        resolved = self._resolve(current)
        return self.deliver(message_id) if resolved.status == "pending" else resolved

    def deliver_pending(self, limit: int = 20, now: datetime | None = None) -> list[OutboxMessage]:
        """Resolve abandoned claims, then deliver every due message (start-up, housekeeper)."""
        self.resolve_stuck()
        claimed = self.store.claim_due(limit=limit, now=now, owner=_owner())
        return [self._attempt(m) for m in claimed]

    def resolve_stuck(self) -> list[OutboxMessage]:
        """Settle every claim whose process died or whose lease ran out (see the module doc)."""
        return [self._resolve(m) for m in self.store.sending() if self._abandoned(m)]

    def _abandoned(self, msg: OutboxMessage) -> bool:
        """True when the claim's process is gone (same host) or its lease ran out."""
        host, _, pid = (msg.claimed_by or "").rpartition(":")
        here = host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid()
        if here and not _alive(int(pid)):
            return True
        claimed_at = msg.claimed_at or msg.updated_at
        return claimed_at < iso(datetime.now(UTC) - self.claim_lease)

    def _resolve(self, msg: OutboxMessage) -> OutboxMessage:
        holds = self.check.holds(msg) if self.check is not None else None
        if holds:
            log.warning("outbox %s: an interrupted send had arrived; marked sent", msg.id)
            return self.store.mark_sent(msg.id, f"{self.target} (found by Message-ID)")
        if msg.stage != "data" or holds is False:
            why = "nothing of it had gone out" if msg.stage != "data" else "the server lacks it"
            log.warning("outbox %s: an interrupted send is sent again (%s)", msg.id, why)
            reason = f"the sending process stopped and {why}; sending again (same Message-ID)"
            return self.store.mark_retry(msg.id, reason, datetime.now(UTC))
        log.error("outbox %s: an interrupted send may have arrived; a person must check", msg.id)
        return self.store.mark_unknown(msg.id, UNCONFIRMED)

    def retry(self, message_id: str) -> OutboxMessage:
        """A person's decision to send an ``unknown`` or ``failed`` message again, now."""
        self.store.requeue(message_id)
        return self.deliver(message_id)

    def get(self, message_id: str) -> OutboxMessage:
        return self.store.get(message_id)

    def _attempt(self, msg: OutboxMessage) -> OutboxMessage:
        raw = msg.raw.encode("ascii")
        try:
            if self.smtp is None:
                result = file_deliver(self.file_dir, msg.id, raw)
            else:
                result = smtp_deliver(
                    self.smtp, msg.sender, msg.recipients, raw,
                    on_data=lambda: self.store.mark_stage(msg.id, "data"),
                )  # fmt: skip
        except OSError as exc:  # the .eml folder is not writable: nothing was delivered
            result = Delivery("retry", f"{type(exc).__name__}: {exc}")
        return self._record(msg, result)

    def _record(self, msg: OutboxMessage, result: Delivery) -> OutboxMessage:
        if result.outcome == "sent":
            log.info("outbox %s delivered to %s", msg.id, result.delivered_to)
            return self.store.mark_sent(msg.id, result.delivered_to)
        if result.outcome == "unknown":
            if self.check is not None and self.check.holds(msg):
                return self.store.mark_sent(msg.id, f"{self.target} (found by Message-ID)")
            log.error("outbox %s: delivery unknown: %s", msg.id, result.detail)
            return self.store.mark_unknown(msg.id, result.detail)
        attempts = msg.attempts + 1
        if result.outcome == "failed" or attempts >= self.max_attempts:
            log.error("outbox %s failed after %d attempt(s): %s", msg.id, attempts, result.detail)
            return self.store.mark_failed(msg.id, result.detail)
        delay = min(self.backoff_cap, self.backoff_base * 2 ** (attempts - 1))
        log.warning(
            "outbox %s: attempt %d failed (%s); retry in %.0fs",
            msg.id,
            attempts,
            result.detail,
            delay,
        )
        return self.store.mark_retry(
            msg.id, result.detail, datetime.now(UTC) + timedelta(seconds=delay)
        )


UNCONFIRMED = (
    "the sending process stopped after the message data went out and the server cannot be "
    "asked whether it arrived: a person must check, then run `rpa-agent outbox --retry ID` "
    "if it did not"
)


def _owner() -> str:
    """This process, as a claim records it (``host:pid``: a fork is another owner)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
