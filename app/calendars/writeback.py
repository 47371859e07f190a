"""Write-back of bookings to a destination calendar, exactly once.

Planning happens in the booking's own transaction: a session hook sees each
new BookingEvent and sets the desired state of the booking's link rows
(booking x connection with a destination), raising `desired_version`. A
worker later applies the desired state with idempotent requests: a
deterministic UID and resource name, `PUT` with `If-None-Match: *` for a new
event and `If-Match` for a known one (a 412 re-reads the ETag and retries),
`DELETE` treating 404/410 as done. A crash between the request and recording
it only repeats an idempotent request, so no event is ever written twice.
"""
from __future__ import annotations

import logging
import uuid

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.calendars.ports import CalendarAuthError, CalendarSyncError, WrittenEvent
from app.database import write_transaction
from app.extensions import db
from app.models import Booking, BookingEvent, CalendarConnection, CalendarEventLink, CalendarSource, new_id

log = logging.getLogger(__name__)
PRESENT_STATUSES = ("pending", "confirmed")
_KEY = "bookwell_calendar_bookings"
_CREATED = "bookwell_calendar_bookings_created"


def external_uid(booking_id: uuid.UUID) -> str:
    """The deterministic UID of the event written for a booking (recognised by the busy rules)."""
    return f"bookwell-{booking_id}@bookwell"


def desired_state(booking: Booking) -> str:
    return "present" if booking.status in PRESENT_STATUSES else "absent"


def _destinations(provider_id: uuid.UUID) -> list[CalendarConnection]:
    return list(db.session.scalars(
        select(CalendarConnection).join(CalendarSource, CalendarSource.connection_id == CalendarConnection.id)
        .where(CalendarConnection.provider_id == provider_id, CalendarConnection.push_bookings.is_(True),
               CalendarSource.is_destination.is_(True)).distinct()))


def plan_booking(booking: Booking, connections: list[CalendarConnection] | None = None) -> list[uuid.UUID]:
    """Bring the booking's links up to date (in the caller's transaction); returns connections to apply."""
    touched = []
    state = desired_state(booking)
    for connection in connections if connections is not None else _destinations(booking.provider_id):
        link = db.session.scalars(select(CalendarEventLink).where(
            CalendarEventLink.booking_id == booking.id, CalendarEventLink.connection_id == connection.id)).first()
        if link is None:
            if state == "absent":
                continue
            link = CalendarEventLink(id=new_id(), organization_id=booking.organization_id, booking_id=booking.id,
                                     connection_id=connection.id, external_uid=external_uid(booking.id),
                                     desired_state=state, desired_version=1, applied_version=0,
                                     sequence=booking.reschedule_count, attempts=0)
            db.session.add(link)
        else:
            link.desired_state = state
            link.desired_version += 1
            link.flagged_at, link.flag_reason = None, None  # staff acted on the booking: Bookwell's time stands
            link.sequence = max(link.sequence, booking.reschedule_count)
        touched.append(connection.id)
    return touched


def plan_existing_bookings(connection: CalendarConnection) -> int:
    """A destination was just chosen: upcoming live bookings of the provider go there too."""
    from app.models import utcnow

    db.session.flush()
    bookings = db.session.scalars(select(Booking).where(
        Booking.provider_id == connection.provider_id, Booking.status.in_(PRESENT_STATUSES),
        Booking.end_at > utcnow()))
    return sum(len(plan_booking(b, [connection])) for b in bookings)


@sa_event.listens_for(Session, "after_flush")
def _notice_events(session: Session, _context) -> None:
    for obj in session.new:
        if isinstance(obj, BookingEvent):
            session.info.setdefault(_KEY, set()).add(obj.booking_id)
            if obj.from_status is None:  # the booking was created in this transaction
                session.info.setdefault(_CREATED, set()).add(obj.booking_id)


@sa_event.listens_for(Session, "before_commit")
def _plan_noticed(session: Session) -> None:
    booking_ids = session.info.pop(_KEY, None)
    created = session.info.pop(_CREATED, set())
    if not booking_ids:
        return
    touched: set[uuid.UUID] = set()
    for booking_id in sorted(booking_ids, key=str):
        booking = session.get(Booking, booking_id)
        # A booking born in this transaction and not (yet) on a calendar, such as a hold, has
        # no links to bring up to date: no need to look its destinations up (inside the lock).
        if booking is not None and not (booking_id in created and desired_state(booking) == "absent"):
            touched.update(plan_booking(booking))
    if touched:
        session.flush()
        session.info.setdefault("bookwell_calendar_apply", set()).update(touched)
        from app.database import after_commit

        after_commit("calendar-writeback", _enqueue_touched)


def _enqueue_touched() -> None:
    from app.calendars.jobs import enqueue_writeback_for_connection

    for connection_id in db.session().info.pop("bookwell_calendar_apply", set()):
        try:
            enqueue_writeback_for_connection(connection_id)
        except Exception:  # noqa: BLE001 - Redis down: the every-minute sweep queues it
            log.warning("calendar write-back not queued now; the sweep will")


@sa_event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_KEY, None)
    session.info.pop(_CREATED, None)
    session.info.pop("bookwell_calendar_apply", None)


def written_event(booking: Booking, sequence: int) -> WrittenEvent:
    """Minimal personal data: the visit type and the place, no patient, no health details."""
    where = booking.location
    return WrittenEvent(uid=external_uid(booking.id), start=booking.start_at, end=booking.end_at,
                        summary=f"{booking.appointment_type.name} (Bookwell)",
                        status="CONFIRMED" if booking.status == "confirmed" else "TENTATIVE",
                        sequence=sequence, location=where.name if where is not None else "")


def apply_connection(connection_id: uuid.UUID, owner: str | None = None) -> str:
    """Apply every link of the connection whose applied state lags its desired state."""
    from app.calendars.sync import build_config, claim, port_for, release, worker_id

    owner = owner or worker_id()
    if not claim(connection_id, owner):
        from app.calendars.jobs import enqueue_writeback_for_connection  # noqa: F401 - the sweep retries

        return "another worker holds the connection"
    applied = failed = 0
    try:
        with write_transaction():
            connection = db.session.get(CalendarConnection, connection_id)
            if connection is None:
                return "gone"
            config = build_config(connection, full=False)
            destination = next((s for s in config.sources if s.is_destination), None)
            links = [(link.id, link.desired_version) for link in db.session.scalars(
                select(CalendarEventLink).where(CalendarEventLink.connection_id == connection_id,
                                                CalendarEventLink.applied_version < CalendarEventLink.desired_version)
                .order_by(CalendarEventLink.id))]
        if destination is None or connection.status == "reauth_required":
            return "no destination"
        port = port_for(config.kind)
        for link_id, version in links:
            try:
                _apply_one(port, config, destination, link_id, version)
                applied += 1
            except CalendarAuthError as exc:
                _link_failed(link_id, str(exc))
                from app.calendars.sync import _failed

                _failed(connection_id, str(exc), auth=True)
                return "reauth required"
            except CalendarSyncError as exc:
                _link_failed(link_id, str(exc))
                failed += 1
    finally:
        release(connection_id, owner)
    return f"{applied} applied, {failed} failed"


def _apply_one(port, config, destination, link_id: uuid.UUID, version: int) -> None:
    with write_transaction():
        link = db.session.get(CalendarEventLink, link_id)
        booking = db.session.get(Booking, link.booking_id)
        state = link.desired_state
        href, etag = link.resource_href, link.etag
        event = written_event(booking, link.sequence) if state == "present" else None
    if state == "present":
        result = port.write_event(config, destination, event, href, etag)
        href, etag = result.href, result.etag
    elif href is not None:
        port.delete_event(config, href, etag)
        etag = None
    with write_transaction():
        link = db.session.get(CalendarEventLink, link_id)
        link.resource_href, link.etag = href, etag
        link.applied_state = state
        link.applied_version = max(link.applied_version, version)
        link.last_error = None


def _link_failed(link_id: uuid.UUID, message: str) -> None:
    with write_transaction():
        link = db.session.get(CalendarEventLink, link_id)
        if link is not None:
            link.attempts += 1
            link.last_error = message[:1000]


def flag_external_change(provider_id: uuid.UUID, uid: str, reason: str) -> bool:
    """An event Bookwell wrote was moved or deleted elsewhere: flag the booking for staff (no reschedule)."""
    from app.models import utcnow

    link = db.session.scalars(
        select(CalendarEventLink).join(CalendarConnection, CalendarConnection.id == CalendarEventLink.connection_id)
        .where(CalendarConnection.provider_id == provider_id, CalendarEventLink.external_uid == uid)).first()
    if link is None:
        return False
    if link.flagged_at is None or link.flag_reason != reason:
        link.flagged_at, link.flag_reason = utcnow(), reason[:200]
    return True
