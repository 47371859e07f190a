"""Admin API: bookings across the organization, and a summary for analytics."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from flask import jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.api import admin_v1
from app.api.auth import api_user, require_roles
from app.api.booking_routes import _fresh
from app.api.idempotency import idempotent
from app.api.params import date_arg, json_body, uuid_arg
from app.api.schemas import BookingPatch, booking_out
from app.booking import lifecycle
from app.booking.actors import Actor
from app.errors import validation_error
from app.extensions import db
from app.models import BOOKING_STATUSES, Booking, BookingEvent

READERS = ("admin", "manager", "frontdesk")
PAGE_MAX = 200


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise validation_error({name: f"Use a whole number from {low} to {high}."})
    return int(raw)


def _day_start(day) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


@admin_v1.get("/bookings")
@require_roles(*READERS)
def list_bookings():
    query = select(Booking).options(joinedload(Booking.location)).where(
        Booking.organization_id == api_user().organization_id)
    status = request.args.get("status")
    if status:
        if status not in BOOKING_STATUSES:
            raise validation_error({"status": f"One of {', '.join(BOOKING_STATUSES)}."})
        query = query.where(Booking.status == status)
    for name, column in (("provider_id", Booking.provider_id), ("location_id", Booking.location_id)):
        value = uuid_arg(name)
        if value:
            query = query.where(column == value)
    first, last = date_arg("from"), date_arg("to")
    if first:
        query = query.where(Booking.start_at >= _day_start(first))
    if last:
        query = query.where(Booking.start_at < _day_start(last + timedelta(days=1)))
    page, per_page = _int_arg("page", 1, 1, 100_000), _int_arg("per_page", 50, 1, PAGE_MAX)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(Booking.start_at, Booking.id)
                              .offset((page - 1) * per_page).limit(per_page)).unique()
    return jsonify({"bookings": [booking_out(b) for b in rows], "page": page, "per_page": per_page, "total": total})


@admin_v1.patch("/bookings/<uuid:booking_id>")
@require_roles(*READERS)
@idempotent
def patch_booking(booking_id):
    body = BookingPatch.model_validate(json_body())
    who = Actor.of(api_user())
    if body.action == "cancel":
        booking = lifecycle.cancel(who, booking_id, body.reason)
    elif body.action == "reschedule":
        if (body.slot_id is None) == (body.start is None):
            raise validation_error({"slot_id": "Give exactly one of slot_id or start."})
        booking = lifecycle.reschedule(who, booking_id, slot_id=body.slot_id, start=body.start)
    elif body.action == "complete":
        booking = lifecycle.complete(who, booking_id)
    else:
        booking = lifecycle.no_show(who, booking_id)
    return jsonify(booking_out(_fresh(booking.id)))


@admin_v1.get("/analytics/summary")
@require_roles("admin", "manager")
def analytics_summary():
    org_id = api_user().organization_id
    first = date_arg("from") or (datetime.now(timezone.utc).date() - timedelta(days=30))
    last = date_arg("to") or (datetime.now(timezone.utc).date() + timedelta(days=30))
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
    return jsonify({
        "from": first.isoformat(), "to": last.isoformat(), "by_status": by_status,
        "by_provider": by_provider, "by_day": by_day,
        "conversion": {"holds": holds, "confirmed": confirms, "rate": round(confirms / holds, 4) if holds else None},
        "no_show_rate": round(missed / (attended + missed), 4) if attended + missed else None,
    })
