"""The weekly hours editor (/provider/hours) and the insights page (/provider/insights).

Jonas Fischer (demo) works in Berlin Mon/Wed/Fri 09:00-17:00 (break 12:30-13:30) and
Tue/Thu 12:00-20:00 (break 15:30-16:00). Saving replaces those rules, the slots table
follows at commit, and the preview shows what patients would gain and lose.
"""
from __future__ import annotations

import re
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.clinic import setup
from app.extensions import db
from app.models import AvailabilityRule, AvailabilitySlot, Booking, BookingEvent, utcnow
from app.queries.analytics import heatmap_of, minutes_inside, open_minutes
from tests.integration.booking_helpers import at, berlin_today, day_ahead
from tests.integration.helpers import field_error, page_text
from tests.integration.test_staff_pages import as_user, demo, flashes, follow, make_booking  # noqa: F401
from tests.slot_assertions import assert_slots_match_engine

_HIDDEN = re.compile(r'name="(csrf_token|form_token|location_id)"[^>]*value="([^"]*)"')


def hidden_fields(client, path: str = "/provider/hours") -> dict[str, str]:
    body = client.get(path).get_data(as_text=True)
    found = dict(_HIDDEN.findall(body))
    assert {"csrf_token", "form_token", "location_id"} <= set(found), found
    return found


def week_form(days: dict[int, tuple[str, str, list[tuple[str, str]]]], **extra) -> dict[str, str]:
    """Form fields for `days` (ISO weekday -> (start, end, breaks)); other days off."""
    data = {"parallel_sessions": "1"}
    for number, (start, end, breaks) in days.items():
        prefix = f"day{number}-"
        data |= {prefix + "works": "y", prefix + "start": start, prefix + "end": end}
        for i, (a, b) in enumerate(breaks, start=1):
            data |= {f"{prefix}break{i}_start": a, f"{prefix}break{i}_end": b}
    return data | extra


def fischer_rules(app, demo) -> list[tuple]:
    with app.app_context():
        rules = db.session.scalars(select(AvailabilityRule).where(AvailabilityRule.provider_id == demo.fischer))
        return sorted((tuple(r.weekdays), r.start_time, r.end_time,
                       tuple((b.start_time, b.end_time) for b in r.breaks), r.parallel_sessions) for r in rules)


ORIGINAL = [((1, 3, 5), time(9), time(17), ((time(12, 30), time(13, 30)),), 1),
            ((2, 4), time(12), time(20), ((time(15, 30), time(16)),), 1)]


def local_starts(app, demo, day) -> list[str]:
    """Fischer's open physiotherapy start times on a Berlin day, from the slots table."""
    with app.app_context():
        rows = db.session.scalars(select(AvailabilitySlot.start_at).where(
            AvailabilitySlot.provider_id == demo.fischer, AvailabilitySlot.appointment_type_id == demo.physio,
            AvailabilitySlot.local_date == day).order_by(AvailabilitySlot.start_at))
        return [r.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") for r in rows]


# --- the editor --------------------------------------------------------------------------------

def test_the_editor_shows_the_saved_hours_per_weekday(app, client, demo):
    as_user(app, client, "fischer")
    body = client.get("/provider/hours").get_data(as_text=True)
    for number, works in zip(range(7), [True, True, True, True, True, False, False]):
        checkbox = re.search(rf'<input[^>]*name="day{number + 1}-works"[^>]*>', body).group(0)
        assert ("checked" in checkbox) is works, (number, checkbox)
    assert re.search(r'name="day1-start"[^>]*value="09:00"', body)
    assert re.search(r'name="day2-end"[^>]*value="20:00"', body)
    assert re.search(r'name="day4-break1_start"[^>]*value="15:30"', body)
    assert "Berlin Mitte" in body and "Europe/Berlin" in body


def test_saving_replaces_the_rules_and_the_slots_follow(app, client, demo):
    as_user(app, client, "fischer")
    monday, tuesday = day_ahead(1), day_ahead(2)
    assert local_starts(app, demo, tuesday)  # he works Tuesdays before the change
    response = client.post("/provider/hours", data=hidden_fields(client) | week_form(
        {1: ("08:00", "12:00", []), 3: ("08:00", "12:00", []), 5: ("14:00", "18:00", [("16:00", "16:30")])}))
    page = follow(client, response)
    assert ("success", "Weekly hours at Berlin Mitte saved. Patients see the new times now.") in flashes(page)
    # his Thursday group class is no longer inside his hours: said, and left booked
    [warning] = [text for kind, text in flashes(page) if kind == "warning"]
    assert "outside these hours" in warning and "Thu" in warning

    # days with the same hours share one rule
    assert fischer_rules(app, demo) == [((1, 3), time(8), time(12), (), 1),
                                        ((5,), time(14), time(18), ((time(16), time(16, 30)),), 1)]
    # 45-minute visits on a 45-minute grid from the window start; the last one ends at 11:45 (+10 min buffer)
    assert local_starts(app, demo, monday) == ["08:00", "08:45", "09:30", "10:15", "11:00"]
    assert local_starts(app, demo, tuesday) == []
    with app.app_context():
        assert_slots_match_engine(demo.fischer, berlin_today() + timedelta(days=2), berlin_today() + timedelta(days=13))


def test_saving_the_same_hours_again_warns_of_nothing(app, client, demo):
    as_user(app, client, "fischer")
    same = {1: ("09:00", "17:00", [("12:30", "13:30")]), 3: ("09:00", "17:00", [("12:30", "13:30")]),
            5: ("09:00", "17:00", [("12:30", "13:30")]), 2: ("12:00", "20:00", [("15:30", "16:00")]),
            4: ("12:00", "20:00", [("15:30", "16:00")])}
    page = follow(client, client.post("/provider/hours", data=hidden_fields(client) | week_form(same)))
    assert fischer_rules(app, demo) == ORIGINAL
    assert [kind for kind, _ in flashes(page)] == ["success"]


def test_a_double_submitted_save_runs_once(app, client, demo):
    as_user(app, client, "fischer")
    data = hidden_fields(client) | week_form({2: ("10:00", "14:00", [])})
    first, second = client.post("/provider/hours", data=data), client.post("/provider/hours", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert fischer_rules(app, demo) == [((2,), time(10), time(14), (), 1)]


@pytest.mark.parametrize("days, field, message", [
    ({1: ("17:00", "09:00", [])}, "day1-end", "The day must end after it starts."),
    ({2: ("09:00", "13:00", [("08:00", "08:30")])}, "day2-break1_start", "A break must lie inside the working hours."),
    ({3: ("09:00", "13:00", [("11:00", "10:00")])}, "day3-break1_start", "A break must end after it starts."),
    ({4: ("09:00", "17:00", [("10:00", "12:00"), ("11:00", "13:00")])}, "day4-break2_start", "The breaks overlap."),
    ({5: ("09:00", "", [])}, "day5-end", "Give a time like 09:00."),
    ({1: ("09:00", "12:00", [("10:00", "")])}, "day1-break1_start", "Give both ends of the break, or neither."),
    ({1: ("9 o'clock", "12:00", [])}, "day1-start", "Not a valid time value."),
])
def test_a_bad_day_is_explained_at_its_field_and_nothing_changes(app, client, demo, days, field, message):
    as_user(app, client, "fischer")
    response = client.post("/provider/hours", data=hidden_fields(client) | week_form(days))
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert fischer_rules(app, demo) == ORIGINAL


def test_parallel_sessions_out_of_range_is_refused(app, client, demo):
    as_user(app, client, "fischer")
    response = client.post("/provider/hours", data=hidden_fields(client) | week_form(
        {1: ("09:00", "12:00", [])}, parallel_sessions="0"))
    assert response.status_code == 422
    assert "Number must be between 1 and 20." in page_text(response)
    assert fischer_rules(app, demo) == ORIGINAL


def test_hours_overlapping_those_at_another_location_are_refused_at_the_day(app, client, demo):
    with app.app_context():
        setup.update_provider(demo.organization_id, demo.fischer, {"location_ids": [demo.berlin_id, demo.nyc_id]})
        setup.add_weekly_rule(demo.organization_id, kind="weekly", provider_id=demo.fischer, location_id=demo.nyc_id,
                              days_of_week=[6], start_time=time(10), end_time=time(14), breaks=[],
                              valid_from=None, valid_to=None)
    before = fischer_rules(app, demo)
    as_user(app, client, "fischer")
    fields = hidden_fields(client, f"/provider/hours?location={demo.berlin_id}")
    response = client.post("/provider/hours", data=fields | week_form({6: ("09:00", "11:00", [])}))
    assert response.status_code == 422
    assert field_error(response, "day6-start") == "Overlaps your hours at New York Midtown (10:00–14:00)."
    assert fischer_rules(app, demo) == before
    # and the New York hours show on the Berlin page as "not edited here"
    assert "Other hours (not edited here)" in page_text(client.get(f"/provider/hours?location={demo.berlin_id}"))


def test_a_location_the_provider_does_not_serve_is_404(app, client, demo):
    as_user(app, client, "fischer")
    assert client.get(f"/provider/hours?location={demo.nyc_id}").status_code == 404
    fields = hidden_fields(client) | {"location_id": str(demo.nyc_id)}
    assert client.post("/provider/hours", data=fields | week_form({1: ("09:00", "12:00", [])})).status_code == 404
    assert fischer_rules(app, demo) == ORIGINAL


@pytest.mark.parametrize("role", ["patient", "frontdesk", "admin"])
def test_only_providers_edit_their_hours(app, client, demo, role):
    as_user(app, client, role)
    assert client.get("/provider/hours").status_code == 403
    assert client.get("/provider/insights").status_code == 403


# --- the preview -------------------------------------------------------------------------------

def preview_days(body: str) -> dict[str, dict[str, list[str]]]:
    out = {}
    for day, inner in re.findall(r'<li class="preview-day" data-date="([^"]+)">(.*?)</li>\s*(?=<li class="preview-day"|</ol>)',
                                 body, re.S):
        out[day] = {
            "added": re.findall(r'<li class="slot-added">([^<]+)</li>', inner),
            "removed": re.findall(r'<li class="slot-removed"><s>([^<]+)</s></li>', inner),
            "kept": re.findall(r"<li>(\d\d:\d\d)</li>", inner),
        }
    return out


def test_the_preview_shows_gained_and_lost_times_and_writes_nothing(app, client, demo):
    from app.clinic.weekly_hours import DayHours, replace_weekly_hours

    with app.app_context():  # every day 09:00-17:00, lunch 12:30-13:30; a day ahead without bookings
        replace_weekly_hours(demo.organization_id, demo.fischer, demo.berlin_id,
                             {n: DayHours(time(9), time(17), ((time(12, 30), time(13, 30)),)) for n in range(1, 8)})
        busy = {b.start_at.astimezone(ZoneInfo("Europe/Berlin")).date() for b in db.session.scalars(
            select(Booking).where(Booking.provider_id == demo.fischer))}
    day = next(d for d in (berlin_today() + timedelta(days=n) for n in range(2, 7)) if d not in busy)
    saved = fischer_rules(app, demo)
    as_user(app, client, "fischer")
    fields = hidden_fields(client) | {"appointment_type_id": str(demo.physio)}
    # 45-minute visits, 10-minute buffer after: 08:15-11:00 offers 08:15, 09:00, 09:45
    response = client.post("/provider/hours/preview",
                           data=fields | week_form({n: ("08:15", "11:00", []) for n in range(1, 8)}))
    assert response.status_code == 200
    shown = preview_days(response.get_data(as_text=True))[day.isoformat()]
    assert shown["added"] == ["08:15"]
    assert shown["kept"] == ["09:00", "09:45"]
    assert shown["removed"] == ["10:30", "11:15", "13:30", "14:15", "15:00", "15:45"]
    assert fischer_rules(app, demo) == saved


def test_the_preview_of_an_unsound_day_asks_for_a_fix(app, client, demo):
    as_user(app, client, "fischer")
    response = client.post("/provider/hours/preview",
                           data=hidden_fields(client) | week_form({1: ("11:00", "07:00", [])}))
    assert response.status_code == 200
    assert "Fix the marked days to see the preview." in page_text(response)


def test_without_a_visit_type_the_preview_says_what_is_missing(app, client, demo):
    from app.models import AppointmentType

    with app.app_context():
        for kind in db.session.scalars(select(AppointmentType)):
            kind.providers = [p for p in kind.providers if p.id != demo.fischer]
        db.session.commit()
    as_user(app, client, "fischer")
    page = page_text(client.get("/provider/hours"))
    assert "Link a visit type to this clinician" in page and "Fix the marked days" not in page


# --- insights ----------------------------------------------------------------------------------

def test_minutes_and_open_time_arithmetic():
    t0 = at(day_ahead(1), "09:00")
    h = timedelta(hours=1)
    # overlapping intervals count once; clipping at the range
    assert minutes_inside([(t0, t0 + 2 * h), (t0 + h, t0 + 3 * h)], t0, t0 + 10 * h) == 180
    assert minutes_inside([(t0 - h, t0 + h)], t0, t0 + 10 * h) == 60
    # 8 open hours, 1.5 blocked inside them (one block half outside the window)
    windows = [(t0, t0 + 4 * h), (t0 + 5 * h, t0 + 9 * h)]
    assert open_minutes(windows, [(t0 + h, t0 + 2 * h), (t0 + 8.5 * h, t0 + 12 * h)]) == 8 * 60 - 90


def test_heatmap_counts_by_local_weekday_and_hour():
    tuesday = day_ahead(2)
    starts = [at(tuesday, "10:15"), at(tuesday, "10:45"), at(tuesday, "06:30"), at(tuesday + timedelta(days=1), "10:00")]
    heat = heatmap_of(starts, "Europe/Berlin")
    assert heat.hours[0] == 6 and heat.hours[-1] == 19  # widened to the early booking
    assert heat.counts[1][heat.hours.index(10)] == 2
    assert heat.counts[1][heat.hours.index(6)] == 1
    assert heat.counts[2][heat.hours.index(10)] == 1
    assert (heat.total, heat.peak) == (4, 2)


def test_insights_page_shows_the_four_numbers_and_the_heatmap(app, client, demo):
    now = utcnow()
    past = [now - timedelta(days=d) for d in (3, 4, 5, 6)]
    for when, status in zip(past, ["completed", "completed", "completed", "no_show"]):
        make_booking(app, organization_id=demo.organization_id, provider_id=demo.fischer, type_id=demo.physio,
                     location_id=demo.berlin_id, start=when, status=status)
    as_user(app, client, "fischer")
    body = client.get("/provider/insights").get_data(as_text=True)
    stat = lambda key: re.search(rf'id="stat-{key}">\s*<span class="stat-value">([^<]*)<', body).group(1)  # noqa: E731
    assert stat("no-show") == "25%"
    with app.app_context():
        upcoming = db.session.scalar(select(func.count()).select_from(Booking).where(
            Booking.provider_id == demo.fischer, Booking.status.in_(("pending", "confirmed")), Booking.start_at >= now))
        held = db.session.scalar(select(func.count()).select_from(BookingEvent).where(BookingEvent.action == "held"))
    assert stat("upcoming") == str(upcoming) and upcoming >= 3
    assert stat("conversion") == ("—" if not held else stat("conversion"))
    assert stat("utilization").endswith("%")
    cells = {(int(d), int(h)): int(c) for d, h, c in
             re.findall(r'data-weekday="(\d)" data-hour="(\d+)" data-count="(\d+)"', body)}
    assert len({d for d, _ in cells}) == 7
    local = past[0].astimezone(ZoneInfo("Europe/Berlin"))
    assert cells[(local.isoweekday(), local.hour)] >= 1
    assert sum(cells.values()) >= 4 + upcoming


def test_conversion_counts_holds_that_were_confirmed(app, client, demo):
    from app.booking import hold as holds, lifecycle
    from app.booking.actors import Actor
    from app.booking.hold import Contact

    with app.app_context():
        staff = Actor(role="frontdesk", organization_id=demo.organization_id)
        open_slots = db.session.scalars(select(AvailabilitySlot).where(
            AvailabilitySlot.provider_id == demo.fischer, AvailabilitySlot.appointment_type_id == demo.physio,
            AvailabilitySlot.local_date >= day_ahead(1), AvailabilitySlot.status == "open")
            .order_by(AvailabilitySlot.start_at)).all()
        slots = list({slot.local_date: slot for slot in reversed(open_slots)}.values())[:3]  # one per day
        made = [holds.hold(staff, contact=Contact(name=f"Caller {i}", email="c@example.com"), provider_id=demo.fischer,
                           appointment_type_id=demo.physio, start=slot.start_at, source="staff")
                for i, slot in enumerate(slots)]
        lifecycle.confirm(staff, made[0].booking.id, hold_token=made[0].hold_token)
    as_user(app, client, "fischer")
    body = page_text(client.get("/provider/insights"))
    assert "1 of 3 holds confirmed in the last 30 days" in body
    assert re.search(r'id="stat-conversion">\s*<span class="stat-value">33%<', body)


# --- live announcements ------------------------------------------------------------------------

def messages_on(app, channels: list[str], action, seconds: float = 1.5) -> list[tuple[str, dict]]:
    """(channel, message) pairs published on `channels` while `action()` runs (and a moment after)."""
    import json
    import time as clock

    from app.redis_client import get_redis

    with app.app_context():
        pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(*channels)
    while pubsub.get_message(timeout=1.0) is None and not pubsub.subscribed:
        pass
    action()
    got, deadline = [], clock.monotonic() + seconds
    while clock.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "message":
            channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
            got.append((channel, json.loads(message["data"])))
    pubsub.close()
    return got


def test_saved_hours_are_announced_on_the_providers_slot_and_agenda_channels(app, client, demo):
    as_user(app, client, "fischer")
    base = f"bookwell:org:{demo.organization_id}"
    channels = [f"{base}:slots:{demo.fischer}", f"{base}:provider:{demo.fischer}"]
    data = hidden_fields(client) | week_form({1: ("08:00", "12:00", [])})
    got = messages_on(app, channels, lambda: client.post("/provider/hours", data=data))
    assert sorted(got, key=str) == sorted(
        [(name, {"event": "availability", "provider_id": str(demo.fischer)}) for name in channels], key=str)


def test_a_booking_change_is_announced_once_by_its_own_event(app, demo):
    from app.booking import hold as holds
    from app.booking.actors import Actor
    from app.booking.hold import Contact

    base = f"bookwell:org:{demo.organization_id}"
    with app.app_context():
        slot = db.session.scalars(select(AvailabilitySlot).where(
            AvailabilitySlot.provider_id == demo.fischer, AvailabilitySlot.appointment_type_id == demo.physio,
            AvailabilitySlot.local_date >= day_ahead(1), AvailabilitySlot.status == "open")
            .order_by(AvailabilitySlot.start_at)).first()
        start = slot.start_at

    def book():
        with app.app_context():
            holds.hold(Actor(role="frontdesk", organization_id=demo.organization_id),
                       contact=Contact(name="Caller", email="c@example.com"), provider_id=demo.fischer,
                       appointment_type_id=demo.physio, start=start, source="staff")

    got = messages_on(app, [f"{base}:slots:{demo.fischer}"], book)
    assert [message["event"] for _, message in got] == ["held"]


# --- rules the editor cannot show -------------------------------------------------------------

def _second_monday_window(app, demo, start: time = time(18), end: time = time(20)) -> None:
    """Give Fischer a second Monday window at his location, as the admin API could."""
    from app.database import write_transaction
    from app.models import weekday_mask

    with app.app_context(), write_transaction():
        first = db.session.scalars(select(AvailabilityRule).where(AvailabilityRule.provider_id == demo.fischer)).first()
        db.session.add(AvailabilityRule(
            organization_id=first.organization_id, kind="weekly", provider_id=demo.fischer,
            location_id=first.location_id, room_id=first.room_id, weekday_mask=weekday_mask([1]), start_time=start,
            end_time=end, parallel_sessions=1, priority=0))


@pytest.mark.parametrize("start, end, reason", [
    (time(18), time(20), "Monday has more than one window (09:00–17:00 and 18:00–20:00)."),  # two windows
    (time(22), time(2), "22:00–02:00 runs past midnight."),  # an overnight window
])
def test_hours_the_editor_cannot_show_are_listed_and_never_deleted_by_a_save(app, client, demo, start, end, reason):
    _second_monday_window(app, demo, start, end)
    before = fischer_rules(app, demo)
    as_user(app, client, "fischer")
    page = client.get("/provider/hours").get_data(as_text=True)
    assert "more detailed than this editor can show" in page and reason in page
    assert re.search(r'<button[^>]*type="submit"[^>]*disabled', page)

    # Saving the form as shown (a crafted POST: the button is disabled) changes nothing.
    response = client.post("/provider/hours", data=hidden_fields(client) | week_form(
        {1: ("09:00", "17:00", [("12:30", "13:30")]), 3: ("09:00", "17:00", [("12:30", "13:30")])}))
    assert response.status_code == 409
    assert reason in page_text(response)
    assert fischer_rules(app, demo) == before
