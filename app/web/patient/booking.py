"""Finding a time and booking it: finder, live slot list, hold, confirm, result, .ics."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from app.accounts import valid_timezone
from app.api.exposure_view import sample_day, viewer_key
from app.availability import read_cache, reads
from app.availability.cache import versions as slot_versions
from app.booking import lifecycle
from app.browser_session import browser_session_id
from app.booking.actors import Actor
from app.booking.hold import Contact, hold
from app.calendars.ics import booking_calendar
from app.errors import BookwellError
from app.extensions import db
from app.models import AppointmentType, Booking, Location, Provider, utcnow
from app.queries.finder_days import days_with_hours
from app.tenancy import addressed_organization, portal_organization, portal_selector
from app.web.access import safe_local_path
from app.web.dates import parse_day
from app.web.once import new_token, run_once
from app.web.patient import bp
from app.web.patient.forms import ConfirmForm
from app.web.patient.manage_links import manage_token, manage_url, verify_manage_token

STRIP_DAYS = 14


def _org():
    org = portal_organization()
    if org is None:
        abort(404)
    return org


def patient_timezone() -> str:
    """The zone times are shown in: ?tz=, else the profile (patients), else the browser's (cookie)."""
    return visitor_timezone() or "UTC"


def visitor_timezone() -> str | None:
    """The visitor's own zone when known (?tz=, a patient's profile, the browser's cookie), else None."""
    from urllib.parse import unquote

    chosen = request.args.get("tz") or unquote(request.cookies.get("bw_tz", ""))
    if current_user.is_authenticated and current_user.patient_profile is not None and not request.args.get("tz"):
        chosen = current_user.patient_profile.timezone
    return chosen if valid_timezone(chosen) else None


def _actor() -> Actor:
    org = _org()
    if current_user.is_authenticated:
        return Actor.of(current_user, browser_session_id())
    return Actor.guest(org.id, browser_session_id())


def _choices(org_id):
    locations = list(db.session.scalars(select(Location).where(Location.organization_id == org_id,
                                                               Location.is_active).order_by(Location.name)))
    types = list(db.session.scalars(select(AppointmentType).where(AppointmentType.organization_id == org_id,
                                                                  AppointmentType.is_active)
                                    .order_by(AppointmentType.name)))
    return locations, types


def _uuid(name: str):
    try:
        return uuid.UUID(request.args.get(name, ""))
    except ValueError:
        return None


def _search():
    """The finder's current choice, validated against the organization. A clinician who does
    not offer the visit at the location is dropped (and named, so the page can say so)."""
    org = _org()
    locations, types = _choices(org.id)
    kind = next((t for t in types if t.id == _uuid("appointment_type_id")), types[0] if types else None)
    location = next((loc for loc in locations if loc.id == _uuid("location_id")), None)
    providers = [p for p in (kind.providers if kind else []) if p.is_active]
    if location is not None:
        providers = [p for p in providers if location in p.locations]
    provider = next((p for p in providers if p.id == _uuid("provider_id")), None)
    asked = _uuid("provider_id")
    dropped = db.session.get(Provider, asked) if asked and provider is None else None
    dropped = dropped if dropped is not None and dropped.organization_id == org.id else None
    try:
        day = parse_day(request.args.get("date", ""))
    except ValueError:
        day = None
    return org, locations, types, kind, location, providers, provider, day, dropped


def _strip_window(kind: AppointmentType | None, today: date, day: date | None) -> tuple[date, date, date]:
    """The page of the date strip holding `day`: (first, last) shown, and the last bookable day
    (the visit type's maximum days ahead), so the strip can step on until then."""
    limit = today + timedelta(days=min(kind.max_future_days if kind else STRIP_DAYS, 366))
    offset = ((day - today).days // STRIP_DAYS * STRIP_DAYS) if day else 0
    first = today + timedelta(days=max(0, offset))
    return first, min(first + timedelta(days=STRIP_DAYS - 1), limit), limit


def _results_context():
    org, locations, types, kind, location, providers, provider, day, dropped = _search()
    tz_name = patient_timezone()
    tz = ZoneInfo(tz_name)
    chosen = [provider] if provider else providers
    today = utcnow().astimezone(tz).date()
    # the strip starts today: a cached answer (read_cache) holds until the local midnight
    read_cache.note_valid_until(datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=tz))
    if day is not None and not today <= day <= _strip_window(kind, today, day)[2]:
        day = None
    first, last, limit = _strip_window(kind, today, day)
    strip, open_days = [], set()
    if kind is not None and chosen:
        counts = reads.date_counts(kind, chosen, first, last, tz, location.id if location else None)
        strip = [{"date": date.fromisoformat(c["date"]), "available": c["available"]} for c in counts]
        open_days = days_with_hours(org.id, chosen, location.id if location else None, first, last, tz)
    if day is None:
        day = next((d["date"] for d in strip if d["available"]), first)
    show_all = request.args.get("all") == "1" or not org.slot_exposure_enabled
    slots, total, more = [], 0, False
    if kind is not None and chosen:
        found = reads.open_slots(kind, chosen, day, day, tz, location.id if location else None)
        if show_all:
            slots, total = found, len(found)
        else:
            scope, key = ("provider", str(provider.id)) if provider else ("location", "all")
            slots, total, more = sample_day(found, day, scope, key, str(kind.id), tz)
    names = {str(p.id): p for p in providers}
    zones = {str(loc.id): loc for loc in locations}
    return dict(locations=locations, types=types, kind=kind, location=location, providers=providers,
                provider=provider, dropped=dropped, day=day, strip=strip, open_days=open_days,
                earlier=first - timedelta(days=STRIP_DAYS) if first > today else None,
                later=first + timedelta(days=STRIP_DAYS) if last < limit else None,
                slots=slots, total=total, has_more=more,
                show_all=show_all, tz=tz_name, provider_names=names, location_by_id=zones,
                live_channels=",".join(f"slots:{p.id}" for p in chosen), form_token=new_token(),
                live_version=json.dumps({f"slots:{k}": v for k, v in
                                         slot_versions([str(p.id) for p in chosen]).items()}),
                zone_choices=_zone_choices(tz_name, locations))


def _zone_choices(current: str, locations) -> list[str]:
    common = ["Europe/Berlin", "Europe/London", "America/New_York", "America/Chicago", "America/Los_Angeles",
              "Asia/Kolkata", "Australia/Sydney", "UTC"]
    return list(dict.fromkeys([current, *(loc.timezone for loc in locations), *common]))


@bp.get("/book")
def book():
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results":
        return _results_partial()
    return render_template("patient/book.html", my_holds=_my_holds(), holds_form_token=new_token(),
                           **_results_context())


def _my_holds() -> list[tuple[Booking, str]]:
    """This browser's holds still running (a patient who went Back from the confirm page keeps
    them until they run out): shown above the finder to go on with or to let go."""
    holds = session.get("holds") or {}
    ids = [uuid.UUID(key) for key in holds]
    if not ids:
        return []
    found = db.session.scalars(select(Booking).where(
        Booking.id.in_(ids), Booking.status == "held", Booking.hold_expires_at > utcnow())
        .order_by(Booking.start_at)).all()
    return [(booking, holds[str(booking.id)]) for booking in found]


# The partial is kept per process (app/availability/read_cache.py) with these in place of the
# per-request values, which are put in on every answer.
_CSRF_MARK, _FORM_MARK = "\x00csrf\x00", "\x00form\x00"


def _results_partial() -> str:
    """The date strip and the day's times (HTMX), from the read cache while nothing it shows changed."""
    # a change of the pickers re-renders them too (out of band), so the clinician list
    # always matches the visit and the location chosen
    pickers = request.headers.get("HX-Trigger") == "finder"
    sampled = request.args.get("all") != "1"
    scope_key = ("finder", portal_selector(), request.script_root, request.query_string, pickers,
                 patient_timezone())

    def providers() -> tuple[str, ...]:
        _, _, _, kind, _, providers, provider, _, _ = _search()
        return tuple(str(p.id) for p in ([provider] if provider else providers if kind else []))

    def render() -> str:
        context = {**_results_context(), "form_token": _FORM_MARK, "csrf_token": lambda: _CSRF_MARK}
        return render_template("patient/_results.html", pickers=pickers, **context)

    html = read_cache.serve(scope_key, providers, lambda: (viewer_key(),) if sampled else (), render)
    return html.replace(_CSRF_MARK, generate_csrf()).replace(_FORM_MARK, new_token())


@bp.post("/book/hold")
def hold_slot():
    def handler():
        _org()  # 404 when no clinic is set up
        try:
            start = datetime.fromisoformat(request.form.get("start", ""))
            target = dict(provider_id=uuid.UUID(request.form["provider_id"]),
                          appointment_type_id=uuid.UUID(request.form["appointment_type_id"]), start=start,
                          location_id=uuid.UUID(request.form["location_id"]))
        except (KeyError, ValueError):
            abort(400)
        back = safe_local_path(request.form.get("back")) or url_for("patient.book")
        if start.tzinfo is None:
            abort(400)
        actor = _actor()
        if actor.role not in ("patient", "guest"):
            flash("Staff book for callers from the front desk.", "info")
            return redirect(back, code=303)
        try:
            result = hold(actor, contact=Contact(name="Guest (details follow)") if actor.role == "guest" else None,
                          source="portal", patient_timezone=patient_timezone(), **target)
        except BookwellError as error:
            flash(_friendly(error), "warning")
            return redirect(back, code=303)
        holds = session.get("holds", {})
        holds[str(result.booking.id)] = result.hold_token
        session["holds"] = dict(list(holds.items())[-10:])
        # The token also travels in the URL: a cookie session written by a concurrent request
        # (an HTMX refresh in flight) could otherwise drop it before the next page loads.
        return redirect(url_for("patient.confirm_hold", booking_id=result.booking.id, token=result.hold_token),
                        code=303)

    return run_once(handler)


def _friendly(error: BookwellError) -> str:
    if error.code in ("SLOT_FULL", "SLOT_UNAVAILABLE"):
        return "Sorry, someone else just took that time. Here are the times still free."
    if error.code == "HOLD_EXPIRED":
        return "Your hold ran out and the time was released. Please pick a time again."
    return error.message


def _held_booking(booking_id) -> tuple[Booking, str | None]:
    """The booking this browser holds: by patient, by hold token (URL or session), or by a
    signed result link."""
    import hmac

    from app.booking.hold import token_hash

    booking = db.session.get(Booking, booking_id)
    org = _org()
    if booking is None or booking.organization_id != org.id:
        abort(404)
    token = request.values.get("token") or session.get("holds", {}).get(str(booking_id))
    if token and not (booking.hold_token_hash and hmac.compare_digest(token_hash(token), booking.hold_token_hash)):
        token = None
    mine = current_user.is_authenticated and booking.patient_id == current_user.id
    signed = verify_manage_token(request.args.get("t", "")) == booking.id
    if not (mine or token or signed):
        abort(404)
    return booking, token


@bp.route("/book/confirm/<uuid:booking_id>", methods=["GET", "POST"])
def confirm_hold(booking_id):
    booking, token = _held_booking(booking_id)
    if booking.status != "held" or booking.hold_expires_at <= utcnow():
        if booking.status in ("pending", "confirmed"):
            return redirect(_result_url(booking))
        flash("Your hold ran out and the time was released. Please pick a time again.", "warning")
        return redirect(_finder_url(booking))
    guest = not current_user.is_authenticated
    form = ConfirmForm(guest=guest)
    if request.method == "GET" and not guest:
        form.name.data = current_user.full_name
        form.email.data = current_user.email
        if current_user.patient_profile is not None:
            form.phone.data = current_user.patient_profile.phone
    if request.method == "POST" and form.validate_on_submit():
        def handler():
            contact = Contact(name=form.name.data.strip(), email=form.email.data.strip().lower(),
                              phone=form.phone.data or None) if guest else None
            try:
                lifecycle.confirm(_actor(), booking.id, hold_token=token, notes=form.notes.data or None,
                                  contact=contact)
            except BookwellError as error:
                flash(_friendly(error), "warning")
                return redirect(_finder_url(booking), code=303)
            return redirect(_result_url(booking), code=303)

        return run_once(handler)
    status = 422 if request.method == "POST" else 200
    return render_template("patient/confirm.html", booking=booking, form=form, guest=guest, token=token,
                           tz=patient_timezone(), form_token=new_token()), status


@bp.post("/book/confirm/<uuid:booking_id>/release")
def release_hold(booking_id):
    """"Choose another time": the hold is let go at once (not left to run out), then the finder."""
    def handler():
        booking, token = _held_booking(booking_id)
        if booking.status == "held":
            try:
                lifecycle.cancel(_actor(), booking.id, reason="Chose another time", hold_token=token)
            except BookwellError:
                pass  # it ran out or was confirmed meanwhile: nothing left to release
        holds = session.get("holds", {})
        holds.pop(str(booking_id), None)
        session["holds"] = holds
        return redirect(_finder_url(booking), code=303)

    return run_once(handler)


def _result_url(booking: Booking) -> str:
    """Guests reach their result page by a signed link, not by the cookie session."""
    if booking.patient_id is None:
        return url_for("patient.booked", booking_id=booking.id, t=manage_token(booking))
    return url_for("patient.booked", booking_id=booking.id)


def _finder_url(booking: Booking) -> str:
    """Back to the same day's full list, so the freed or remaining times are all in view."""
    return url_for("patient.book", appointment_type_id=booking.appointment_type_id, provider_id=booking.provider_id,
                   location_id=booking.location_id, all="1",
                   date=booking.start_at.astimezone(ZoneInfo(patient_timezone())).date().isoformat())


@bp.get("/book/done/<uuid:booking_id>")
def booked(booking_id):
    booking, _ = _held_booking(booking_id)
    link = manage_url(booking) if booking.patient_id is None else None
    signed = manage_token(booking) if booking.patient_id is None else None
    return render_template("patient/done.html", booking=booking, tz=patient_timezone(), manage_link=link,
                           signed=signed)


@bp.get("/bookings/<uuid:booking_id>.ics")
def booking_ics(booking_id):
    booking = db.session.get(Booking, booking_id)
    signed = request.args.get("t")
    addressed = addressed_organization()
    if booking is not None and addressed is not None and booking.organization_id != addressed.id:
        abort(404)  # a link opens its booking only at its own clinic's address
    allowed = booking is not None and (
        (current_user.is_authenticated and booking.patient_id == current_user.id)
        or (signed and verify_manage_token(signed) == booking.id)
        or str(booking_id) in session.get("holds", {}))
    if not allowed:
        abort(404)
    return Response(booking_calendar(booking), mimetype="text/calendar",
                    headers={"Content-Disposition": f'attachment; filename="appointment-{booking.id}.ics"'})
