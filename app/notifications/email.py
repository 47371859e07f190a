"""Sending email: SMTP in production and tests, a file sink for the local demo."""
from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
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


def build(to: str, subject: str, text: str, html: str | None, message_id: str,
          ics: bytes | None = None, ics_method: str = "REQUEST") -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = stable_message_id(message_id)
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    if ics is not None:
        message.add_attachment(ics, maintype="text", subtype="calendar", filename="invite.ics",
                               params={"method": ics_method})
    return message


def send(message: EmailMessage) -> str:
    """Deliver; returns the Message-ID. Raises TransientError or PermanentError."""
    backend = current_app.config["MAIL_BACKEND"]
    if backend == "file":
        folder = Path(current_app.instance_path) / "mail"
        folder.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").replace("@", "_")
        (folder / f"{name}.eml").write_bytes(bytes(message))
        return message["Message-ID"]
    config = current_app.config
    try:
        with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=20) as smtp:
            if config["SMTP_STARTTLS"]:
                smtp.starttls()
            if config["SMTP_USERNAME"]:
                smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
            refused = smtp.send_message(message)
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
