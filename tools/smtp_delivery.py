"""Delivering outbox messages: over SMTP, or as ``.eml`` files when no server is configured.

The one rule: a message is never delivered twice and never lost. A failure before the final
dot of the message data went out (server down, refused connection, 4xx, a connection dropped
mid-DATA: a server discards an unfinished message) leaves it undelivered, so it is retried with
exponential backoff. Once the final dot has gone out, a timeout or a dropped connection means
the server may have it: the outcome is ``unknown``. That is why the SMTP dialogue below is
spelled out step by step instead of ``sendmail()``: we need to know on which side of the final
dot a failure happened, and ``on_data`` records that side durably before the dot goes out.
Each I/O step is followed by an ``io_point`` (``memory.faults``) where tests inject crashes.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from memory.faults import io_point

log = logging.getLogger(__name__)

Outcome = Literal["sent", "retry", "failed", "unknown"]


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to reach the mail server (from Settings)."""

    host: str
    port: int = 587
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: str | None = None  # never logged
    timeout: float = 20.0

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return f"SmtpConfig(host={self.host!r}, port={self.port}, security={self.security!r}, username={self.username!r})"

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"


@dataclass(frozen=True)
class Delivery:
    """What one attempt achieved."""

    outcome: Outcome
    detail: str = ""
    delivered_to: str = ""


class _Refused(Exception):
    """The server answered with an error code (before the data, or after it)."""

    def __init__(self, code: int, reply: bytes | str, step: str) -> None:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        super().__init__(f"{step}: {code} {text}".strip())
        self.code = code


def smtp_deliver(
    config: SmtpConfig,
    sender: str,
    recipients: list[str],
    raw: bytes,
    on_data: Callable[[], None] | None = None,
) -> Delivery:
    """One delivery attempt over SMTP; the outcome says what may happen next.

    ``on_data`` runs when all of the message but its final dot has gone out: the caller
    records there that, from now on, the server may hold the message.
    """
    data_sent = False
    conn: smtplib.SMTP | None = None
    try:
        conn = _connect(config)
        io_point("smtp.connect")
        _expect(conn.mail(sender), "MAIL FROM")
        for rcpt in recipients:
            _expect(conn.rcpt(rcpt), f"RCPT TO {rcpt}")
        io_point("smtp.envelope")
        code, reply = conn.docmd("DATA")
        if code != 354:
            raise _Refused(code, reply, "DATA")
        io_point("smtp.data")
        body, end = _dot_stuffed(raw)
        conn.send(body)  # without the final dot the server must discard it if we stop here
        io_point("smtp.payload")
        if on_data is not None:
            on_data()
        data_sent = True  # from here on the server may keep the message whatever happens
        conn.send(end)
        io_point("smtp.dot")
        _expect(conn.getreply(), "end of data")
        io_point("smtp.reply")
    except _Refused as exc:
        _close(conn, polite=True)
        if exc.code >= 500:
            return Delivery("failed", str(exc))
        return Delivery("retry", str(exc))
    except smtplib.SMTPAuthenticationError as exc:
        _close(conn, polite=False)
        return Delivery("failed", f"the mail server refused the login ({exc.smtp_code})")
    except (OSError, smtplib.SMTPException) as exc:
        _close(conn, polite=False)
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if data_sent:
            return Delivery("unknown", f"no answer after the message data was sent ({detail})")
        return Delivery("retry", detail)
    except BaseException:
        _close(conn, polite=False)
        raise
    _close(conn, polite=True)
    return Delivery("sent", delivered_to=config.url)


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if config.security == "ssl":
        conn: smtplib.SMTP = smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout, context=context
        )
    else:
        conn = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    try:
        conn.ehlo()
        if config.security == "starttls":
            conn.starttls(context=context)
            conn.ehlo()
        if config.username:
            conn.login(config.username, config.password or "")
    except BaseException:
        _close(conn, polite=False)
        raise
    return conn


def _expect(answer: tuple[int, bytes], step: str) -> None:
    code, reply = answer
    if not 200 <= code < 300:
        raise _Refused(code, reply, step)


def _dot_stuffed(raw: bytes) -> tuple[bytes, bytes]:
    """The DATA payload (CRLF line ends, leading dots doubled) and the final dot line."""
    data = re.sub(rb"(?:\r\n|\n|\r)", b"\r\n", raw)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data, b".\r\n"


def _close(conn: smtplib.SMTP | None, *, polite: bool) -> None:
    """QUIT when the session is healthy; otherwise just drop the socket (no second wait)."""
    if conn is None:
        return
    try:
        if polite:
            conn.quit()
        else:
            conn.close()
    except (OSError, smtplib.SMTPException) as exc:
        log.debug("closing the SMTP session failed: %s", exc)
        conn.close()


def file_deliver(folder: Path, name: str, raw: bytes) -> Delivery:
    """Write the message as ``folder/name.eml`` (atomically: the file is whole or absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.eml"
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        io_point("file.write")
        os.replace(tmp_name, target)
        io_point("file.replace")
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return Delivery("sent", delivered_to=str(target))
