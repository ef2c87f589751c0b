"""Asking where mail went whether it holds a message, by its Message-ID.

When a sending process died after the final dot of a message went out and before the server's
answer was recorded, only the other side knows whether the message arrived. ``FolderCheck``
answers for the ``.eml`` folder (the file is written atomically: whole or absent). SMTP itself
cannot be asked, but where the server files what it sends into a mailbox (a Sent folder, a
journal mailbox) ``ImapCheck`` searches that mailbox for the Message-ID header
(``RPA_SMTP_CHECK_URL``, e.g. ``imaps://rpa-bot@mail.example/Sent``). ``holds`` answers
True (it is there), False (it is not) or None (cannot tell: then a person decides).
"""

from __future__ import annotations

import imaplib
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from memory.errors import ConfigError
from memory.outbox import OutboxMessage

log = logging.getLogger(__name__)


class DeliveryCheck(Protocol):
    """Whether the place mail goes to holds a message: True, False, or None (cannot tell)."""

    def holds(self, msg: OutboxMessage) -> bool | None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class FolderCheck:
    """The ``.eml`` folder: ``file_deliver`` names each file after its outbox id."""

    folder: Path

    def holds(self, msg: OutboxMessage) -> bool | None:
        return (self.folder / f"{msg.id}.eml").is_file()

    def describe(self) -> str:
        return str(self.folder)


@dataclass(frozen=True)
class ImapCheck:
    """A mailbox the mail server files sent messages into, searched by Message-ID."""

    host: str
    port: int
    mailbox: str
    username: str
    password: str  # never logged
    use_ssl: bool = True
    timeout: float = 20.0

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return f"ImapCheck({self.describe()!r})"

    def describe(self) -> str:
        scheme = "imaps" if self.use_ssl else "imap"
        return f"{scheme}://{self.username}@{self.host}:{self.port}/{self.mailbox}"

    def holds(self, msg: OutboxMessage) -> bool | None:
        try:
            with self._connect() as imap:
                imap.login(self.username, self.password)
                status, _ = imap.select(_quoted(self.mailbox), readonly=True)
                if status != "OK":
                    log.warning("delivery check: cannot open mailbox %r", self.mailbox)
                    return None
                status, found = imap.search(None, "HEADER", "Message-ID", _quoted(msg.message_id))
                if status != "OK":
                    return None
                return bool(found and found[0].split())
        except (OSError, imaplib.IMAP4.error) as exc:
            log.warning("delivery check via %s failed: %s", self.describe(), exc)
            return None

    def _connect(self) -> imaplib.IMAP4:
        if self.use_ssl:
            context = ssl.create_default_context()
            return imaplib.IMAP4_SSL(
                self.host, self.port, ssl_context=context, timeout=self.timeout
            )
        return imaplib.IMAP4(self.host, self.port, timeout=self.timeout)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap_check(url: str, password: str | None, timeout: float = 20.0) -> ImapCheck:
    """``imap[s]://user@host[:port][/mailbox]`` as an ``ImapCheck``; ConfigError when malformed."""
    parts = urlparse(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
        raise ConfigError(f"RPA_SMTP_CHECK_URL {url!r} must look like imaps://user@host/Mailbox")
    use_ssl = parts.scheme == "imaps"
    return ImapCheck(
        host=parts.hostname,
        port=parts.port or (993 if use_ssl else 143),
        mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
        username=unquote(parts.username),
        password=password or "",
        use_ssl=use_ssl,
        timeout=timeout,
    )
