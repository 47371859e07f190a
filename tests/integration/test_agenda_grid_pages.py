"""The agenda as a time grid, without a browser: the provider's day and week and the front
desk's day draw each visit at the minute row of its local start and as many rows as it lasts;
time off over several days is drawn on every day; a DST day draws its real hours; a free gap
opens booking for a caller with that clinician, place, day and time; a live refresh brings the
pending badge and the next visits along; the list layout stays; who may open which view.

Demo facts (app/demo_seed.py): Jonas Fischer works Mon/Wed/Fri 09:00-17:00 (break 12:30-13:30)
and Tue/Thu 12:00-20:00 in Berlin; Dr. Anna Weber Mon-Fri 08:00-16:00 (break 12:00-13:00).
Fischer has Paula's physio request (45 min, buffers 5 before and 10 after) next Wednesday 10:00.
"""
from __future__ import annotations

import html
import re
from datetime import date, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from app.database import write_transaction
from app.extensions import db
from app.models import AvailabilityException, TimeOff
from tests.integration.booking_helpers import at
from tests.integration.test_frontdesk_booking import PAULA, user_id
from tests.integration.test_staff_pages import (  # noqa: F401  (demo is a fixture)
    BERLIN,
    agenda_items,
    agenda_of,
    as_user,
    demo,
    flashes,
    form_fields,
    local_day,
    make_booking,
)

HX_REFRESH = {"HX-Request": "true", "HX-Target": "agenda"}


def blocks(body: str, kind_class: str = "tg-event") -> list[dict[str, str]]:
    """Every drawn element of one class: its grid row (first minute row, span) and attributes."""
    found = []
    for tag in re.findall(r'<(?:a|div)\s+class="' + kind_class + r'[^"]*"[^>]*>', body):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', tag))
        row = re.search(r"grid-row: (\d+) / span (\d+)", attrs.get("style", ""))
        found.append({**attrs, "row": int(row.group(1)) - 1, "span": int(row.group(2))})
    return found


def hour_labels(body: str) -> list[str]:
    return [html.unescape(x) for x in re.findall(r'<span class="tg-hour"[^>]*>([^<]*)</span>', body)]


def column_bodies(body: str) -> dict[str, str]:
    """The grid's columns by their data-column key (a date, or a provider id)."""
    parts = re.split(r'<div class="tg-col[^"]*" data-column="', body)[1:]
    return {part.split('"', 1)[0]: part for part in parts}


def shades(column: str) -> list[tuple[str, str]]:
    """(kind, label text) of the blocked / time off / busy bands of a column."""
    out = []
    for kind, inner in re.findall(r'<div class="tg-shade tg-(\w+)".*?<span class="tg-shade-label">(.*?)</span>\s*</div>',
                                  column, re.DOTALL):
        out.append((kind, html.unescape(" ".join(re.sub(r"<[^>]+>", " ", inner).split()))))
    return out


def wednesday_of(app, demo) -> date:
    return local_day(app, demo.paula_physio)


# --- the provider's day and week -----------------------------------------------------------------

def test_the_day_grid_draws_a_visit_at_its_start_for_its_duration_with_its_buffers(app, client, demo):
    as_user(app, client, "fischer")
    wednesday = wednesday_of(app, demo)

    body = agenda_of(client.get(f"/provider/?date={wednesday.isoformat()}").get_data(as_text=True))

    assert hour_labels(body)[:2] == ["09:00", "10:00"]  # Fischer starts at 09:00 on Wednesdays
    [visit] = blocks(body)
    assert visit["id"] == f"event-{demo.paula_physio}"
    assert (visit["row"], visit["span"]) == (60, 45)  # 10:00 is 60 minutes after 09:00; 45 minutes long
    assert "status-pending" in visit["class"] and visit["href"] == f"/provider/bookings/{demo.paula_physio}"
    assert sorted((b["row"], b["span"]) for b in blocks(body, "tg-buffer")) == [(55, 5), (105, 10)]
    # 09:00-12:30 and 13:30-17:00, the break between
    assert [(b["row"], b["span"]) for b in blocks(body, "tg-bg tg-hours")] == [(0, 210), (270, 210)]
    assert [(b["row"], b["span"]) for b in blocks(body, "tg-bg tg-break")] == [(210, 60)]
    assert "Times in Europe/Berlin" in body


def test_the_week_grid_has_seven_days_from_monday_on_one_axis(app, client, demo):
    as_user(app, client, "fischer")
    wednesday = wednesday_of(app, demo)
    monday = wednesday - timedelta(days=wednesday.weekday())

    body = agenda_of(client.get(f"/provider/?view=week&date={wednesday.isoformat()}").get_data(as_text=True))

    cols = column_bodies(body)
    assert list(cols) == [(monday + timedelta(days=i)).isoformat() for i in range(7)]
    assert hour_labels(body)[0] == "09:00" and hour_labels(body)[-1] == "19:00"  # 09:00 (Mon) to 20:00 (Tue)
    assert [(b["row"], b["span"]) for b in blocks(cols[wednesday.isoformat()])] == [(60, 45)]
    tuesday = cols[(monday + timedelta(days=1)).isoformat()]
    # 12:00-15:30 and 16:00-20:00
    assert [(b["row"], b["span"]) for b in blocks(tuesday, "tg-bg tg-hours")] == [(180, 210), (420, 240)]
    weekend = cols[(monday + timedelta(days=5)).isoformat()]
    assert blocks(weekend, "tg-bg tg-hours") == []  # no hours: the column stays grey


def test_approved_time_off_over_several_days_is_drawn_on_each_with_its_local_times(app, client, demo):
    monday = wednesday_of(app, demo) - timedelta(days=wednesday_of(app, demo).weekday()) + timedelta(days=7)
    with app.app_context(), write_transaction():
        db.session.add(TimeOff(organization_id=demo.organization_id, provider_id=demo.fischer,
                               start_at=at(monday, "14:00"), end_at=at(monday + timedelta(days=2), "12:00"),
                               status="approved"))
    as_user(app, client, "fischer")

    week = agenda_of(client.get(f"/provider/?view=week&date={monday.isoformat()}").get_data(as_text=True))
    listed = agenda_of(client.get(f"/provider/?view=week&date={monday.isoformat()}&layout=list")
                       .get_data(as_text=True))

    cols = column_bodies(week)
    last = monday + timedelta(days=2)
    span = (f"{monday.day}–{last.day} {last.strftime('%b')}" if monday.month == last.month
            else f"{monday.day} {monday.strftime('%b')}–{last.day} {last.strftime('%b')}")
    assert [shades(cols[(monday + timedelta(days=i)).isoformat()]) for i in range(4)] == [
        [("time_off", f"Time off from 14:00 {span}")],
        [("time_off", f"Time off All day {span}")],
        [("time_off", f"Time off until 12:00 {span}")],
        [],
    ]
    assert "00:00–00:00" not in week + listed
    times = [r["time"] for r in agenda_items(listed) if r["kind"] == "time_off"]
    assert times == ["from 14:00", "All day", "until 12:00"]  # the list shows it on each day too


def test_a_dst_day_draws_its_real_hours_and_a_visit_at_its_local_time(app, client, demo):
    day = date(2027, 3, 28)  # Berlin springs forward at 02:00: a 23-hour Sunday
    zone = ZoneInfo(BERLIN)
    with app.app_context(), write_transaction():
        db.session.add(AvailabilityException(
            organization_id=demo.organization_id, provider_id=demo.weber, status="available",
            start_at=datetime.combine(day, time(1, 0), tzinfo=zone), end_at=datetime.combine(day, time(5, 0), tzinfo=zone),
            location_id=demo.berlin_id))
    make_booking(app, organization_id=demo.organization_id, provider_id=demo.weber, type_id=demo.consult,
                 location_id=demo.berlin_id, start=datetime.combine(day, time(3, 30), tzinfo=zone), status="confirmed")
    as_user(app, client, "weber")

    body = agenda_of(client.get(f"/provider/?date={day.isoformat()}").get_data(as_text=True))

    assert hour_labels(body)[:3] == ["01:00", "03:00", "04:00"]  # there is no 02:00 that day
    assert [(b["row"], b["span"]) for b in blocks(body)] == [(90, 30)]  # 03:30 is 90 real minutes after 01:00
    assert [(b["row"], b["span"]) for b in blocks(body, "tg-bg tg-extra")] == [(0, 180)]  # 01:00-05:00: 3 hours
    assert "Clocks go forward: a 23-hour day" in body


def test_a_live_refresh_brings_the_pending_badge_and_the_next_visits_out_of_band(app, client, demo):
    as_user(app, client, "fischer")
    wednesday = wednesday_of(app, demo)
    url = f"/provider/?date={wednesday.isoformat()}"
    before = client.get(url, headers=HX_REFRESH).get_data(as_text=True)
    page = client.get(url).get_data(as_text=True)
    fields = form_fields(client.get(f"/provider/bookings/{demo.paula_physio}").get_data(as_text=True),
                         f"/provider/bookings/{demo.paula_physio}/accept")
    assert client.post(f"/provider/bookings/{demo.paula_physio}/accept", data=fields).status_code == 303

    after = client.get(url, headers=HX_REFRESH).get_data(as_text=True)

    assert 'id="pending-badge" class="badge badge-pending" hx-swap-oob="true">2 awaiting approval' in before
    assert 'id="pending-badge" class="badge badge-pending" hx-swap-oob="true">1 awaiting approval' in after
    coming = re.search(r'<section class="card" id="coming-up" hx-swap-oob="true">(.*?)</section>', after, re.DOTALL)
    assert coming and "Paula Patient · Physiotherapy session" in coming.group(1)
    assert 'badge-confirmed">Confirmed' in coming.group(1).split("Paula Patient · Physiotherapy")[1][:600]
    assert "hx-swap-oob" not in page  # a full page has them in place
    assert 'id="agenda" data-live-channels="provider:' in page


# --- the front desk's day ----------------------------------------------------------------------

def test_the_front_desk_day_is_one_axis_with_a_column_per_provider_of_the_location(app, client, demo):
    wednesday = wednesday_of(app, demo)
    as_user(app, client, "frontdesk")

    body = client.get(f"/frontdesk/day?date={wednesday.isoformat()}&location={demo.berlin_id}").get_data(as_text=True)

    cols = column_bodies(body)
    assert list(cols) == [str(demo.weber), str(demo.fischer)]
    assert hour_labels(body)[0] == "08:00"  # Weber starts at 08:00, Fischer at 09:00: one shared axis
    [visit] = blocks(cols[str(demo.fischer)])
    assert (visit["row"], visit["span"]) == (120, 45) and visit["id"] == f"booking-{demo.paula_physio}"
    assert [(b["row"], b["span"]) for b in blocks(cols[str(demo.fischer)], "tg-bg tg-hours")] == [(60, 210),
                                                                                                  (330, 210)]
    assert "Times in Berlin Mitte local time (Europe/Berlin)" in body
    link = f'href="/staff/bookings/{demo.paula_physio}"'  # the block opens the visit: cancel, move
    assert link in cols[str(demo.fischer)]
    assert client.get(f"/staff/bookings/{demo.paula_physio}").status_code == 200


def test_a_free_gap_opens_booking_for_a_caller_with_that_clinician_place_day_and_time(app, client, demo):
    wednesday = wednesday_of(app, demo)
    as_user(app, client, "frontdesk")
    body = client.get(f"/frontdesk/day?date={wednesday.isoformat()}&location={demo.berlin_id}").get_data(as_text=True)
    fischer = column_bodies(body)[str(demo.fischer)]
    gaps = [html.unescape(g["href"]) for g in blocks(fischer, "tg-free")]
    after_visit = next(g for g in gaps if "time=10%3A55" in g or "time=10:55" in g)  # after 10:45 + 10 min buffer
    query = parse_qs(urlsplit(after_visit).query)
    assert query == {"provider_id": [str(demo.fischer)], "location_id": [str(demo.berlin_id)],
                     "date": [wednesday.isoformat()], "time": ["10:55"]}

    find = client.get(after_visit)
    assert ("info", f"Booking Jonas Fischer at Berlin Mitte, {wednesday.strftime('%a %d %b')} from 10:55: "
                    "first find or add the patient.") in flashes(find)
    times = client.get(f"/frontdesk/book/times?patient={user_id(app, PAULA)}")
    assert times.status_code == 302
    target = parse_qs(urlsplit(times.headers["Location"]).query)
    assert target["provider_id"] == [str(demo.fischer)] and target["date"] == [wednesday.isoformat()]
    assert target["at"] == ["10:55"] and target["location_id"] == [str(demo.berlin_id)]
    page = client.get(times.headers["Location"]).get_data(as_text=True)
    suggested = re.search(r'<a class="slot is-suggested" data-start="([^"]+)"', page)
    assert suggested and datetime.fromisoformat(suggested.group(1)) >= at(wednesday, "10:55")
    assert client.get(f"/frontdesk/book/times?patient={user_id(app, PAULA)}").status_code == 200  # used once


@pytest.mark.parametrize(
    "query",
    [
        "provider_id=not-a-uuid&location_id={berlin}&date={day}&time=10:00",
        "provider_id={chen}&location_id={berlin}&date={day}&time=10:00",  # Chen does not work in Berlin
        "provider_id={fischer}&location_id={berlin}&date=31.02.&time=10:00",
        "provider_id={fischer}&location_id={berlin}&date={day}&time=25:99",
    ],
)
def test_a_malformed_gap_link_opens_the_plain_first_step(app, client, demo, query):
    as_user(app, client, "frontdesk")
    url = "/frontdesk/book?" + query.format(berlin=demo.berlin_id, chen=demo.chen, fischer=demo.fischer,
                                            day=wednesday_of(app, demo).isoformat())

    answer = client.get(url)

    assert answer.status_code == 200 and flashes(answer) == []
    assert client.get(f"/frontdesk/book/times?patient={user_id(app, PAULA)}").status_code == 200


def test_the_list_layout_of_the_front_desk_day_stays_and_keeps_itself_on_refresh(app, client, demo):
    as_user(app, client, "frontdesk")
    wednesday = wednesday_of(app, demo)

    body = client.get(f"/frontdesk/day?date={wednesday.isoformat()}&location={demo.berlin_id}&layout=list"
                      ).get_data(as_text=True)

    assert '<section class="card day-column"' in body and "tg-col" not in body
    refetch = html.unescape(re.search(r'id="day-overview"[^>]*hx-get="([^"]*)"', body).group(1))
    assert parse_qs(urlsplit(refetch).query)["layout"] == ["list"]


# --- who may open the views ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("role", "url", "status"),
    [
        ("fischer", "/provider/?view=day&layout=grid", 200),
        ("fischer", "/provider/?view=week&layout=list", 200),
        ("fischer", "/provider/?view=week&date=2027-03-28", 200),
        ("fischer", "/provider/?layout=nonsense&date=nonsense", 200),  # falls back to today's grid
        ("frontdesk", "/provider/?view=week", 403),
        ("patient", "/provider/?view=day&layout=list", 403),
        ("frontdesk", "/frontdesk/day?layout=list", 200),
        ("manager", "/frontdesk/day", 200),
        ("admin", "/frontdesk/day?date=2027-03-28", 200),
        ("fischer", "/frontdesk/day", 403),
        ("patient", "/frontdesk/day?layout=list", 403),
    ],
)
def test_the_grid_and_list_views_open_for_their_roles_only(app, client, demo, role, url, status):
    as_user(app, client, role)

    assert client.get(url).status_code == status
