"""Admin API: bookings across the organization, and a summary for analytics."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app import roles
from app.api import admin_v1
from app.api import responses as r
from app.api.auth import api_user
from app.api.booking_routes import _fresh
from app.api.contract import operation
from app.api.schemas import AnalyticsQuery, BookingPatch, BookingsQuery, booking_out
from app.booking import lifecycle
from app.booking.actors import Actor
from app.extensions import db
from app.models import Booking, BookingEvent

READERS = roles.CLINIC_DESK


def _day_start(day) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


@admin_v1.get("/bookings")
@operation("Bookings, filtered and paginated", query=BookingsQuery, response=r.BookingPage, roles=READERS)
def list_bookings(query: BookingsQuery):
    statement = select(Booking).options(joinedload(Booking.location)).where(
        Booking.organization_id == api_user().organization_id)
    if query.status:
        statement = statement.where(Booking.status == query.status)
    if query.provider_id:
        statement = statement.where(Booking.provider_id == query.provider_id)
    if query.location_id:
        statement = statement.where(Booking.location_id == query.location_id)
    if query.from_:
        statement = statement.where(Booking.start_at >= _day_start(query.from_))
    if query.to:
        statement = statement.where(Booking.start_at < _day_start(query.to + timedelta(days=1)))
    total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = db.session.scalars(statement.order_by(Booking.start_at, Booking.id)
                              .offset((query.page - 1) * query.per_page).limit(query.per_page)).unique()
    return {"bookings": [booking_out(b) for b in rows], "page": query.page, "per_page": query.per_page,
            "total": total}


@admin_v1.patch("/bookings/<uuid:booking_id>")
@operation("Cancel, reschedule, complete or mark a no-show", body=BookingPatch, response=r.BookingOut,
           roles=READERS, errors=[403, 409])
def patch_booking(booking_id, body: BookingPatch):
    who = Actor.of(api_user())
    if body.action == "cancel":
        booking = lifecycle.cancel(who, booking_id, body.reason)
    elif body.action == "reschedule":
        booking = lifecycle.reschedule(who, booking_id, slot_id=body.slot_id, start=body.start)
    elif body.action == "complete":
        booking = lifecycle.complete(who, booking_id)
    else:
        booking = lifecycle.no_show(who, booking_id)
    return booking_out(_fresh(booking.id))


@admin_v1.get("/analytics/summary")
@operation("Utilization, conversion and no-show rate by provider and day", query=AnalyticsQuery,
           response=r.AnalyticsSummary, roles=roles.SETUP)
def analytics_summary(query: AnalyticsQuery):
    org_id = api_user().organization_id
    first = query.from_ or (datetime.now(timezone.utc).date() - timedelta(days=30))
    last = query.to or (datetime.now(timezone.utc).date() + timedelta(days=30))
    start, end = _day_start(first), _day_start(last + timedelta(days=1))
    rows = db.session.execute(
        select(Booking.provider_id, func.date(Booking.start_at), Booking.status, func.count())
        .where(Booking.organization_id == org_id, Booking.start_at >= start, Booking.start_at < end)
        .group_by(Booking.provider_id, func.date(Booking.start_at), Booking.status)
    ).all()
    by_status: dict[str, int] = {}
    by_provider: dict[str, dict[str, int]] = {}
    by_day: dict[str, dict[str, int]] = {}
    for provider_id, day, status, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        by_provider.setdefault(str(provider_id), {}).setdefault(status, 0)
        by_provider[str(provider_id)][status] += count
        by_day.setdefault(str(day), {}).setdefault(status, 0)
        by_day[str(day)][status] += count
    holds = db.session.scalar(select(func.count()).select_from(BookingEvent).where(
        BookingEvent.organization_id == org_id, BookingEvent.action == "held",
        BookingEvent.created_at >= start, BookingEvent.created_at < end))
    confirms = db.session.scalar(select(func.count()).select_from(BookingEvent).where(
        BookingEvent.organization_id == org_id, BookingEvent.action == "confirmed",
        BookingEvent.created_at >= start, BookingEvent.created_at < end))
    attended = by_status.get("completed", 0)
    missed = by_status.get("no_show", 0)
    return {
        "from": first.isoformat(), "to": last.isoformat(), "by_status": by_status,
        "by_provider": by_provider, "by_day": by_day,
        "conversion": {"holds": holds, "confirmed": confirms, "rate": round(confirms / holds, 4) if holds else None},
        "no_show_rate": round(missed / (attended + missed), 4) if attended + missed else None,
    }
