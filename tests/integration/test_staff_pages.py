"""The staff pages without a browser: who may open the provider console and the front
desk, the actions behind their buttons (through the real forms: CSRF and one-time form
tokens), the agenda's day / week / list views, the front-desk queue and check-in, and
which live channels staff may follow.

Demo facts used (app/demo_seed.py): Jonas Fischer (fischer@) offers the "Physiotherapy
session" (45 min, 5 min buffer before, 10 after, needs approval) and the "Back-care
group class"; the seed gives him pending requests next Wednesday 10:00 (Paula Patient)
and next Friday 14:00 (Lena Braun, a guest) and two confirmed group-class places next
Thursday 17:00 (Lena Braun, Paula Patient). Dr. Anna Weber (weber@) has Paula's
confirmed consultation next Tuesday 09:00. Dr. Maya Chen works in New York.
"""
from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.accounts import find_user_by_email
from app.database import write_transaction
from app.demo_seed import DOMAIN
from app.extensions import db
from app.models import (
    AppointmentType,
    AvailabilityException,
    Booking,
    Location,
    Organization,
    Provider,
    TimeOff,
    utcnow,
)
from app.realtime.channels import authorize
from tests.integration.booking_helpers import at, berlin_today, events_of, fresh
from tests.integration.helpers import (
    csrf_token,
    page_text,
    seed_demo_clinic,
    sign_in_as,
)

BERLIN = "Europe/Berlin"
SIGN_IN = "sign-in"


# --- the demo clinic --------------------------------------------------------------------------

@dataclass(frozen=True)
class Demo:
    """Plain ids of the demo clinic and its seeded bookings (safe across transactions)."""

    organization_id: uuid.UUID
    berlin_id: uuid.UUID
    nyc_id: uuid.UUID
    weber: uuid.UUID
    fischer: uuid.UUID
    chen: uuid.UUID
    consult: uuid.UUID
    physio: uuid.UUID
    paula_physio: uuid.UUID  # pending, next Wednesday 10:00, Fischer
    lena_physio: uuid.UUID  # pending, next Friday 14:00, Fischer (guest)
    lena_group: uuid.UUID  # confirmed, next Thursday 17:00, Fischer (guest)
    paula_group: uuid.UUID  # confirmed, next Thursday 17:00, Fischer
    weber_visit: uuid.UUID  # confirmed, next Tuesday 09:00, Weber


@pytest.fixture
def demo(app, db_session, monkeypatch) -> Demo:
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        providers = {p.display_name: p.id for p in db.session.scalars(select(Provider))}
        types = {t.name: t.id for t in db.session.scalars(select(AppointmentType))}
        locations = {loc.timezone: loc.id for loc in db.session.scalars(select(Location))}
        fischer, weber = providers["Jonas Fischer"], providers["Dr. Anna Weber"]

        def one(provider_id, type_name, status, name):
            rows = [b for b in db.session.scalars(select(Booking).where(
                Booking.provider_id == provider_id, Booking.appointment_type_id == types[type_name],
                Booking.status == status)) if b.contact_name == name]
            assert len(rows) == 1, (type_name, status, name)
            return rows[0].id

        return Demo(
            organization_id=db.session.scalars(select(Organization.id).where(Organization.slug == "demo")).one(),
            berlin_id=locations[BERLIN], nyc_id=locations["America/New_York"],
            weber=weber, fischer=fischer, chen=providers["Dr. Maya Chen"],
            consult=types["General consultation"], physio=types["Physiotherapy session"],
            paula_physio=one(fischer, "Physiotherapy session", "pending", "Paula Patient"),
            lena_physio=one(fischer, "Physiotherapy session", "pending", "Lena Braun"),
            lena_group=one(fischer, "Back-care group class", "confirmed", "Lena Braun"),
            paula_group=one(fischer, "Back-care group class", "confirmed", "Paula Patient"),
            weber_visit=one(weber, "General consultation", "confirmed", "Paula Patient"),
        )


def as_user(app, client, key: str) -> None:
    """Sign `client` in as the demo user `key` (weber, fischer, frontdesk, patient, ...)."""
    with app.app_context():
        sign_in_as(client, find_user_by_email(f"{key}@{DOMAIN}"))


def make_booking(app, *, organization_id, provider_id, type_id, location_id, start: datetime, status: str,
                 guest_name: str = "Walk In", created_at: datetime | None = None) -> uuid.UUID:
    """A booking written straight to the database (set-up the pages cannot do)."""
    with app.app_context():
        kind = db.session.get(AppointmentType, type_id)
        end = start + timedelta(minutes=kind.duration_minutes)
        with write_transaction():
            booking = Booking(
                organization_id=organization_id, provider_id=provider_id, appointment_type_id=type_id,
                location_id=location_id, guest_name=guest_name, guest_email="walk.in@example.com",
                start_at=start, end_at=end, block_start_at=start - timedelta(minutes=kind.buffer_before_minutes),
                block_end_at=end + timedelta(minutes=kind.buffer_after_minutes), status=status, source="staff",
                confirmed_at=utcnow() if status == "confirmed" else None,
                **({"created_at": created_at} if created_at else {}),
            )
            db.session.add(booking)
        return booking.id


def local_day(app, booking_id: uuid.UUID, tz: str = BERLIN) -> date:
    with app.app_context():
        return fresh(booking_id).start_at.astimezone(ZoneInfo(tz)).date()


def booking_state(app, booking_id: uuid.UUID) -> tuple:
    with app.app_context():
        b = fresh(booking_id)
        return b.status, b.cancel_reason, b.cancelled_by, b.checked_in_at, len(events_of(booking_id))


def actions_of(app, booking_id: uuid.UUID) -> list[tuple[str, str | None]]:
    """(action, actor_role) of the booking's events, oldest first."""
    with app.app_context():
        return [(e.action, e.actor_role) for e in events_of(booking_id)]


# --- reading pages ------------------------------------------------------------------------------

_FORM = re.compile(r'<form\b([^>]*)>(.*?)</form>', re.DOTALL)
_ATTR = re.compile(r'([\w-]+)="([^"]*)"')
_INPUT = re.compile(r'<input\b([^>]*)>', re.DOTALL)


def form_fields(body: str, action: str) -> dict[str, str]:
    """The named inputs (with their values) of the form posting to `action` on the page."""
    for attrs, inner in _FORM.findall(body):
        if html.unescape(dict(_ATTR.findall(attrs)).get("action", "")) == action:
            fields = {}
            for input_attrs in _INPUT.findall(inner):
                attr = dict(_ATTR.findall(input_attrs))
                if "name" in attr:
                    fields[attr["name"]] = html.unescape(attr.get("value", ""))
            return fields
    raise AssertionError(f"no form posting to {action} on the page")


def has_form(body: str, action: str) -> bool:
    return any(html.unescape(dict(_ATTR.findall(attrs)).get("action", "")) == action
               for attrs, _ in _FORM.findall(body))


def flashes(response) -> list[tuple[str, str]]:
    """(category, text) of the flash messages on a page."""
    return [(kind, html.unescape(text)) for kind, text in
            re.findall(r'<div class="flash flash-(\w+)">([^<]*)</div>', response.get_data(as_text=True))]


def follow(client, response):
    """A form's answer is a 303; the page it leads to carries the flash."""
    assert response.status_code == 303, response.status_code
    return client.get(response.headers["Location"])


def agenda_items(body: str) -> list[dict[str, str]]:
    """The rows of the agenda day/week view: kind, status, time, title and badge."""
    rows = []
    for classes, inner in re.findall(r'<li class="list-item agenda-item ([^"]*)">(.*?)</li>', body, re.DOTALL):
        kind = re.search(r"kind-(\w+)", classes).group(1)
        title = re.sub(r"<[^>]+>", "", re.search(r'<div class="what">(.*?)</div>', inner, re.DOTALL).group(1))
        rows.append({
            "kind": kind, "status": re.search(r"status-(\w+)", classes).group(1),
            "time": re.search(r'<span class="time">([^<]*)</span>', inner).group(1),
            "title": html.unescape(" ".join(title.split())),
            "badge": html.unescape(re.search(r'<span class="badge[^"]*">([^<]*)</span>', inner).group(1)),
            "booking": (re.search(r"/provider/bookings/([0-9a-f-]{36})", inner) or [None, None])[1],
        })
    return rows


def agenda_of(body: str) -> str:
    """Only the agenda (#agenda) of a provider page, not the panels around it."""
    start = body.index('<div id="agenda"')
    return body[start:body.index('<aside id="detail"', start)]


def day_headings(body: str) -> list[str]:
    return re.findall(r'<section class="card agenda-day[^"]*">\s*<h2>([^<]*)</h2>', body)


# --- 1. who may open what -----------------------------------------------------------------------

EMAILS = {"patient": "patient", "provider": "weber", "other provider": "fischer", "frontdesk": "frontdesk",
          "manager": "manager", "admin": "admin"}
WEBER_BOOKING = "/provider/bookings/{weber_visit}"  # Dr. Weber's confirmed visit


@pytest.mark.parametrize(
    ("role", "url", "status"),
    [
        ("anonymous", "/provider/", 302),  # strangers are sent to sign in, and come back afterwards
        ("anonymous", "/provider/?view=week", 302),
        ("anonymous", "/provider/?view=list", 302),
        ("anonymous", WEBER_BOOKING, 302),
        ("anonymous", "/frontdesk/", 302),
        ("patient", "/provider/", 403),  # a patient is not a clinician
        ("patient", "/provider/?view=week", 403),
        ("patient", "/provider/?view=list", 403),
        ("patient", WEBER_BOOKING, 403),
        ("patient", "/frontdesk/", 403),  # nor front-desk staff
        ("provider", "/provider/", 200),  # Dr. Weber's own agenda, every view
        ("provider", "/provider/?view=week", 200),
        ("provider", "/provider/?view=list", 200),
        ("provider", WEBER_BOOKING, 200),  # her own booking's details
        ("provider", "/frontdesk/", 403),  # clinicians do not run the front desk
        ("other provider", WEBER_BOOKING, 404),  # Jonas Fischer: another clinician's booking does not exist for him
        ("frontdesk", "/provider/", 403),  # the front desk has no agenda of its own
        ("frontdesk", "/provider/?view=week", 403),
        ("frontdesk", "/provider/?view=list", 403),
        ("frontdesk", WEBER_BOOKING, 403),
        ("frontdesk", "/frontdesk/", 200),  # the approval queue
        ("manager", "/provider/", 403),  # a manager is not a clinician
        ("manager", "/provider/?view=week", 403),
        ("manager", "/provider/?view=list", 403),
        ("manager", WEBER_BOOKING, 403),
        ("manager", "/frontdesk/", 200),  # but may work the front desk
        ("admin", "/provider/", 403),  # an admin is not a clinician
        ("admin", "/provider/?view=week", 403),
        ("admin", "/provider/?view=list", 403),
        ("admin", WEBER_BOOKING, 403),
        ("admin", "/frontdesk/", 200),  # but may work the front desk
    ],
)
def test_staff_pages_open_only_for_their_roles(app, client, demo, role, url, status):
    url = url.format(weber_visit=demo.weber_visit)
    if role != "anonymous":
        as_user(app, client, EMAILS[role])

    response = client.get(url)

    assert response.status_code == status
    if role == "anonymous":
        target = urlsplit(response.headers["Location"])
        assert target.path == "/auth/login"
        assert parse_qs(target.query) == {"next": [url]}
    if status == 403:
        assert "You don't have access to this page" in page_text(response)


def test_a_patient_cannot_post_provider_actions(app, client, demo):
    as_user(app, client, "patient")
    token = csrf_token(client, "/appointments")
    before = booking_state(app, demo.paula_physio)

    response = client.post(f"/provider/bookings/{demo.paula_physio}/accept",
                           data={"csrf_token": token, "form_token": "patient-accept-1"})

    assert response.status_code == 403
    assert booking_state(app, demo.paula_physio) == before


def test_a_provider_cannot_act_on_another_providers_booking(app, client, demo):
    as_user(app, client, "weber")
    token = csrf_token(client, "/provider/")
    before = booking_state(app, demo.paula_physio)

    response = client.post(f"/provider/bookings/{demo.paula_physio}/accept",
                           data={"csrf_token": token, "form_token": "weber-accept-1"})

    assert response.status_code == 404  # Fischer's request does not exist for Dr. Weber
    assert booking_state(app, demo.paula_physio) == before


def test_the_front_desk_cannot_act_on_another_organizations_booking(app, client, demo):
    with app.app_context(), write_transaction():
        org = Organization(name="Harbour Clinic", slug=f"harbour-{uuid.uuid4().hex[:8]}")
        db.session.add(org)
        db.session.flush()
        location = Location(organization_id=org.id, name="Harbour", timezone="Europe/Paris")
        db.session.add(location)
        db.session.flush()
        provider = Provider(organization_id=org.id, display_name="Dr. Elsewhere", timezone="Europe/Paris",
                            locations=[location])
        kind = AppointmentType(organization_id=org.id, name="Check-up", duration_minutes=30,
                               requires_approval=True, providers=[provider])
        db.session.add_all([provider, kind])
        db.session.flush()
        org_id, location_id, provider_id, kind_id = org.id, location.id, provider.id, kind.id
    theirs = make_booking(app, organization_id=org_id, provider_id=provider_id, type_id=kind_id,
                          location_id=location_id, start=at(berlin_today() + timedelta(days=4), "10:00"),
                          status="pending")
    as_user(app, client, "frontdesk")
    token = csrf_token(client, "/frontdesk/")
    before = booking_state(app, theirs)

    for action in ("accept", "decline", "check_in"):
        response = client.post(f"/frontdesk/bookings/{theirs}/{action}",
                               data={"csrf_token": token, "form_token": f"other-org-{action}"})
        assert response.status_code == 404, action
    assert booking_state(app, theirs) == before
    assert theirs not in [uuid.UUID(i) for i in
                          re.findall(r'id="request-([0-9a-f-]{36})"', client.get("/frontdesk/").get_data(as_text=True))]


# --- 2. provider actions through the pages ------------------------------------------------------

def detail(client, booking_id) -> str:
    response = client.get(f"/provider/bookings/{booking_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def press(client, body: str, booking_id, action: str, **extra):
    """Submit the detail panel's `action` form, as the browser would."""
    url = f"/provider/bookings/{booking_id}/{action}"
    return client.post(url, data={**form_fields(body, url), **extra})


def test_fischer_accepts_a_pending_request(app, client, demo):
    as_user(app, client, "fischer")
    body = detail(client, demo.paula_physio)

    answer = press(client, body, demo.paula_physio, "accept")

    day = local_day(app, demo.paula_physio)
    assert answer.headers["Location"] == f"/provider/?date={day.isoformat()}"  # back to that day
    assert ("success", "Request accepted.") in flashes(follow(client, answer))
    with app.app_context():
        booking = fresh(demo.paula_physio)
        assert booking.status == "confirmed" and booking.confirmed_at is not None
        accepted = [e for e in events_of(booking.id) if e.action == "accepted"]
        assert len(accepted) == 1
        assert (accepted[0].from_status, accepted[0].to_status, accepted[0].actor_role) == (
            "pending", "confirmed", "provider")


def test_fischer_declines_a_request_with_a_reason(app, client, demo):
    as_user(app, client, "fischer")
    body = detail(client, demo.lena_physio)

    answer = press(client, body, demo.lena_physio, "decline", reason="  Away at a course that afternoon  ")

    assert ("success", "Request declined; the time is free again.") in flashes(follow(client, answer))
    with app.app_context():
        booking = fresh(demo.lena_physio)
        assert booking.status == "declined"
        assert booking.cancel_reason == "Away at a course that afternoon"
        assert [e.action for e in events_of(booking.id)][-1] == "declined"


def test_fischer_cancels_a_future_confirmed_booking(app, client, demo):
    as_user(app, client, "fischer")
    body = detail(client, demo.lena_group)
    assert f'href="/staff/bookings/{demo.lena_group}/cancel?back=' in body  # a confirmation step first
    assert ">Completed</button>" not in body and ">No-show</button>" not in body  # not started yet
    confirm = client.get(f"/staff/bookings/{demo.lena_group}/cancel")
    assert confirm.status_code == 200 and "Yes, cancel and tell the patient" in page_text(confirm)
    assert booking_state(app, demo.lena_group)[0] == "confirmed"  # asking changes nothing

    answer = client.post(f"/staff/bookings/{demo.lena_group}/cancel", data={
        "csrf_token": csrf_token(client, f"/staff/bookings/{demo.lena_group}/cancel"), "reason": "Class moved",
        "form_token": "cancel-lena-1"})

    assert ("success", "Cancelled Lena Braun's appointment; they are told why.") in flashes(follow(client, answer))
    with app.app_context():
        booking = fresh(demo.lena_group)
        assert (booking.status, booking.cancelled_by, booking.cancel_reason) == ("cancelled", "staff", "Class moved")
        assert [e.action for e in events_of(booking.id)] == ["seeded", "cancelled"]


@pytest.mark.parametrize(("action", "words"), [("complete", "marked completed"),
                                                ("no_show", "marked as a no-show")])
def test_complete_and_no_show_before_the_start_are_refused_with_the_policy(app, client, demo, action, words):
    as_user(app, client, "fischer")
    token = csrf_token(client, "/provider/")
    before = booking_state(app, demo.paula_group)

    answer = client.post(f"/provider/bookings/{demo.paula_group}/{action}",
                         data={"csrf_token": token, "form_token": f"early-{action}-1"})

    assert flashes(follow(client, answer)) == [
        ("warning", f"An appointment can only be {words} once it has started.")]
    assert booking_state(app, demo.paula_group) == before


@pytest.mark.parametrize(("action", "status", "done"), [("no_show", "no_show", "Marked as a no-show."),
                                                       ("complete", "completed", "Marked as completed.")])
def test_the_front_desk_records_how_a_started_visit_went_from_its_page(app, client, demo, action, status, done):
    start = (utcnow() - timedelta(minutes=30)).replace(second=0, microsecond=0)
    booking_id = make_booking(app, organization_id=demo.organization_id, provider_id=demo.weber,
                              type_id=demo.consult, location_id=demo.berlin_id, start=start, status="confirmed",
                              guest_name="Stan Started")
    as_user(app, client, "frontdesk")
    page = client.get(f"/staff/bookings/{booking_id}").get_data(as_text=True)
    url = f"/frontdesk/bookings/{booking_id}/{action}"
    answer = client.post(url, data=form_fields(page, url))
    assert ("success", done) in flashes(follow(client, answer))
    assert booking_state(app, booking_id)[0] == status


def test_a_resubmitted_form_token_runs_the_action_once(app, client, demo):
    as_user(app, client, "fischer")
    fields = form_fields(detail(client, demo.paula_physio), f"/provider/bookings/{demo.paula_physio}/accept")
    url = f"/provider/bookings/{demo.paula_physio}/accept"

    first = client.post(url, data=fields)
    assert ("success", "Request accepted.") in flashes(follow(client, first))
    again = client.post(url, data=fields)  # a double click / a refresh of the POST

    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert flashes(follow(client, again)) == []  # the first answer replayed: no "cannot accept" warning
    assert [a for a, _ in actions_of(app, demo.paula_physio)].count("accepted") == 1


def block_form(client, day: date) -> dict[str, str]:
    response = client.get(f"/provider/?date={day.isoformat()}")
    return form_fields(response.get_data(as_text=True), "/provider/block")


def blocks(app, provider_id) -> list[tuple[datetime, datetime, str]]:
    with app.app_context():
        return [(x.start_at, x.end_at, x.status) for x in db.session.scalars(select(AvailabilityException).where(
            AvailabilityException.provider_id == provider_id).execution_options(populate_existing=True))]


def next_monday() -> date:
    day = berlin_today() + timedelta(days=3)
    while day.isoweekday() != 1:
        day += timedelta(days=1)
    return day


def test_blocking_time_adds_a_blocked_exception_shown_on_the_agenda(app, client, demo):
    as_user(app, client, "fischer")
    monday = next_monday()  # Fischer works 09:00-17:00
    fields = block_form(client, monday)
    assert (fields["date"], fields["start_time"], fields["end_time"]) == (monday.isoformat(), "12:00", "13:00")

    answer = client.post("/provider/block", data=fields)

    assert answer.headers["Location"] == f"/provider/?date={monday.isoformat()}"
    page = follow(client, answer)
    assert ("success", "Time blocked. Patients can no longer book it.") in flashes(page)
    assert blocks(app, demo.fischer) == [(at(monday, "12:00"), at(monday, "13:00"), "blocked")]
    assert 'data-kind="blocked"' in page.get_data(as_text=True)  # drawn on the calendar
    listed = client.get(f"/provider/?date={monday.isoformat()}&layout=list").get_data(as_text=True)
    blocked = [row for row in agenda_items(agenda_of(listed)) if row["kind"] == "blocked"]
    assert blocked == [{"kind": "blocked", "status": "blocked", "time": "12:00–13:00", "title": "Blocked",
                        "badge": "Blocked", "booking": None}]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("13:00", "12:00"),  # the end before the start: a typo on a one-day form, not an overnight block
        ("12:00", "12:00"),  # an empty span
        ("noon", "13:00"),  # not a time
        ("12:00", "25:00"),
        ("", "13:00"),
    ],
)
def test_a_malformed_block_warns_and_writes_nothing(app, client, demo, start, end):
    as_user(app, client, "fischer")
    monday = next_monday()
    fields = {**block_form(client, monday), "start_time": start, "end_time": end}

    answer = client.post("/provider/block", data=fields)

    messages = flashes(follow(client, answer))
    assert [kind for kind, _ in messages] == ["warning"], messages
    assert blocks(app, demo.fischer) == []


def test_a_malformed_day_warns_and_writes_nothing(app, client, demo):
    as_user(app, client, "fischer")
    fields = {**block_form(client, next_monday()), "date": "31.02.2026"}

    messages = flashes(follow(client, client.post("/provider/block", data=fields)))

    assert messages == [("warning", "Give a day and a start and end time like 12:30.")]
    assert blocks(app, demo.fischer) == []


# --- 3. agenda content --------------------------------------------------------------------------

def test_the_day_view_lists_that_days_bookings_with_status_badges(app, client, demo):
    as_user(app, client, "fischer")
    wednesday, thursday = local_day(app, demo.paula_physio), local_day(app, demo.paula_group)

    wed_page = client.get(f"/provider/?date={wednesday.isoformat()}&layout=list").get_data(as_text=True)
    wed = agenda_of(wed_page)
    thu = agenda_of(client.get(f"/provider/?view=day&date={thursday.isoformat()}&layout=list").get_data(as_text=True))

    assert day_headings(wed) == [wednesday.strftime("%A %d %B")]
    assert agenda_items(wed) == [{"kind": "booking", "status": "pending", "time": "10:00–10:45",
                                  "title": "Paula Patient · Physiotherapy session", "badge": "Awaiting approval",
                                  "booking": str(demo.paula_physio)}]
    rows = agenda_items(thu)
    assert {(r["title"], r["badge"], r["time"]) for r in rows} == {
        ("Lena Braun · Back-care group class", "Confirmed", "17:00–18:00"),
        ("Paula Patient · Back-care group class", "Confirmed", "17:00–18:00")}
    assert "Lena Braun · Physiotherapy session" not in wed + thu  # Friday's request stays on Friday
    assert "2 awaiting approval" in wed_page  # the header counts Fischer's open requests


def test_the_week_view_shows_seven_days_from_monday(app, client, demo):
    as_user(app, client, "fischer")
    wednesday = local_day(app, demo.paula_physio)
    monday = wednesday - timedelta(days=wednesday.weekday())

    body = agenda_of(client.get(f"/provider/?view=week&date={wednesday.isoformat()}&layout=list")
                     .get_data(as_text=True))

    assert day_headings(body) == [(monday + timedelta(days=i)).strftime("%a %d") for i in range(7)]
    assert day_headings(body)[0].startswith("Mon") and day_headings(body)[-1].startswith("Sun")
    assert str(demo.paula_physio) in [r["booking"] for r in agenda_items(body)]
    assert "agenda-days days-7" in body


def test_the_list_view_lists_upcoming_bookings_in_order(app, client, demo):
    as_user(app, client, "fischer")
    with app.app_context(), write_transaction():  # one of them is no longer upcoming: it is cancelled
        db.session.get(Booking, demo.lena_group).status = "cancelled"

    body = agenda_of(client.get("/provider/?view=list").get_data(as_text=True))

    assert "Upcoming appointments" in body
    listed = re.findall(r'<a href="/provider/bookings/([0-9a-f-]{36})"', body)
    with app.app_context():
        expected = [str(b.id) for b in db.session.scalars(select(Booking).where(
            Booking.provider_id == demo.fischer, Booking.status.in_(("pending", "confirmed")),
            Booking.end_at >= utcnow()).order_by(Booking.start_at))]
    assert listed == expected
    assert str(demo.paula_physio) in listed and str(demo.lena_physio) in listed
    assert str(demo.lena_group) not in listed


def test_the_detail_panel_of_a_request_offers_accept_and_decline_and_shows_conflicts(app, client, demo):
    as_user(app, client, "fischer")
    wednesday = local_day(app, demo.paula_physio)
    clean = detail(client, demo.paula_physio)
    assert "Overlaps:" not in clean
    with app.app_context(), write_transaction():
        db.session.add(TimeOff(organization_id=demo.organization_id, provider_id=demo.fischer,
                               start_at=at(wednesday, "09:00"), end_at=at(wednesday, "12:00"),
                               status="approved", reason="Dentist"))

    body = detail(client, demo.paula_physio)

    assert has_form(body, f"/provider/bookings/{demo.paula_physio}/accept")
    assert has_form(body, f"/provider/bookings/{demo.paula_physio}/decline")
    assert f"/staff/bookings/{demo.paula_physio}/cancel?" in body  # a future request may be withdrawn (confirmed first)
    assert not has_form(body, f"/provider/bookings/{demo.paula_physio}/complete")
    assert 'name="reason"' in body
    assert "Awaiting approval" in body and "Paula Patient" in body and "Physiotherapy session" in body
    assert re.search(r'class="flash flash-warning small">Overlaps: Time off \(09:00\)</p>', body)
    assert "Dentist" not in body  # the reason of someone's time off is not shown here


# --- 4. the front desk --------------------------------------------------------------------------

def queue_ids(body: str) -> list[uuid.UUID]:
    return [uuid.UUID(i) for i in re.findall(r'<li class="list-item queue-item" id="request-([0-9a-f-]{36})"', body)]


def test_the_queue_lists_pending_requests_oldest_first(app, client, demo):
    monday = next_monday()
    now = utcnow()
    # asked two days ago for a late time, and just now (after the seed) for an early one:
    # the age of the request decides, not the time of the visit
    older = make_booking(app, organization_id=demo.organization_id, provider_id=demo.fischer, type_id=demo.physio,
                         location_id=demo.berlin_id, start=at(monday, "15:00"), status="pending",
                         guest_name="Old Request", created_at=now - timedelta(days=2))
    newer = make_booking(app, organization_id=demo.organization_id, provider_id=demo.fischer, type_id=demo.physio,
                         location_id=demo.berlin_id, start=at(monday, "09:00"), status="pending",
                         guest_name="New Request", created_at=now + timedelta(seconds=1))
    as_user(app, client, "frontdesk")

    body = client.get("/frontdesk/").get_data(as_text=True)

    shown = queue_ids(body)
    with app.app_context():
        pending = {b.id: b.created_at for b in db.session.scalars(select(Booking).where(
            Booking.status == "pending", Booking.start_at >= utcnow()))}
    assert set(shown) == set(pending) and len(shown) == 4
    assert [pending[i] for i in shown] == sorted(pending.values())
    assert shown[0] == older and shown[-1] == newer
    assert "Oldest first" in body and 'badge badge-pending">4<' in body


def test_the_queue_shows_conflict_hints(app, client, demo):
    wednesday = local_day(app, demo.paula_physio)
    with app.app_context(), write_transaction():
        db.session.add(TimeOff(organization_id=demo.organization_id, provider_id=demo.fischer,
                               start_at=at(wednesday, "09:00"), end_at=at(wednesday, "12:00"), status="approved"))
    as_user(app, client, "frontdesk")

    body = client.get("/frontdesk/").get_data(as_text=True)

    item = re.search(rf'id="request-{demo.paula_physio}">(.*?)</li>', body, re.DOTALL).group(1)
    assert "⚠ overlaps Time off (09:00–12:00)" in html.unescape(item)
    other = re.search(rf'id="request-{demo.lena_physio}">(.*?)</li>', body, re.DOTALL).group(1)
    assert "overlaps" not in other


def test_the_front_desk_accepts_and_declines_through_the_queue(app, client, demo):
    as_user(app, client, "frontdesk")
    body = client.get("/frontdesk/").get_data(as_text=True)
    accept_url = f"/frontdesk/bookings/{demo.paula_physio}/accept"
    decline_url = f"/frontdesk/bookings/{demo.lena_physio}/decline"
    decline = form_fields(body, decline_url)

    accepted = client.post(accept_url, data=form_fields(body, accept_url))
    assert accepted.headers["Location"] == "/frontdesk/"
    page = follow(client, accepted)
    assert ("success", "Accepted; the patient is told.") in flashes(page)
    assert demo.paula_physio not in queue_ids(page.get_data(as_text=True))

    declined = client.post(decline_url, data={**decline, "reason": "Fully booked that day"})
    page = follow(client, declined)
    assert ("success", "Declined; the time is free again.") in flashes(page)
    assert queue_ids(page.get_data(as_text=True)) == []

    assert actions_of(app, demo.paula_physio)[-1] == ("accepted", "frontdesk")
    assert actions_of(app, demo.lena_physio)[-1] == ("declined", "frontdesk")
    assert booking_state(app, demo.paula_physio)[0] == "confirmed"
    assert booking_state(app, demo.lena_physio)[:2] == ("declined", "Fully booked that day")


def test_a_live_refresh_between_the_action_and_its_redirect_leaves_the_flash_for_the_page(app, client, demo):
    # The accept publishes an event; the still-open page's HTMX refresh can reach the server
    # before the browser follows the 303. That refresh must not eat the message.
    as_user(app, client, "frontdesk")
    body = client.get("/frontdesk/").get_data(as_text=True)
    accept_url = f"/frontdesk/bookings/{demo.paula_physio}/accept"
    accepted = client.post(accept_url, data=form_fields(body, accept_url))

    live = client.get("/frontdesk/", headers={"HX-Request": "true"})
    assert live.status_code == 200 and flashes(live) == []
    assert demo.paula_physio not in queue_ids(live.get_data(as_text=True))
    assert ("success", "Accepted; the patient is told.") in flashes(follow(client, accepted))


def visit_in_half_an_hour(app, demo) -> tuple[uuid.UUID, str]:
    """A confirmed visit starting ~30 minutes from now, at a location where that is still today."""
    start = (utcnow() + timedelta(minutes=30)).replace(second=0, microsecond=0)
    for tz, location_id, provider_id in ((BERLIN, demo.berlin_id, demo.weber),
                                         ("America/New_York", demo.nyc_id, demo.chen)):
        zone = ZoneInfo(tz)
        if start.astimezone(zone).date() == utcnow().astimezone(zone).date():
            return make_booking(app, organization_id=demo.organization_id, provider_id=provider_id,
                                type_id=demo.consult, location_id=location_id, start=start, status="confirmed",
                                guest_name="Carla Checkin"), tz
    raise AssertionError("unreachable: one of the two zones is always before 23:30")


def test_check_in_of_a_visit_within_the_hour_and_a_double_submit_checks_in_once(app, client, demo):
    booking_id, tz = visit_in_half_an_hour(app, demo)
    as_user(app, client, "frontdesk")
    body = client.get("/frontdesk/").get_data(as_text=True)
    url = f"/frontdesk/bookings/{booking_id}/check_in"
    fields = form_fields(body, url)
    assert f'id="booking-{booking_id}"' in body and "Carla Checkin" in body

    first = client.post(url, data=fields)
    page = follow(client, first)
    again = client.post(url, data=fields)  # the same form sent twice

    assert ("success", "Checked in.") in flashes(page)
    with app.app_context():
        checked_in_at = fresh(booking_id).checked_in_at
    assert checked_in_at is not None and abs(checked_in_at - utcnow()) < timedelta(minutes=1)
    assert f"checked in {checked_in_at.astimezone(ZoneInfo(tz)):%H:%M}" in page.get_data(as_text=True)
    assert not has_form(page.get_data(as_text=True), url)  # no second Check in button
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert flashes(follow(client, again)) == []  # the first answer, replayed
    assert [a for a, _ in actions_of(app, booking_id)] == ["checked_in"]
    with app.app_context():
        assert fresh(booking_id).checked_in_at == checked_in_at


def test_check_in_far_ahead_is_refused(app, client, demo):
    as_user(app, client, "frontdesk")
    token = csrf_token(client, "/frontdesk/")
    before = booking_state(app, demo.weber_visit)

    answer = client.post(f"/frontdesk/bookings/{demo.weber_visit}/check_in",
                         data={"csrf_token": token, "form_token": "early-check-in-1"})

    assert flashes(follow(client, answer)) == [("warning", "Check-in opens an hour before the appointment.")]
    assert booking_state(app, demo.weber_visit) == before
    # and no page offers it yet: the button appears with the hour (lifecycle.check_in_open)
    url = f"/frontdesk/bookings/{demo.weber_visit}/check_in"
    for page in ("/frontdesk/", f"/frontdesk/day?location={demo.berlin_id}"):
        assert not has_form(client.get(page).get_data(as_text=True), url), page


def test_a_visit_that_has_ended_is_not_checked_in(app, client, demo):
    start = (utcnow() - timedelta(hours=2)).replace(second=0, microsecond=0)
    booking_id = make_booking(app, organization_id=demo.organization_id, provider_id=demo.weber,
                              type_id=demo.consult, location_id=demo.berlin_id, start=start, status="confirmed",
                              guest_name="Erik Ended")
    as_user(app, client, "frontdesk")
    page = client.get(f"/staff/bookings/{booking_id}").get_data(as_text=True)
    url = f"/frontdesk/bookings/{booking_id}/check_in"
    assert not has_form(page, url) and f"/frontdesk/bookings/{booking_id}/no_show" in page
    answer = client.post(url, data={"csrf_token": csrf_token(client, "/frontdesk/"), "form_token": "ended-check-in"})
    assert flashes(follow(client, answer)) == [("warning", "This visit has ended: mark it completed or a no-show.")]
    with app.app_context():
        assert fresh(booking_id).checked_in_at is None


def test_checking_in_a_cancelled_visit_says_check_in(app, client, demo):
    booking_id, _ = visit_in_half_an_hour(app, demo)
    with app.app_context():
        fresh(booking_id).status = "cancelled"
        db.session.commit()
    as_user(app, client, "frontdesk")
    answer = client.post(f"/frontdesk/bookings/{booking_id}/check_in",
                         data={"csrf_token": csrf_token(client, "/frontdesk/"), "form_token": "cancelled-check-in"})
    assert flashes(follow(client, answer)) == [("warning", "A booking that is cancelled cannot be checked in.")]


# --- 5. live channels ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("who", "channel", "allowed"),
    [
        ("fischer", "provider:fischer", True),  # his own agenda
        ("fischer", "provider:weber", False),  # not a colleague's
        ("fischer", "location:berlin", False),  # locations are for the front desk
        ("frontdesk", "location:berlin", True),
        ("frontdesk", "location:nyc", True),
        ("frontdesk", "provider:fischer", True),
        ("patient", "provider:fischer", False),  # patients follow neither
        ("patient", "location:berlin", False),
        ("olivia", "location:nyc", False),
    ],
)
def test_staff_live_channels_follow_the_roles(app, demo, who, channel, allowed):
    kind, key = channel.split(":")
    ident = {"fischer": demo.fischer, "weber": demo.weber, "berlin": demo.berlin_id, "nyc": demo.nyc_id}[key]
    name = f"{kind}:{ident}"
    with app.app_context():
        user = find_user_by_email(f"{who}@{DOMAIN}")
        result = authorize(user, demo.organization_id, name)
    assert result == (f"bookwell:org:{demo.organization_id}:{name}" if allowed else None)


def test_the_back_field_only_leads_back_into_the_site(app, client, demo):
    as_user(app, client, "fischer")
    body = detail(client, demo.paula_physio)

    answer = press(client, body, demo.paula_physio, "accept", back="//evil.example/x")

    target = urlsplit(answer.headers["Location"])
    assert target.netloc in ("", "localhost") and answer.headers["Location"].startswith("/")
    assert not answer.headers["Location"].startswith("//")
