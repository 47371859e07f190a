"""Notification rows: created from booking events, sent once under a lease, retried.

Exactly once: each message has a unique key (booking, event_key, channel,
recipient), so a replayed event creates nothing new. A sender first takes a
lease (status 'sending', locked_until) in its own committed transaction, then
talks to SMTP/SMS, then records 'sent'. A worker that dies mid-send leaves a
lease that runs out; the sweep then sends again. (The one window left is a
crash after the SMTP server accepted and before 'sent' committed: the
Message-ID is the notification's id, so a duplicate is recognisable.)
`send_batch` does the same for many rows over one connection: leases claimed
per chunk in one transaction, each message marked sent right after its own 250,
so the window stays one UPDATE long (docs/outbox.md, "Batches").
Transient errors are retried with exponential backoff; permanent ones, or
too many attempts, end as 'failed' with the error for admins to see.
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app import crypto, roles
from app.calendars.ics import invite
from app.database import write_transaction
from app.extensions import db
from app.models import STAFF_ROLES, Booking, BookingEvent, Notification, Provider, User, utcnow
from app.notifications import email as mail
from app.notifications import sms
from app.notifications.planner import Planned, Recipient, plan, reminders_wanted
from app.notifications.render import context, render

log = logging.getLogger(__name__)
ICS_METHOD = {"confirmed": "REQUEST", "accepted": "REQUEST", "rescheduled": "REQUEST", "cancelled": "CANCEL"}


def _booking(booking_id: uuid.UUID) -> Booking | None:
    return db.session.scalars(select(Booking).options(
        joinedload(Booking.patient), joinedload(Booking.provider), joinedload(Booking.appointment_type),
        joinedload(Booking.location)).where(Booking.id == booking_id)).first()


def patient_of(booking: Booking) -> Recipient | None:
    if booking.patient is not None:
        profile = booking.patient.patient_profile
        return Recipient("patient", booking.patient.id, booking.patient.email, profile.phone if profile else None,
                         profile.language if profile else "en", profile.notify_email if profile else True,
                         bool(profile and profile.notify_sms), profile.reminders_enabled if profile else True)
    if booking.guest_email or booking.guest_phone:
        # A guest gave us these for this booking: email when we have it, else a text.
        return Recipient("guest", None, booking.guest_email, booking.guest_phone, "en", True,
                         not booking.guest_email)
    return None


def _staff(booking: Booking, previous_provider_id: uuid.UUID | None = None
           ) -> tuple[list[Recipient], list[Recipient], list[Recipient]]:
    """The provider's accounts, the front desk, and the accounts of the provider a moved visit left."""
    users = db.session.scalars(select(User).where(User.organization_id == booking.organization_id,
                                                  User.is_enabled)).all()
    provider = [Recipient("provider", u.id, u.email, None) for u in users if u.provider_id == booking.provider_id]
    desk = [Recipient("frontdesk", u.id, u.email, None) for u in users if u.role == "frontdesk"]
    previous = [Recipient("provider", u.id, u.email, None) for u in users
                if previous_provider_id is not None and u.provider_id == previous_provider_id]
    return provider, desk, previous


def _address(planned_channel: str, person: Recipient) -> str:
    return person.email if planned_channel == "email" else person.phone


def _add(booking: Booking, event_key: str, item: Planned, values: dict, scheduled_for: datetime | None) -> bool:
    """Insert one row unless its unique key exists; True when created."""
    address = _address(item.channel, item.recipient)
    index = crypto.blind_index(f"{item.channel}:{address}")
    exists = db.session.scalar(select(Notification.id).where(
        Notification.booking_id == booking.id, Notification.event_key == event_key,
        Notification.channel == item.channel, Notification.recipient_index == index))
    if exists is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(Notification(
                organization_id=booking.organization_id, booking_id=booking.id,
                recipient_user_id=item.recipient.user_id, event_key=event_key, channel=item.channel,
                template=item.template, recipient=address, recipient_index=index, payload=values,
                scheduled_for=scheduled_for, language=item.recipient.language or "en",
            ))
    except IntegrityError:  # a concurrent creator won: same message, once
        return False
    return True


STAFF_DECIDERS = roles.CLINIC_DESK


def create_for_event(event_id: uuid.UUID) -> list[uuid.UUID]:
    """`add_for_event` in a transaction of its own; returns the booking's messages ready to send.

    The outbox calls `add_for_event` through `app.event_work.handle_event`, which also marks the
    event handled in the same transaction; this wrapper is for callers outside the outbox."""
    with write_transaction():
        event = db.session.get(BookingEvent, event_id)
        if event is None:
            return []
        return add_for_event(event)


def add_for_event(event: BookingEvent) -> list[uuid.UUID]:
    """Add, in the caller's transaction, the messages one booking event causes, and bring the
    reminders in line; returns the ids of the booking's messages that are ready to send now.

    Idempotent, and safe in any order: texts and invites describe the visit as of this event,
    reminders always follow the booking's current start and status, and each row's unique key
    (booking, event id + template, channel, recipient) lets a replay create nothing new."""
    booking = _booking(event.booking_id)
    if booking is None:
        return []
    patient = patient_of(booking)
    previous_provider = _previous_provider(event, booking)
    provider, desk, previous = _staff(booking, previous_provider.id if previous_provider else None)
    at = _event_start(event, booking)
    values = {**context(booking, {"event": event.action, **_change(event)}, start=at),
              "invite": _invite_snapshot(event, booking, at)}
    if previous_provider is not None:
        values["previous_when"] = _previous_when(event, previous_provider)
    # Staff booking a visit that needs approval accept it in the same breath
    # (app/booking/staff_booking.py): the acceptance is the news, not the request.
    decided_at_once = (booking.source == "staff" and event.actor_role in STAFF_DECIDERS
                       and (event.action, event.to_status) == ("confirmed", "pending"))
    for item in [] if decided_at_once else plan(
            event.action, event.from_status, event.to_status, patient=patient, provider_staff=provider,
            frontdesk=desk, requires_approval=booking.appointment_type.requires_approval,
            previous_provider_staff=previous, provider_changed=previous_provider is not None):
        _add(booking, f"{event.id}:{item.template}", item, values, None)
    sync_reminders(booking, patient)
    db.session.flush()
    return list(db.session.scalars(select(Notification.id).where(
        Notification.booking_id == booking.id, Notification.status == "pending",
        or_(Notification.scheduled_for.is_(None), Notification.scheduled_for <= utcnow()))))


def _previous_provider(event: BookingEvent, booking: Booking) -> Provider | None:
    """The provider a rescheduled visit left, when it moved to another one."""
    if event.action != "rescheduled":
        return None
    raw = (event.data.get("from") or {}).get("provider_id")
    moved_to = (event.data.get("to") or {}).get("provider_id") or str(booking.provider_id)
    if not raw or raw == moved_to:
        return None
    return db.session.get(Provider, uuid.UUID(raw))


def _previous_when(event: BookingEvent, provider: Provider) -> str:
    """The old time as the provider who had it reads it (their first location's zone)."""
    zone = ZoneInfo(provider.locations[0].timezone if provider.locations else provider.timezone)
    started = datetime.fromisoformat(event.data["from"]["start"]).astimezone(zone)
    return f"{started:%a %d %b %Y, %H:%M} ({zone.key})"


def _change(event: BookingEvent) -> dict:
    if event.action == "rescheduled":
        return {"previous": event.data.get("from", {}).get("start")}
    if event.action in ("declined", "cancelled"):
        # the patient hears a cancel reason only from the clinic (a guest's own reason is theirs)
        return {"reason": event.data.get("reason"), "by_clinic": event.actor_role in STAFF_ROLES}
    return {}


def _event_start(event: BookingEvent, booking: Booking) -> datetime:
    """The visit's start as of this event (events carry a snapshot; old rows may not)."""
    moved_to = event.data.get("to", {}).get("start") if event.action == "rescheduled" else None
    raw = moved_to or event.data.get("start")
    return datetime.fromisoformat(raw) if raw else booking.start_at


def _invite_snapshot(event: BookingEvent, booking: Booking, at: datetime) -> dict:
    end = event.data.get("end")
    where = booking.location
    return {
        "uid": f"{booking.id}@bookwell", "start": at.isoformat(),
        "end": end if end and event.action != "rescheduled" else
        (at + (booking.end_at - booking.start_at)).isoformat(),
        "sequence": int(event.data.get("sequence", booking.reschedule_count)),
        "summary": f"{booking.appointment_type.name} with {booking.provider.display_name}",
        "location": ", ".join(p for p in (where.name, where.address) if p), "status": event.to_status or "",
    }


def reminder_offsets() -> list[int]:
    raw = current_app.config["REMINDER_OFFSETS_MINUTES"]
    return sorted({int(part) for part in str(raw).split(",") if part.strip()}, reverse=True)


def sync_reminders(booking: Booking, patient: Recipient | None, now: datetime | None = None) -> None:
    """Pending reminders exactly for the booking as it is now: for its current start while it
    is confirmed and the patient wants them, none otherwise. Order-independent and idempotent."""
    now = now or utcnow()
    suffix = f"@{booking.start_at.isoformat()}"
    wanted = booking.status == "confirmed" and bool(reminders_wanted(patient))
    rows = list(db.session.scalars(select(Notification).where(
        Notification.booking_id == booking.id, Notification.template == "reminder")))
    for row in rows:
        current = wanted and row.event_key.endswith(suffix)
        if row.status == "pending" and not current:
            row.status = "cancelled"
        elif row.status == "cancelled" and current and row.scheduled_for and row.scheduled_for > now:
            row.status = "pending"  # moved away and back again
    if not wanted:
        return
    values = context(booking, {"event": "reminder"})
    for minutes in reminder_offsets():
        due = booking.start_at - timedelta(minutes=minutes)
        if due <= now:
            continue  # too late for this one: a reminder after the fact helps nobody
        for channel in reminders_wanted(patient):
            _add(booking, f"reminder-{minutes}{suffix}", Planned(patient, channel, "reminder"),
                 {**values, "minutes_before": minutes}, due)


def send_one(notification_id: uuid.UUID, now: datetime | None = None) -> str:
    """Send one message if it is due and nobody else holds its lease; returns its status."""
    return send_batch([notification_id], now)[notification_id]


# A batch's leases are claimed this many rows per transaction (docs/outbox.md, "Batches").
CLAIM_CHUNK = 25
# After this many seconds a batch stops (well inside RQ's 180 s job limit, with room for one
# slow send); what it did not send is handed back to the caller.
BATCH_SECONDS = 60.0


@dataclass(frozen=True)
class _Claim:
    """A row whose lease this sender holds, with what sending it needs (read under the lease)."""

    id: uuid.UUID
    attempts: int  # the lease's token: a later claimer has counted another attempt
    channel: str
    address: str
    template: str
    language: str
    values: dict


class BatchResult(dict):
    """Status per row id (as `send_one` returns it); `unclaimed`: ids left for a later job."""

    def __init__(self) -> None:
        super().__init__()
        self.unclaimed: list[uuid.UUID] = []


def send_batch(ids: list[uuid.UUID], now: datetime | None = None) -> BatchResult:
    """Send several stored messages over the kept connection, each exactly once.

    Leases are claimed for up to CLAIM_CHUNK rows in ONE transaction (the same guards as a
    single send: due, not leased by a live sender, attempts left), then each message is sent
    and marked `sent` in a transaction of its own right after the server's 250, so the
    duplicate window stays what it was for one message (a crash between the 250 and that
    UPDATE). A sender that dies mid-batch leaves leases that run out: nothing sent twice,
    the rest sent again by the sweep. Before each send the batch's remaining leases are
    renewed once half their time has gone, so no lease runs out while its row waits its
    turn. One message refused (4xx/5xx) is retried or failed by the usual policy; the
    others go on. After BATCH_SECONDS the batch stops: leases it holds but did not use are
    given back (the rows pending again, no attempt counted) and those rows, with the ones
    it never claimed, are returned in `unclaimed` for the caller to queue again.
    """
    result = BatchResult()
    lease = timedelta(seconds=current_app.config["NOTIFICATION_LEASE_SECONDS"])
    started = time.monotonic()
    remaining = list(dict.fromkeys(ids))
    while remaining:
        chunk, remaining = remaining[:CLAIM_CHUNK], remaining[CLAIM_CHUNK:]
        at = now or utcnow()
        claims = _claim(chunk, at, lease, result)
        claimed_at, lost = time.monotonic(), set()
        ahead = _Ahead(claims)
        for index, claim in enumerate(claims):
            if result and time.monotonic() - started > BATCH_SECONDS:  # out of time (after one send at least)
                rest = [c for c in claims[index:] if c.id not in lost]
                _release(rest)
                result.unclaimed = [c.id for c in rest] + remaining
                return result
            if time.monotonic() - claimed_at > lease.total_seconds() / 2:
                kept = _renew([c for c in claims[index:] if c.id not in lost], lease)
                claimed_at = time.monotonic()
                lost.update(c.id for c in claims[index:] if c.id not in kept)
            if claim.id in lost:
                result[claim.id] = "sending"  # its lease ran out and another sender holds it now
                continue
            result[claim.id] = _deliver(claim, ahead.take(index), at)
    return result


class _Ahead:
    """Builds the next claim's message on a helper thread while this one is being sent.

    Rendering and MIME building are CPU work; sending is mostly waiting for the server's
    replies, so building message n+1 during the wait for message n's 250 overlaps the two
    (one thread: a batch never builds more than one message ahead). A message whose claim
    is lost or released is simply never sent."""

    def __init__(self, claims: list[_Claim]) -> None:
        self._claims, self._app = claims, current_app._get_current_object()
        self._next: tuple[int, Future] | None = None
        if len(claims) > 1:
            self._start(0)

    def _start(self, index: int) -> None:
        self._next = (index, _builder().submit(self._build, self._claims[index]))

    def _build(self, claim: _Claim) -> _Prepared:
        with self._app.app_context():
            return _prepare(claim)

    def take(self, index: int) -> _Prepared:
        if self._next is not None and self._next[0] == index:
            prepared = self._next[1].result()
        else:
            prepared = _prepare(self._claims[index])
        self._next = None
        if index + 1 < len(self._claims):
            self._start(index + 1)
        return prepared


_builders: dict[int, ThreadPoolExecutor] = {}


def _builder() -> ThreadPoolExecutor:
    """This process's builder thread (a forked child, such as an RQ work horse, makes its own:
    threads do not survive a fork)."""
    pid = os.getpid()
    if pid not in _builders:
        _builders.clear()
        _builders[pid] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mail-build")
    return _builders[pid]


def _claim(ids: list[uuid.UUID], now: datetime, lease: timedelta, result: dict) -> list[_Claim]:
    """Take the leases of the claimable rows among `ids` in one transaction; note the others' status."""
    claims: list[_Claim] = []
    max_attempts = current_app.config["NOTIFICATION_MAX_ATTEMPTS"]
    with write_transaction():
        query = select(Notification).where(Notification.id.in_(ids)).order_by(Notification.id)
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()  # in id order: two batches sharing rows lock them alike, no deadlock
        rows = {row.id: row for row in db.session.scalars(query)}
        for notification_id in ids:
            row = rows.get(notification_id)
            if row is None:
                result[notification_id] = "missing"
                continue
            if row.scheduled_for is not None and row.scheduled_for > now and row.status == "pending":
                result[notification_id] = "not_due"
                continue
            claimable = row.status == "pending" or (row.status == "sending" and row.locked_until <= now)
            if not claimable:
                result[notification_id] = row.status
                continue
            if row.attempts >= max_attempts:
                row.status, row.locked_until = "failed", None
                row.error = (row.error or "") + " (gave up: too many attempts)"
                result[notification_id] = "failed"
                continue
            row.status, row.attempts, row.locked_until = "sending", row.attempts + 1, now + lease
            claims.append(_Claim(row.id, row.attempts, row.channel, row.recipient, row.template, row.language,
                                 dict(row.payload)))
    return claims


def _renew(claims: list[_Claim], lease: timedelta) -> set[uuid.UUID]:
    """Extend the leases still ours (status sending, our attempt) by a full lease; returns their ids."""
    kept: set[uuid.UUID] = set()
    with write_transaction():
        until = utcnow() + lease
        for claim in claims:
            done = db.session.execute(update(Notification).where(
                Notification.id == claim.id, Notification.status == "sending",
                Notification.attempts == claim.attempts).values(locked_until=until))
            if done.rowcount:
                kept.add(claim.id)
    return kept


# One Core statement, compiled once: the ORM's bulk UPDATE path cost more than the UPDATE itself.
_MARK_SENT = Notification.__table__.update().where(Notification.__table__.c.id == bindparam("row_id"))


def _release(claims: list[_Claim]) -> None:
    """Give back leases still ours, unused: the rows are pending again, the attempt not counted."""
    if not claims:
        return
    with write_transaction():
        for claim in claims:
            db.session.execute(update(Notification).where(
                Notification.id == claim.id, Notification.status == "sending",
                Notification.attempts == claim.attempts).values(
                status="pending", attempts=claim.attempts - 1, locked_until=None))


@dataclass(frozen=True)
class _Prepared:
    """A claim's message ready to send (email or SMS text), or why it could not be built."""

    email: Message | None = None
    text: str | None = None
    error: Exception | None = None


def _prepare(claim: _Claim) -> _Prepared:
    """Render and build one claimed message (no database, no network)."""
    try:
        rendered = render(claim.template, claim.channel, claim.language, claim.values)
        if claim.channel != "email":
            return _Prepared(text=rendered.text)
        values, ics, method = claim.values, None, ICS_METHOD.get(claim.template)
        snap = values.get("invite")
        if method and snap:
            ics = invite(uid=snap["uid"], start=datetime.fromisoformat(snap["start"]),
                         end=datetime.fromisoformat(snap["end"]), summary=snap["summary"],
                         location=snap["location"], status=snap["status"], method=method,
                         sequence=snap["sequence"] + (1 if method == "CANCEL" else 0),
                         organizer_name=values.get("clinic"), attendee_email=claim.address,
                         attendee_name=values.get("name"), manage_url=values.get("manage_url"))
        return _Prepared(email=mail.build(claim.address, rendered.subject, rendered.text, rendered.html,
                                          str(claim.id), ics, method or "REQUEST"))
    except Exception as exc:  # a bug (say, in a template): reported when the claim's turn comes
        return _Prepared(error=exc)


def _deliver(claim: _Claim, prepared: _Prepared, now: datetime) -> str:
    """Send one claimed message and record the outcome at once (after the 250: `sent`)."""
    notification_id, channel, address = claim.id, claim.channel, claim.address
    if prepared.error is not None:  # must not loop forever: count the attempt
        exc = prepared.error
        log.error("notification %s could not be prepared", notification_id, exc_info=exc)
        return _failed_attempt(notification_id, claim.attempts, f"{type(exc).__name__}: {exc}", now,
                               permanent=False)
    try:
        if prepared.email is not None:
            provider_id = mail.send(prepared.email)
        else:
            provider_id = sms.send(address, prepared.text, str(notification_id))
    except mail.TransientError as exc:
        return _failed_attempt(notification_id, claim.attempts, str(exc), now, permanent=False)
    except mail.PermanentError as exc:
        return _failed_attempt(notification_id, claim.attempts, str(exc), now, permanent=True)
    except Exception as exc:  # a bug (say, in a backend): count the attempt
        log.exception("notification %s could not be sent", notification_id)
        return _failed_attempt(notification_id, claim.attempts, f"{type(exc).__name__}: {exc}", now,
                               permanent=False)
    with write_transaction():  # right after the 250: the only window for a duplicate is this UPDATE
        db.session.connection().execute(_MARK_SENT, {
            "row_id": notification_id, "status": "sent", "sent_at": utcnow(), "provider_message_id": provider_id,
            "locked_until": None, "error": None})
    log.info("sent %s %s notification %s to %s", channel, claim.template, notification_id, address)
    return "sent"


def _failed_attempt(notification_id, attempts: int, error: str, now: datetime, permanent: bool) -> str:
    give_up = permanent or attempts >= current_app.config["NOTIFICATION_MAX_ATTEMPTS"]
    with write_transaction():
        row = db.session.get(Notification, notification_id)
        row.error, row.locked_until = error[:2000], None
        if give_up:
            row.status = "failed"
        else:  # exponential backoff: 30 s, 1 min, 2 min, ... capped at an hour
            row.status = "pending"
            row.scheduled_for = now + timedelta(seconds=min(3600, 30 * 2 ** (attempts - 1)))
    log.warning("notification %s attempt %d failed (%s): %s", notification_id, attempts,
                "giving up" if give_up else "will retry", error)
    return "failed" if give_up else "retrying"


def due(now: datetime | None = None, limit: int = 500) -> list[uuid.UUID]:
    """Messages that should go out now: due pending ones and sends whose lease ran out."""
    now = now or utcnow()
    return list(db.session.scalars(select(Notification.id).where(or_(
        (Notification.status == "pending") & (or_(Notification.scheduled_for.is_(None),
                                                  Notification.scheduled_for <= now)),
        (Notification.status == "sending") & (Notification.locked_until <= now),
    )).order_by(Notification.created_at).limit(limit)))
