"""Time off as the provider sees it: their requests and decisions, withdrawing a pending
one, the decision email, and the visits inside approved time off (to move them).

The decision email is a Notification row written in the decision's own transaction
(no booking: `booking_id` is empty) and sent like every message (app/notifications/
dispatch.py: lease, retries, the every-minute sweep), texts in
templates/notifications/<language>/time_off_decided.*.
"""
from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app import crypto
from app.database import after_commit, write_transaction
from app.errors import BookwellError, not_found
from app.extensions import db
from app.models import OCCUPYING_STATUSES, Booking, Notification, Organization, Provider, TimeOff, User

TEMPLATE = "time_off_decided"


def for_provider(organization_id: uuid.UUID, provider_id: uuid.UUID, limit: int = 100) -> list[TimeOff]:
    """The provider's requests, pending first, then newest first."""
    return list(db.session.scalars(select(TimeOff).where(
        TimeOff.organization_id == organization_id, TimeOff.provider_id == provider_id)
        .order_by(TimeOff.status != "pending", TimeOff.start_at.desc()).limit(limit)))


def visits_inside(item: TimeOff) -> list[Booking]:
    """Live visits of the provider that overlap this time off, soonest first."""
    return list(db.session.scalars(select(Booking).where(
        Booking.organization_id == item.organization_id, Booking.provider_id == item.provider_id,
        Booking.status.in_(OCCUPYING_STATUSES), Booking.status != "held",
        Booking.start_at < item.end_at, Booking.end_at > item.start_at).order_by(Booking.start_at)))


def withdraw(organization_id: uuid.UUID, provider_id: uuid.UUID, time_off_id: uuid.UUID) -> None:
    """A pending request the provider no longer needs disappears (it never blocked anything).
    A decided one stays: 409."""
    with write_transaction():
        item = db.session.get(TimeOff, time_off_id)
        if item is None or item.organization_id != organization_id or item.provider_id != provider_id:
            raise not_found("time off")
        if item.status != "pending":
            raise BookwellError(409, "INVALID_TRANSITION", f"This request is already {item.status}; "
                                "ask a manager to change it.")
        db.session.delete(item)


def local_days(item: TimeOff, zone: str) -> tuple[str, str]:
    """First and last local day, for people: time off ends at midnight after its last day."""
    tz = ZoneInfo(zone)
    first = item.start_at.astimezone(tz)
    last = (item.end_at - timedelta(microseconds=1)).astimezone(tz)
    return first.strftime("%a %d %b %Y"), last.strftime("%a %d %b %Y")


def queue_decision_email(item: TimeOff) -> list[uuid.UUID]:
    """Inside the deciding transaction: one email to each sign-in of the provider."""
    provider = db.session.get(Provider, item.provider_id)
    organization = db.session.get(Organization, item.organization_id)
    first, last = local_days(item, provider.timezone)
    values = {"status": item.status, "approved": item.status == "approved", "name": provider.display_name,
              "first_day": first, "last_day": last, "note": item.reason or "", "clinic": organization.name,
              "visits": len(visits_inside(item)) if item.status == "approved" else 0}
    ids = []
    for user in db.session.scalars(select(User).where(User.organization_id == item.organization_id,
                                                      User.provider_id == item.provider_id, User.is_enabled)):
        row = Notification(organization_id=item.organization_id, booking_id=None, recipient_user_id=user.id,
                           event_key=f"time-off:{item.id}:{item.status}", channel="email", template=TEMPLATE,
                           recipient=user.email, recipient_index=crypto.blind_index(f"email:{user.email}"),
                           payload=values)
        db.session.add(row)
        db.session.flush()
        ids.append(row.id)
    if ids:
        after_commit(f"send-time-off-{item.id}", lambda: _send_soon(ids))
    return ids


def _send_soon(ids: list[uuid.UUID]) -> None:
    """Queue the sends now; if Redis is down the every-minute sweep sends them."""
    import logging

    import redis

    from app.redis_client import get_redis
    from workers.queues import DEFAULT, queue

    try:
        q = queue(DEFAULT, get_redis())
        for notification_id in ids:
            q.enqueue("workers.jobs.send_notification", str(notification_id), result_ttl=3600)
    except (redis.RedisError, OSError) as exc:
        logging.getLogger(__name__).warning("time-off email queued for the sweep (%s)", exc)


def decided_at_local(item: TimeOff, zone: str) -> str:
    return item.decided_at.astimezone(ZoneInfo(zone)).strftime("%d %b %Y %H:%M") if item.decided_at else ""


