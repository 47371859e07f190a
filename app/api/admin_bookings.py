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
from app.errors import not_found
from app.extensions import db
from app.models import Booking, Location, Provider
from app.queries import analytics
from app.queries.admin import owned

READERS = roles.CLINIC_DESK
DEFAULT_SPAN_DAYS = 30  # the summary's default range: this many days back and ahead


def _day_start(day) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


@admin_v1.get("/bookings")
@operation("Bookings, filtered and paginated", query=BookingsQuery, response=r.BookingPage, roles=READERS,
           errors=[404])
def list_bookings(query: BookingsQuery):
    _filters_owned(api_user().organization_id, query.provider_id, query.location_id)
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


def _filters_owned(org_id, provider_id, location_id) -> None:
    """A filter naming another clinic's (or no) provider or location is 404, as the row itself."""
    for model, wanted, what in ((Provider, provider_id, "provider"), (Location, location_id, "location")):
        if wanted is not None and owned(model, org_id, wanted) is None:
            raise not_found(what)


@admin_v1.get("/analytics/summary")
@operation("Utilization, conversion and no-show rate by provider and day", query=AnalyticsQuery,
           response=r.AnalyticsSummary, roles=READERS, errors=[404],
           description="Visits by their UTC date (default: 30 days back to 30 ahead, at most a year), for "
                       "the clinic or one provider or location. Utilization: minutes of booked visits "
                       "(pending, confirmed, completed, no-show) over the open minutes of the hours; "
                       "conversion: holds made in the range and confirmations made in it; no-show rate: "
                       "no-shows over completed + no-shows. The same figures per provider and per day.")
def analytics_summary(query: AnalyticsQuery):
    org_id = api_user().organization_id
    _filters_owned(org_id, query.provider_id, query.location_id)
    span = timedelta(days=DEFAULT_SPAN_DAYS)
    first = query.from_ or (query.to - 2 * span if query.to else datetime.now(timezone.utc).date() - span)
    last = query.to or first + 2 * span
    return analytics.clinic_summary(org_id, first, last, query.provider_id, query.location_id)
