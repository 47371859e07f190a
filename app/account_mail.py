"""Account emails: sign-up confirmation, "you already have an account", password reset,
invitation, new-address confirmation.

Requests only queue a job (`workers.jobs.send_account_email`) with ids and the
address encrypted; the job finds the account, makes the one-time link (so no link
is ever stored) and sends. A reset for an unknown address therefore costs the
request exactly what a known one costs. Transient SMTP failures are retried by RQ.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from app import account_tokens, crypto
from app.extensions import db
from app.links import external_url
from app.models import Organization, User
from app.notifications import email as mail
from app.tenancy import site_prefix

log = logging.getLogger(__name__)
PURPOSES = ("verify", "known", "reset", "invite", "email")
# purpose -> (token purpose, page endpoint the link opens)
LINKS = {"verify": ("verify", "auth.confirm_sign_up"), "known": ("reset", "auth.reset_password"),
         "reset": ("reset", "auth.reset_password"), "invite": ("invite", "auth.reset_password"),
         "email": ("email", "auth.confirm_email")}
RETRY_INTERVALS = [10, 30, 60, 300, 900]


@dataclass(frozen=True)
class Job:
    purpose: str
    user_id: str | None
    organization_id: str | None
    email: str | None  # encrypted
    new_email: str | None  # encrypted

    def args(self) -> tuple:
        return (self.purpose, self.user_id, self.organization_id, self.email, self.new_email)


def queue(purpose: str, *, user_id: uuid.UUID | None = None, organization_id: uuid.UUID | None = None,
          email: str | None = None, new_email: str | None = None) -> None:
    """Queue one account email; never raises (a lost email can be asked for again)."""
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    job = Job(purpose, str(user_id) if user_id else None, str(organization_id) if organization_id else None,
              crypto.encrypt(email) if email else None, crypto.encrypt(new_email) if new_email else None)
    try:
        from rq import Retry

        from app.redis_client import get_redis
        from workers.queues import HIGH, queue as rq_queue

        rq_queue(HIGH, get_redis()).enqueue("workers.jobs.send_account_email", *job.args(), result_ttl=600,
                                            retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS))
    except Exception:  # Redis down: the person asks again; the page must not fail or reveal anything
        log.exception("could not queue a %s account email", purpose)


def recipients(job: Job) -> list[User]:
    if job.user_id:
        user = db.session.get(User, uuid.UUID(job.user_id))
        return [user] if user is not None and user.is_enabled else []
    if not job.email:
        return []
    query = select(User).where(User.email_index == crypto.email_index(crypto.decrypt(job.email)), User.is_enabled)
    if job.organization_id:
        query = query.where(User.organization_id == uuid.UUID(job.organization_id))
    return list(db.session.scalars(query))


def send(job: Job) -> int:
    """Send the job's email(s); the number sent. Raises mail.TransientError to be retried."""
    sent = 0
    for user in recipients(job):
        new_email = crypto.decrypt(job.new_email) if job.new_email else None
        token_purpose, endpoint = LINKS[job.purpose]
        link = external_url(endpoint, site_prefix=site_prefix(user.organization_id),
                            token=account_tokens.make(user, token_purpose, new_email))
        org = db.session.get(Organization, user.organization_id)
        values = {"name": user.full_name, "clinic": org.name, "link": link, "purpose": job.purpose,
                  "hours": int(account_tokens.MAX_AGE[token_purpose].total_seconds() // 3600),
                  "new_email": new_email, "role": user.role}
        env = current_app.jinja_env  # plain templates: no request, no page context
        subject, text, html = (env.get_template(f"account_mail/{job.purpose}.{part}").render(**values).strip()
                               for part in ("subject", "txt", "html"))
        to = new_email if job.purpose == "email" else user.email
        message = mail.build(to, subject, text, html, f"account-{job.purpose}-{uuid.uuid4().hex}")
        try:
            mail.send(message)
        except mail.PermanentError:
            log.warning("account %s email to user %s refused permanently", job.purpose, user.id)
            continue
        log.info("sent account %s email to user %s", job.purpose, user.id)
        sent += 1
    return sent
