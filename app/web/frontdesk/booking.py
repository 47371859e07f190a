"""Booking for a caller: 1. find or add the patient, 2. pick any open time (every open
slot, never the patients' exposure sample), 3. confirm, which books it in one POST."""
from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import abort, flash, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user

from app import account_mail, crypto
from app.availability import reads
from app.availability.cache import versions as slot_versions
from app.booking.actors import Actor
from app.booking.hold import Contact
from app.booking.staff_booking import Caller, PatientExists, book_for_caller, register_caller
from app.errors import BookwellError
from app.extensions import db
from app.models import AppointmentType, Location, Provider, utcnow
from app.queries import clinic, frontdesk
from app.queries.finder_days import days_with_hours
from app.web.dates import parse_day
from app.web.frontdesk import bp
from app.web.frontdesk.forms import BookForm, NewPatientForm, parse_uuid
from app.web.frontdesk.wanted_time import suggested, wanted_time
from app.web.once import new_token, run_once
from app.web.templating import local_time, mask_contact

CALLERS = "frontdesk_callers"  # session: contact details of callers booked as guests, by key (encrypted)
WANTED = "frontdesk_wanted_time"  # session: the free gap of the day overview this booking started from
STRIP_DAYS = 14
TAKEN = ("SLOT_FULL", "SLOT_UNAVAILABLE")


@dataclass(frozen=True)
class Who:
    """Who the booking is for, as the pages name them and carry them from step to step."""

    caller: Caller
    name: str
    reach: str  # a masked email or phone, to tell namesakes apart
    params: dict[str, str]


def _who(values) -> Who | None:
    org_id = current_user.organization_id
    patient_id = parse_uuid(values.get("patient"))
    patient = frontdesk.patient(org_id, patient_id) if patient_id else None
    if patient is not None:
        return Who(Caller(patient_id=patient.id), patient.full_name, mask_contact(patient.email),
                   {"patient": str(patient.id)})
    key = values.get("caller") or ""
    sealed = session.get(CALLERS, {}).get(key)
    try:
        saved = json.loads(crypto.decrypt(sealed)) if sealed else None
    except ValueError:  # sealed with a key since rotated
        saved = None
    if saved:
        contact = Contact(name=saved["name"], email=saved.get("email"), phone=saved.get("phone"))
        return Who(Caller(contact=contact), contact.name, mask_contact(contact.phone or contact.email),
                   {"caller": key})
    return None


def _remember_guest(contact: Contact) -> str:
    """Keep a guest caller's details for the next steps, encrypted: the session is a cookie."""
    key = secrets.token_urlsafe(9)
    saved = session.get(CALLERS, {})
    saved[key] = crypto.encrypt(json.dumps({"name": contact.name, "email": contact.email, "phone": contact.phone}))
    session[CALLERS] = dict(list(saved.items())[-10:])
    return key


def _zones() -> list[str]:
    return list(dict.fromkeys([*(loc.timezone for loc in clinic.locations(current_user.organization_id)), "UTC"]))


# --- step 1: the patient -------------------------------------------------------------------------

def _find_page(form: NewPatientForm, query: str = "", status: int = 200):
    found = frontdesk.find_patients(current_user.organization_id, query) if query.strip() else []
    return render_template("frontdesk/book_find.html", form=form, query=query, found=found,
                           form_token=new_token()), status


@bp.get("/book")
def book():
    form = NewPatientForm(formdata=None)
    form.timezone.choices = _zones()
    wanted = wanted_time(current_user.organization_id, request.args)
    if wanted is not None:
        session[WANTED] = wanted.params
        flash(f"Booking {wanted.label}: first find or add the patient.", "info")
    elif not request.args.get("q"):
        session.pop(WANTED, None)
    return _find_page(form, request.args.get("q", "")[:200])


@bp.post("/book/patient")
def add_patient():
    form = NewPatientForm()
    form.timezone.choices = _zones()
    if not form.validate_on_submit():
        return _find_page(form, status=422)
    email = (form.email.data or "").strip() or None

    def handler():
        try:
            caller = register_caller(Actor.of(current_user), full_name=form.full_name.data, email=email,
                                     phone=form.phone.data or None, timezone=form.timezone.data)
        except PatientExists:
            form.email.errors.append("A patient with this email already exists: book for them.")
            return make_response(*_find_page(form, email, status=422))
        except BookwellError as error:
            flash(error.message, "warning")
            return redirect(url_for("frontdesk.book"), code=303)
        if caller.patient_id is not None:  # a new account: they choose their password from the email
            account_mail.queue("invite", user_id=caller.patient_id)
            flash(f"Added {form.full_name.data} as a patient; we emailed them a link to choose a password. "
                  "Now pick a time.", "success")
            return redirect(url_for("frontdesk.times", patient=caller.patient_id), code=303)
        flash(f"Booking for {caller.contact.name} as a guest (contact details kept on the booking). "
              "Now pick a time.", "info")
        return redirect(url_for("frontdesk.times", caller=_remember_guest(caller.contact)), code=303)

    return run_once(handler)


# --- step 2: the time ----------------------------------------------------------------------------

def _finder(org_id: uuid.UUID) -> dict:
    """The chosen type, location, provider and day, each validated against the organization."""
    types = [t for t in clinic.appointment_types(org_id) if any(p.is_active for p in t.providers)]
    kind = next((t for t in types if t.id == parse_uuid(request.args.get("appointment_type_id"))),
                types[0] if types else None)
    served = {loc.id for p in (kind.providers if kind else []) if p.is_active for loc in p.locations}
    locations = [loc for loc in clinic.locations(org_id) if loc.id in served]
    wanted = parse_uuid(request.args.get("location_id")) or (kind.default_location_id if kind else None)
    location = next((loc for loc in locations if loc.id == wanted), locations[0] if locations else None)
    providers = reads.providers_for(org_id, kind, None, location) if kind and location else []
    asked = parse_uuid(request.args.get("provider_id"))
    provider = next((p for p in providers if p.id == asked), None)
    dropped = db.session.get(Provider, asked) if asked and provider is None else None  # named on the page
    dropped = dropped if dropped is not None and dropped.organization_id == org_id else None
    return {"types": types, "kind": kind, "locations": locations, "location": location, "providers": providers,
            "provider": provider, "dropped": dropped}


def _day(value: str | None, today: date) -> date | None:
    try:
        day = parse_day(value or "")
    except ValueError:
        return None
    return day if today <= day <= today + timedelta(days=366) else None


def _times_context(who: Who) -> dict:
    context = _finder(current_user.organization_id)
    kind, location, provider = context["kind"], context["location"], context["provider"]
    chosen = [provider] if provider else context["providers"]
    tz_name = location.timezone if location else "UTC"
    tz = ZoneInfo(tz_name)
    today = utcnow().astimezone(tz).date()
    day = _day(request.args.get("date"), today)
    strip_first = today + timedelta(days=((day or today) - today).days // STRIP_DAYS * STRIP_DAYS)
    strip, slots, open_days = [], [], set()
    if kind and chosen:
        counts = reads.date_counts(kind, chosen, strip_first, strip_first + timedelta(days=STRIP_DAYS - 1), tz,
                                   location.id)
        strip = [{"date": date.fromisoformat(c["date"]), "available": c["available"]} for c in counts]
        open_days = days_with_hours(current_user.organization_id, chosen, location.id, strip_first,
                                    strip_first + timedelta(days=STRIP_DAYS - 1), tz)
        day = day or next((d["date"] for d in strip if d["available"]), today)
        slots = reads.open_slots(kind, chosen, day, day, tz, location.id)
    day = day or today
    return dict(context, who=who, tz=tz_name, today=today, day=day, strip=strip, slots=slots,
                suggested=suggested(slots, day, tz, request.args.get("at")), open_days=open_days,
                earlier=strip_first - timedelta(days=STRIP_DAYS) if strip_first > today else None,
                later=strip_first + timedelta(days=STRIP_DAYS),
                provider_names={str(p.id): p.display_name for p in context["providers"]},
                live_channels=",".join(f"slots:{p.id}" for p in chosen),
                live_version=json.dumps({f"slots:{k}": v for k, v in
                                         slot_versions([str(p.id) for p in chosen]).items()}))


@bp.get("/book/times")
def times():
    who = _who(request.args)
    if who is None:
        flash("First find the patient, or add them.", "info")
        return redirect(url_for("frontdesk.book"))
    if WANTED in session and not request.args.get("provider_id") and not request.args.get("date"):
        return redirect(url_for("frontdesk.times", **who.params, **session.pop(WANTED)))
    context = _times_context(who)
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results":
        return render_template("frontdesk/_times.html", **context)
    return render_template("frontdesk/book_times.html", **context)


# --- step 3: confirm and book --------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    kind: AppointmentType
    provider: Provider
    location: Location
    start: datetime

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.kind.duration_minutes)

    @property
    def local_day(self) -> date:
        return self.start.astimezone(ZoneInfo(self.location.timezone)).date()

    def params(self) -> dict[str, str]:
        return {"appointment_type_id": str(self.kind.id), "provider_id": str(self.provider.id),
                "location_id": str(self.location.id), "start": self.start.isoformat()}


def _target(values) -> Target:
    """The time named by the request, within this organization; 400 for anything else."""
    org_id = current_user.organization_id
    kind = db.session.get(AppointmentType, parse_uuid(values.get("appointment_type_id")) or uuid.UUID(int=0))
    provider = db.session.get(Provider, parse_uuid(values.get("provider_id")) or uuid.UUID(int=0))
    location = frontdesk.location(org_id, parse_uuid(values.get("location_id")))
    try:
        start = datetime.fromisoformat(values.get("start") or "")
    except ValueError:
        start = None
    if (kind is None or kind.organization_id != org_id or provider is None or provider.organization_id != org_id
            or location is None or start is None or start.tzinfo is None):
        abort(400)
    return Target(kind, provider, location, start.astimezone(ZoneInfo("UTC")))


def _times_url(who: Who, target: Target, *, any_provider: bool = False) -> str:
    return url_for("frontdesk.times", **who.params, appointment_type_id=target.kind.id,
                   location_id=target.location.id, provider_id=None if any_provider else target.provider.id,
                   date=target.local_day.isoformat())


def _still_open(target: Target) -> bool:
    tz = ZoneInfo(target.location.timezone)
    return any(s.start == target.start and s.provider_id == str(target.provider.id) for s in
               reads.open_slots(target.kind, [target.provider], target.local_day, target.local_day, tz,
                                target.location.id))


def _confirm_page(form: BookForm, who: Who, target: Target, status: int = 200):
    return render_template("frontdesk/book_confirm.html", form=form, who=who, target=target,
                           tz=target.location.timezone, back=_times_url(who, target),
                           form_token=new_token()), status


@bp.get("/book/confirm")
def confirm():
    who = _who(request.args)
    if who is None:
        flash("First find the patient, or add them.", "info")
        return redirect(url_for("frontdesk.book"))
    target = _target(request.args)
    if not _still_open(target):
        flash("That time is no longer free. Here are the times still open.", "warning")
        return redirect(_times_url(who, target))
    form = BookForm(formdata=None, data={**who.params, **target.params()})
    return _confirm_page(form, who, target)


@bp.post("/book/confirm")
def book_it():
    form = BookForm()
    who = _who(request.form)
    if who is None:
        flash("First find the patient, or add them.", "info")
        return redirect(url_for("frontdesk.book"), code=303)
    target = _target(request.form)
    if not form.validate_on_submit():
        return _confirm_page(form, who, target, status=422)

    def handler():
        try:
            booking = book_for_caller(Actor.of(current_user), who.caller, provider_id=target.provider.id,
                                      appointment_type_id=target.kind.id, location_id=target.location.id,
                                      start=target.start, notes=(form.notes.data or "").strip() or None)
        except BookwellError as error:
            if error.code in TAKEN:
                flash(f"Sorry, {local_time(target.start, target.location.timezone, '%H:%M')} with "
                      f"{target.provider.display_name} was just taken. Nothing was booked; please pick "
                      "another time.", "warning")
            else:
                flash(f"{error.message} Nothing was booked.", "warning")
            return redirect(_times_url(who, target), code=303)
        tz = target.location.timezone
        status = "Booked" if booking.status == "confirmed" else "Requested (awaiting approval)"
        flash(f"{status}: {who.name} with {target.provider.display_name}, "
              f"{local_time(booking.start_at, tz, '%a %d %b %Y, %H:%M')} ({tz}), {target.kind.name}.", "success")
        return redirect(url_for("frontdesk.day", date=target.local_day.isoformat(), location=target.location.id,
                                _anchor=f"booking-{booking.id}"), code=303)

    return run_once(handler)
