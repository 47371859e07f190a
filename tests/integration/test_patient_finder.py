"""The patient finder's pickers and date strip without a browser: a change re-renders the visit,
location and clinician pickers together (out of band), so the clinician list always fits; a
clinician who does not offer the visit is named, not silently swapped; a day without hours
reads "closed" and a taken day "full"; the strip steps past 14 days up to the visit's limit;
"Choose another time" lets the hold go at once.

Demo facts: the "Video follow-up" is offered by Dr. Maya Chen, Sam Rivera and Dr. Anna Weber;
the "Physiotherapy session" only by Jonas Fischer (Berlin, Mon/Wed/Fri 09-17, Tue/Thu 12-20).
"""
from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.database import write_transaction
from app.extensions import db
from app.models import AppointmentType, AvailabilityException, Booking, utcnow
from tests.integration.booking_helpers import at, berlin_today, fresh
from tests.integration.helpers import csrf_token, login
from tests.integration.test_staff_pages import demo  # noqa: F401  (a fixture)

FINDER_CHANGE = {"HX-Request": "true", "HX-Target": "results", "HX-Trigger": "finder"}
LIVE_REFRESH = {"HX-Request": "true", "HX-Target": "results"}


def type_id(app, name: str):
    with app.app_context():
        return db.session.scalars(select(AppointmentType.id).where(AppointmentType.name == name)).one()


def clinician_options(body: str) -> list[str]:
    select_html = re.search(r'<select id="provider_id" name="provider_id">(.*?)</select>', body, re.DOTALL).group(1)
    return [html.unescape(o).split(" · ")[0] for o in re.findall(r"<option [^>]*>([^<]*)</option>", select_html)]


def strip_days(body: str) -> list[tuple[str, str]]:
    """(date, count label) of the date strip."""
    return [(d, html.unescape(c)) for d, c in re.findall(
        r'href="/book\?date=(\d{4}-\d\d-\d\d)[^"]*"[^>]*>\s*<span class="dow">[^<]*</span>\s*<strong>\d+</strong>\s*'
        r'<span class="count">([^<]*)</span>', body)]


def test_changing_the_visit_re_renders_the_clinician_list_to_match_it(app, client, demo):
    video = type_id(app, "Video follow-up")

    answer = client.get(f"/book?appointment_type_id={video}&provider_id={demo.fischer}", headers=FINDER_CHANGE)

    body = answer.get_data(as_text=True)
    pickers = body[body.index('<div id="finder-pickers"'):]
    assert 'hx-swap-oob="true"' in pickers.split(">", 1)[0]
    assert clinician_options(pickers) == ["Any clinician", "Dr. Anna Weber", "Dr. Maya Chen", "Sam Rivera"]
    assert "Jonas Fischer does not offer Video follow-up: showing every clinician who does." in html.unescape(body)


def test_a_live_refresh_of_the_times_leaves_the_pickers_alone(app, client, demo):
    answer = client.get(f"/book?appointment_type_id={type_id(app, 'Video follow-up')}", headers=LIVE_REFRESH)

    assert 'id="finder-pickers"' not in answer.get_data(as_text=True)


def test_a_chosen_clinician_is_honoured_their_times_only(app, client, demo):
    physio = type_id(app, "Physiotherapy session")
    consult = type_id(app, "General consultation")

    body = client.get(f"/book?appointment_type_id={consult}&provider_id={demo.weber}&all=1").get_data(as_text=True)
    fischer = client.get(f"/book?appointment_type_id={physio}&provider_id={demo.fischer}&all=1").get_data(as_text=True)

    assert re.search(rf'<option value="{demo.weber}" selected>', body)
    hold_providers = set(re.findall(r'name="provider_id" value="([0-9a-f-]{36})"', body))
    assert hold_providers == {str(demo.weber)}  # not Dr. Chen, who offers it too
    assert set(re.findall(r'name="provider_id" value="([0-9a-f-]{36})"', fischer)) == {str(demo.fischer)}
    assert "does not offer" not in body


def test_days_without_hours_say_closed_and_taken_days_say_full(app, client, demo):
    physio = type_id(app, "Physiotherapy session")
    today = berlin_today()
    saturday = next(today + timedelta(days=i) for i in range(3, 10) if (today + timedelta(days=i)).isoweekday() == 6)
    monday = saturday + timedelta(days=2)
    with app.app_context(), write_transaction():  # Fischer's whole Monday is blocked: hours, but nothing free
        db.session.add(AvailabilityException(organization_id=demo.organization_id, provider_id=demo.fischer,
                                             status="blocked", start_at=at(monday, "00:00"),
                                             end_at=at(monday + timedelta(days=1), "00:00")))
    login(client, "patient@riverside.example")

    days = dict(strip_days(client.get(f"/book?appointment_type_id={physio}&date={saturday.isoformat()}")
                           .get_data(as_text=True)))

    assert days[saturday.isoformat()] == "closed"  # Fischer does not work on Saturdays
    assert days[(saturday + timedelta(days=1)).isoformat()] == "closed"
    assert days[monday.isoformat()] == "full"
    assert days[(monday + timedelta(days=1)).isoformat()].endswith("free")
    page = client.get(f"/book?appointment_type_id={physio}&date={saturday.isoformat()}").get_data(as_text=True)
    assert "No free times on this day. Closed then" in page


def test_the_date_strip_steps_beyond_14_days_up_to_the_visits_limit(app, client, demo):
    consult = type_id(app, "General consultation")
    with app.app_context(), write_transaction():
        db.session.get(AppointmentType, consult).max_future_days = 30
    login(client, "patient@riverside.example")
    today = berlin_today()

    first = client.get(f"/book?appointment_type_id={consult}").get_data(as_text=True)
    later = re.search(r'<a class="day step" rel="next" href="([^"]+)"', first)
    second = client.get(html.unescape(later.group(1))).get_data(as_text=True)
    third_link = re.search(r'<a class="day step" rel="next" href="([^"]+)"', second)
    third = client.get(html.unescape(third_link.group(1))).get_data(as_text=True)

    assert [d for d, _ in strip_days(first)][0] == today.isoformat()
    assert [d for d, _ in strip_days(second)][0] == (today + timedelta(days=14)).isoformat()
    assert 'rel="prev"' in second and 'rel="prev"' not in first
    assert [d for d, _ in strip_days(third)] == [(today + timedelta(days=28 + i)).isoformat() for i in range(3)]
    assert 'rel="next"' not in third  # day 30 is the last the visit may be booked
    beyond = client.get(f"/book?appointment_type_id={consult}&date={(today + timedelta(days=40)).isoformat()}")
    assert [d for d, _ in strip_days(beyond.get_data(as_text=True))][0] == today.isoformat()


def _hold_first_open(client, app, demo) -> str:
    consult = type_id(app, "General consultation")
    page = client.get(f"/book?appointment_type_id={consult}&provider_id={demo.weber}&all=1").get_data(as_text=True)
    start = re.search(r'name="start" value="([^"]+)"', page).group(1)
    answer = client.post("/book/hold", data={
        "provider_id": str(demo.weber), "appointment_type_id": str(consult), "location_id": str(demo.berlin_id),
        "start": start, "csrf_token": csrf_token(client, "/book"), "form_token": "hold-form-token-1"})
    assert answer.status_code == 303
    return answer.headers["Location"]


@pytest.mark.parametrize("who", ["patient", "guest"])
def test_choose_another_time_releases_the_hold_at_once(app, client, demo, who):
    if who == "patient":
        login(client, "patient@riverside.example")
    confirm_url = _hold_first_open(client, app, demo)
    booking_id = uuid.UUID(re.search(r"/book/confirm/([0-9a-f-]{36})", confirm_url).group(1))
    page = client.get(confirm_url).get_data(as_text=True)
    form = re.search(r'<form id="release-hold" method="post" action="([^"]+)" hidden>(.*?)</form>', page, re.DOTALL)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
    assert 'form="release-hold">Choose another time</button>' in page

    answer = client.post(html.unescape(form.group(1)), data=fields)

    assert answer.status_code == 303 and answer.headers["Location"].startswith("/book?")
    with app.app_context():
        row = fresh(booking_id)
        assert row.status == "cancelled" and row.hold_expires_at > utcnow()  # let go before it ran out
    again = client.post(html.unescape(form.group(1)), data=fields)  # a double click changes nothing more
    assert again.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Booking.status).where(Booking.id == row.id)) == "cancelled"


def test_a_hold_left_by_going_back_is_listed_above_the_finder_to_go_on_with_or_let_go(app, client, demo):
    confirm_url = _hold_first_open(client, app, demo)
    booking_id = uuid.UUID(re.search(r"/book/confirm/([0-9a-f-]{36})", confirm_url).group(1))
    page = client.get("/book").get_data(as_text=True)  # the Back button: the finder again
    card = re.search(r'<section class="card" id="my-holds".*?</section>', page, re.DOTALL).group(0)
    assert html.unescape(re.search(r'href="([^"]*/book/confirm/[^"]+)"', card).group(1)) == confirm_url
    form = re.search(r'<form class="inline" method="post" action="([^"]+)">(.*?)</form>', card, re.DOTALL)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
    assert client.post(html.unescape(form.group(1)), data=fields).status_code == 303
    with app.app_context():
        assert fresh(booking_id).status == "cancelled"
    assert 'id="my-holds"' not in client.get("/book").get_data(as_text=True)
    assert 'id="my-holds"' not in app.test_client().get("/book").get_data(as_text=True)  # nobody else's


def test_nobody_else_can_release_a_hold(app, client, demo):
    confirm_url = _hold_first_open(client, app, demo)
    booking_id = uuid.UUID(re.search(r"/book/confirm/([0-9a-f-]{36})", confirm_url).group(1))
    stranger = app.test_client()

    answer = stranger.post(f"/book/confirm/{booking_id}/release",
                           data={"csrf_token": csrf_token(stranger, "/book"), "form_token": "stranger-token-1"})

    assert answer.status_code == 404
    with app.app_context():
        assert fresh(booking_id).status == "held"


def test_a_day_whose_hours_are_over_counts_as_closed(app, demo):
    from zoneinfo import ZoneInfo

    from app.models import Provider
    from app.queries.finder_days import days_with_hours

    today = berlin_today()
    monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)  # Fischer works Mondays 09:00-17:00
    with app.app_context():
        fischer = db.session.get(Provider, demo.fischer)

        def open_on(now):
            return monday in days_with_hours(demo.organization_id, [fischer], demo.berlin_id, monday, monday,
                                             ZoneInfo("Europe/Berlin"), now=now)

        assert open_on(at(monday, "08:00")) and open_on(at(monday, "16:59"))
        assert not open_on(at(monday, "17:00"))
