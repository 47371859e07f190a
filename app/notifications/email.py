"""Sending email: SMTP in production and tests, a file sink for the local demo."""
from __future__ import annotations

import atexit
import os
import smtplib
import socket
import threading
import time
import uuid
from email import charset as charsets
from email import encoders
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path

from flask import current_app


class TransientError(Exception):
    """Worth trying again later (server down, 4xx)."""


class PermanentError(Exception):
    """Will not work on retry (address refused, 5xx)."""


def stable_message_id(notification_id: str) -> str:
    """`<notification-id@sender-domain>`: the same on every retry of one notification,
    so mail systems and people can recognise a duplicate delivery."""
    domain = parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "bookwell.local"
    return f"<{notification_id}@{domain}>"


class _Compat32Short(Compat32):
    """compat32, minus the cost of folding headers that need no folding.

    compat32 runs every header through `email.header.Header` when flattening, about a
    third of a message's flattening time; a short ASCII value comes out unchanged, so it is
    written as it is (tests/unit/test_email_build.py checks the bytes are the same)."""

    def _fold(self, name, value, sanitize):
        if (isinstance(value, str) and value.isascii() and len(name) + len(value) + 2 <= 76
                and "\n" not in value and "\r" not in value and "\t" not in value and "  " not in value
                and value == value.strip()):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


SHORT_HEADERS = _Compat32Short()

_UTF8_QP = charsets.Charset("utf-8")
_UTF8_QP.body_encoding = charsets.QP  # readable in raw form; safe for long lines


def build(to: str, subject: str, text: str, html: str | None, message_id: str,
          ics: bytes | None = None, ics_method: str = "REQUEST") -> Message:
    """A text (+ HTML alternative) message, with the calendar invite attached when given:
    multipart/mixed [multipart/alternative [text/plain, text/html], text/calendar].

    Built with the `email.mime` classes (compat32 policy): the `EmailMessage` API parsed
    and re-folded every header it set and flattened through the new header machinery,
    about 40% of a send's CPU time (cProfile, docs/performance-background.md). Non-ASCII headers are
    RFC 2047 encoded, bodies quoted-printable UTF-8; readers see the same message."""
    body: Message = MIMEText(text, "plain", _UTF8_QP)
    if html:
        body = MIMEMultipart("alternative", _subparts=[body, MIMEText(html, "html", _UTF8_QP)],
                             boundary=_boundary())
    if ics is not None:
        invite = MIMEBase("text", "calendar", method=ics_method, charset="utf-8")
        invite.set_payload(ics)
        encoders.encode_base64(invite)
        invite.add_header("Content-Disposition", "attachment", filename="invite.ics")
        body = MIMEMultipart("mixed", _subparts=[body, invite], boundary=_boundary())
    name, address = parseaddr(current_app.config["MAIL_FROM"])
    body["From"] = formataddr((name, address), charset="utf-8")
    body["To"] = to
    body["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
    body["Date"] = formatdate(localtime=False)
    body["Message-ID"] = stable_message_id(message_id)
    body.policy = SHORT_HEADERS  # flattening uses the outer message's policy for every part
    return body


def _boundary() -> str:
    """A MIME boundary that cannot occur in the parts: "=_" is never quoted-printable output
    (an "=" there is followed by two hex digits or a line end) nor base64. Given here, the
    generator need not compile a regular expression per boundary to search the text for it,
    as it does for one it makes up (a tenth of a message's build time)."""
    return f"=_bookwell_{uuid.uuid4().hex}"


def send(message: Message) -> str:
    """Deliver; returns the Message-ID. Raises TransientError or PermanentError."""
    backend = current_app.config["MAIL_BACKEND"]
    if backend == "file":
        folder = Path(current_app.instance_path) / "mail"
        folder.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").replace("@", "_")
        (folder / f"{name}.eml").write_bytes(bytes(message))
        return message["Message-ID"]
    try:
        smtp = _connections.get(current_app.config)
        try:
            refused = smtp.send_message(message)
        except BaseException:
            _connections.drop(polite=False)  # whatever state the conversation is in, do not reuse it
            raise
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentError(f"recipient refused: {exc.recipients}") from exc
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600:
            raise PermanentError(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        raise TransientError(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
    except (smtplib.SMTPException, OSError, socket.timeout) as exc:
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc
    if refused:
        raise PermanentError(f"recipient refused: {refused}")
    return message["Message-ID"]


# Seconds a kept connection may sit unused before it is checked with NOOP on reuse.
IDLE_CHECK_SECONDS = 2.0
# Seconds after which a kept connection is closed instead of reused (servers drop idle
# clients after a few minutes; RFC 5321 suggests 5).
IDLE_CLOSE_SECONDS = 60.0


class _Connections(threading.local):
    """One SMTP connection per thread, reused across sends (a batch of messages costs one
    connect, EHLO, STARTTLS and login, not one each: with a new connection per message
    these were about a fifth of a send). A connection made in another process (before a
    fork) or idle too long is not reused; one idle a little while must answer NOOP first."""

    def __init__(self) -> None:
        self.smtp: smtplib.SMTP | None = None
        self.key: tuple | None = None
        self.pid = 0
        self.used = 0.0

    def get(self, config) -> smtplib.SMTP:
        key = (config["SMTP_HOST"], config["SMTP_PORT"], bool(config["SMTP_STARTTLS"]), config["SMTP_USERNAME"])
        idle = time.monotonic() - self.used
        if self.smtp is not None and (self.key != key or self.pid != os.getpid() or idle > IDLE_CLOSE_SECONDS
                                      or (idle > IDLE_CHECK_SECONDS and not self._answers())):
            self.drop(polite=False)
        if self.smtp is None:
            smtp = smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=20)
            try:
                if config["SMTP_STARTTLS"]:
                    smtp.starttls()
                if config["SMTP_USERNAME"]:
                    smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
            except BaseException:
                smtp.close()
                raise
            self.smtp, self.key, self.pid = smtp, key, os.getpid()
        self.used = time.monotonic()
        return self.smtp

    def _answers(self) -> bool:
        try:
            return self.smtp.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def drop(self, polite: bool = True) -> None:
        """Close the connection (with QUIT when `polite`) and forget it."""
        smtp, self.smtp, self.key = self.smtp, None, None
        if smtp is None:
            return
        if self.pid != os.getpid():  # inherited through a fork: the socket is the parent's
            return
        try:
            smtp.quit() if polite else smtp.close()
        except (smtplib.SMTPException, OSError):
            smtp.close()


_connections = _Connections()


def close_connection() -> None:
    """Close this thread's kept SMTP connection (at exit; an idle one is otherwise checked or
    replaced on its next use, so a server dropping idle clients costs nothing)."""
    _connections.drop()


atexit.register(close_connection)
