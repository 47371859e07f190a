"""Availability reads of the user API against the demo clinic: lists and their
filters, per-date counts, the exposure sample (bounds, totals, stickiness, the
"all" variant and the organization switch), time zones, notice and the cache.

Demo hours used below (see app/demo_seed.py): Dr. Weber, Berlin, Monday–Friday
08:00–16:00 with a 12:00–13:00 break, "General consultation" 30 min + 5 min
buffer and 2 h notice; New York offers "Video follow-up" (20 min) with Dr. Chen
and Sam Rivera. Anonymous calls see the portal organization (the demo clinic).
"""
from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.availability.cache import _version_key
from app.database import write_transaction
from app.demo_seed import DOMAIN
from app.extensions import db
from app.models import AppointmentType, AvailabilityException, AvailabilitySlot, Location, Organization, Provider
from app.redis_client import get_redis
from app.scheduling.exposure import day_part
from tests.integration.api_helpers import Api, assert_error, local_iso, next_monday, parse, token, utc_z
from tests.integration.helpers import seed_demo_clinic

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
SLOT_KEYS = {"id", "start", "end", "local_start", "local_end", "provider_id", "location_id", "capacity_left"}


@pytest.fixture
def demo(app, db_session, monkeypatch) -> SimpleNamespace:
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        providers = {p.display_name.split()[-1].lower(): str(p.id) for p in db.session.scalars(select(Provider))}
        types = {t.name: str(t.id) for t in db.session.scalars(select(AppointmentType))}
        locations = {loc.timezone: str(loc.id) for loc in db.session.scalars(select(Location))}
    return SimpleNamespace(
        weber=providers["weber"], fischer=providers["fischer"], chen=providers["chen"], rivera=providers["rivera"],
        consult=types["General consultation"], physio=types["Physiotherapy session"],
        group=types["Back-care group class"], video=types["Video follow-up"],
        berlin=locations[BERLIN], nyc=locations[NEW_YORK],
    )


@pytest.fixture
def api(client) -> Api:
    """An anonymous portal visitor."""
    return Api(client)


# The two exposure scopes of docs/architecture.md, each with the demo type and zone it is read in.
SCOPES = {
    "provider": SimpleNamespace(params=lambda d: {"appointment_type_id": d.consult, "provider_id": d.weber},
                                tz=BERLIN, bounds=(1, 3)),
    "location": SimpleNamespace(params=lambda d: {"appointment_type_id": d.video, "location_id": d.nyc},
                                tz=NEW_YORK, bounds=(3, 5)),
}


def week_of(tz: str) -> list[date]:
    monday = next_monday(tz)
    return [monday + timedelta(days=i) for i in range(7)]


def by_local_day(slots: list[dict]) -> dict[str, list[dict]]:
    out = defaultdict(list)
    for slot in slots:
        out[slot["local_start"][:10]].append(slot)
    return out


def viewer() -> dict:
    return {"X-Session-Id": f"viewer-{uuid.uuid4().hex}"}


# --- lists ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["weber", "chen", "fischer", "rivera"]),  # every active provider, by display name
        ({"location_id": "berlin"}, ["weber", "fischer"]),  # who works in Berlin
        ({"location_id": "nyc"}, ["chen", "rivera"]),  # who works in New York
        ({"appointment_type_id": "consult"}, ["weber", "chen"]),  # who offers the consultation
        ({"appointment_type_id": "group"}, ["fischer"]),  # who runs the group class
        ({"location_id": "nyc", "appointment_type_id": "consult"}, ["chen"]),  # both filters at once
        ({"location_id": "berlin", "appointment_type_id": "physio"}, ["fischer"]),  # physio in Berlin
    ],
)
def test_the_provider_list_can_be_narrowed_by_location_and_appointment_type(api, demo, filters, expected):
    body = api.ok(api.get("/api/v1/providers", {k: getattr(demo, v) for k, v in filters.items()}))
    assert [p["id"] for p in body["providers"]] == [getattr(demo, key) for key in expected]
    for provider in body["providers"]:
        assert set(provider) >= {"id", "name", "specialty", "timezone", "location_ids"}
        assert "email" not in provider and "bio" not in provider


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        (None, ["group", "consult", "physio", "video"]),  # every active type, by name
        ("fischer", ["group", "physio"]),  # the physiotherapist's two types
        ("chen", ["consult", "video"]),  # a dermatologist in New York
        ("rivera", ["video"]),  # the nutritionist only sees patients by video
    ],
)
def test_the_appointment_type_list_can_be_narrowed_by_provider(api, demo, provider, expected):
    params = {"provider_id": getattr(demo, provider)} if provider else {}
    body = api.ok(api.get("/api/v1/appointment-types", params))
    assert [t["id"] for t in body["appointment_types"]] == [getattr(demo, key) for key in expected]


def test_an_unknown_appointment_type_filter_is_not_found(api, demo):
    response = api.get("/api/v1/providers", {"appointment_type_id": str(uuid.uuid4())})
    assert_error(response, 404, "NOT_FOUND")


# --- dates and the "all" variant --------------------------------------------------------------------

@pytest.mark.parametrize("scope", ["provider", "location"])  # one provider's dates; a whole location's
def test_dates_give_one_entry_per_day_counting_exactly_the_open_slots(api, demo, scope):
    case = SCOPES[scope]
    week = week_of(case.tz)
    span = {**case.params(demo), "from": week[0].isoformat(), "to": week[-1].isoformat()}
    body = api.ok(api.get("/api/v1/dates", span))
    assert body["timezone"] == case.tz
    assert [d["date"] for d in body["dates"]] == [day.isoformat() for day in week]

    every = api.all_slots(span)
    counts = Counter(s["local_start"][:10] for s in every)
    assert {d["date"]: d["available"] for d in body["dates"]} == {day.isoformat(): counts[day.isoformat()]
                                                                 for day in week}
    assert sum(d["available"] for d in body["dates"]) == len(every) > 0
    assert any(d["available"] == 0 for d in body["dates"])  # a day off (Sunday) is listed with zero


def test_the_all_variant_returns_every_open_slot_of_the_materialized_table(app, api, demo):
    week = week_of(BERLIN)
    every = api.all_slots({"appointment_type_id": demo.consult, "provider_id": demo.weber,
                           "from": week[0].isoformat(), "to": week[-1].isoformat()})
    with app.app_context():
        rows = db.session.scalars(select(AvailabilitySlot).where(
            AvailabilitySlot.provider_id == uuid.UUID(demo.weber),
            AvailabilitySlot.appointment_type_id == uuid.UUID(demo.consult),
            AvailabilitySlot.status.in_(("open", "partial")),
            AvailabilitySlot.local_date >= week[0], AvailabilitySlot.local_date <= week[-1],
        ).order_by(AvailabilitySlot.start_at)).all()
        expected = [(str(r.id), utc_z(r.start_at), r.capacity - r.booked - r.held) for r in rows]
    assert [(s["id"], s["start"], s["capacity_left"]) for s in every] == expected
    assert 5 * 14 - 3 <= len(every) <= 5 * 14  # 14 half-hours a weekday, less at most one demo booking's three


def test_every_slot_carries_ids_utc_times_local_times_and_free_capacity_only(api, demo):
    week = week_of(BERLIN)
    every = api.all_slots({"appointment_type_id": demo.consult, "provider_id": demo.weber,
                           "from": week[0].isoformat(), "to": week[-1].isoformat()})
    assert every
    for slot in every:
        assert set(slot) == SLOT_KEYS  # the public-safe projection: no patient, no reason
        uuid.UUID(slot["id"])
        assert slot["start"].endswith("Z") and slot["end"].endswith("Z")
        assert parse(slot["end"]) - parse(slot["start"]) == timedelta(minutes=30)
        assert parse(slot["local_start"]) == parse(slot["start"])
        assert slot["local_start"][19:] in ("+01:00", "+02:00")  # Berlin offsets
        assert (slot["provider_id"], slot["location_id"]) == (demo.weber, demo.berlin)
        assert slot["capacity_left"] >= 1
    assert [s["start"] for s in every] == sorted(s["start"] for s in every)


def test_the_timezone_parameter_changes_local_times_but_not_the_instants(api, demo):
    day = week_of(BERLIN)[0].isoformat()  # Berlin 08:00-16:00 is 02:00-10:00 in New York: the same date
    params = {"appointment_type_id": demo.consult, "provider_id": demo.weber, "date": day}
    berlin = api.all_slots(params)
    assert berlin[0]["local_start"][:16] == f"{day}T08:00"
    body = api.ok(api.get("/api/v1/slots", {**params, "timezone": NEW_YORK}, {"X-Exposure-Variant": "all"}))
    assert body["timezone"] == NEW_YORK
    new_york = body["slots"]
    assert [(s["id"], s["start"], s["end"]) for s in new_york] == [(s["id"], s["start"], s["end"]) for s in berlin]
    for ny, de in zip(new_york, berlin, strict=True):
        assert ny["local_start"] != de["local_start"]
        assert parse(ny["local_start"]) == parse(de["local_start"]) == parse(de["start"])
        assert ny["local_start"] == parse(de["start"]).astimezone(ZoneInfo(NEW_YORK)).isoformat()


# --- the exposure sample ----------------------------------------------------------------------------

@pytest.mark.parametrize("scope", ["provider", "location"])  # 1-3 slots for a provider, 3-5 for a location
def test_the_sample_shows_a_bounded_spread_out_subset_of_each_day_with_honest_totals(api, demo, scope):
    case = SCOPES[scope]
    fewest, most = case.bounds
    who = viewer()
    for day in week_of(case.tz):
        params = {**case.params(demo), "date": day.isoformat()}
        every = api.all_slots(params)
        body = api.ok(api.get("/api/v1/slots", params, who))
        shown = body["slots"]
        assert body["total"] == len(every)
        assert body["has_more"] == (len(every) > len(shown))
        if not every:
            assert shown == [] and body["has_more"] is False
            continue
        assert min(fewest, len(every)) <= len(shown) <= min(most, len(every))
        assert shown == [s for s in every if s in shown]  # the same slots, whole, in time order
        open_parts = {day_part(parse(s["local_start"])) for s in every} - {"other"}
        shown_parts = {day_part(parse(s["local_start"])) for s in shown} - {"other"}
        assert len(shown_parts) == min(len(shown), len(open_parts))  # spread across parts of the day first


def test_a_multi_day_query_samples_each_day_and_totals_them(api, demo):
    case = SCOPES["provider"]
    week = week_of(case.tz)
    span = {**case.params(demo), "from": week[0].isoformat(), "to": week[-1].isoformat()}
    every = by_local_day(api.all_slots(span))
    body = api.ok(api.get("/api/v1/slots", span, viewer()))
    assert body["total"] == sum(len(v) for v in every.values())
    assert body["has_more"] is True
    shown = by_local_day(body["slots"])
    assert set(shown) == set(every)  # every open day shows something
    for day, slots in shown.items():
        assert 1 <= len(slots) <= 3
        assert {s["id"] for s in slots} <= {s["id"] for s in every[day]}


def test_the_same_viewer_sees_the_same_sample_again(api, demo):
    who = viewer()
    params = {"appointment_type_id": demo.video, "location_id": demo.nyc}
    for day in week_of(NEW_YORK)[1:4]:
        first = api.get("/api/v1/slots", {**params, "date": day.isoformat()}, who)
        again = api.get("/api/v1/slots", {**params, "date": day.isoformat()}, who)
        assert api.ok(first) == api.ok(again)
        assert first.get_json()["slots"]


def test_an_organization_that_switched_sampling_off_shows_every_slot(app, api, demo):
    with app.app_context():
        with write_transaction():
            db.session.scalars(select(Organization)).one().slot_exposure_enabled = False
    params = {"appointment_type_id": demo.consult, "provider_id": demo.weber, "date": week_of(BERLIN)[0].isoformat()}
    plain = api.ok(api.get("/api/v1/slots", params, viewer()))
    assert plain["slots"] == api.all_slots(params)
    assert plain["total"] == len(plain["slots"]) == 14 and plain["has_more"] is False


# --- notice and cache -------------------------------------------------------------------------------

def test_slots_never_start_before_now_plus_the_minimum_notice(client, api, demo):
    admin = Api(client, token(client, f"admin@{DOMAIN}"))
    now = datetime.now(timezone.utc)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    end = start + timedelta(hours=6)
    admin.created("/api/admin/v1/availabilities", {  # an extra window from an hour ago to five hours ahead
        "kind": "exception", "provider_id": demo.weber, "status": "available",
        "start_at": utc_z(start), "end_at": utc_z(end),
    })
    today = now.astimezone(ZoneInfo(BERLIN)).date()
    every = api.all_slots({"appointment_type_id": demo.consult, "provider_id": demo.weber,
                           "from": (today - timedelta(days=1)).isoformat(),
                           "to": (today + timedelta(days=1)).isoformat()})
    starts = [parse(s["start"]) for s in every]
    assert all(s >= now + timedelta(minutes=120) for s in starts)  # the consultation's two hours of notice
    in_window = [s for s in starts if s < end]
    assert in_window, "the extra window still offers its later slots"
    assert min(in_window) - (now + timedelta(minutes=120)) <= timedelta(minutes=31)  # the first one on the grid


def test_a_new_blocked_exception_bumps_the_cache_and_the_next_read_drops_its_slots(app, client, api, demo):
    day = week_of(BERLIN)[2]  # a Wednesday without demo bookings
    params = {"appointment_type_id": demo.consult, "provider_id": demo.weber, "date": day.isoformat()}
    before = api.all_slots(params)
    assert api.all_slots(params) == before  # a cached read answers the same
    with app.app_context():
        version_before = int(get_redis().get(_version_key(demo.weber)) or 0)

    admin = Api(client, token(client, f"admin@{DOMAIN}"))
    admin.created("/api/admin/v1/availabilities", {
        "kind": "exception", "provider_id": demo.weber, "status": "blocked",
        "start_at": local_iso(day, "09:00", BERLIN), "end_at": local_iso(day, "10:00", BERLIN),
    })
    with app.app_context():
        assert int(get_redis().get(_version_key(demo.weber)) or 0) > version_before

    after = api.all_slots(params)
    gone = [s["local_start"][11:16] for s in before if s not in after]
    assert gone == ["08:30", "09:00", "09:30"]  # 08:30 + 30 min visit + 5 min buffer reaches into 09:00
    assert [s for s in before if s["local_start"][11:16] not in gone] == after



# --- known bugs in the sticky sample ------------------------------------------------------------------

def test_a_day_past_the_horizon_keeps_the_viewers_sample_without_repeats(api, demo):
    day = next_monday(NEW_YORK) + timedelta(days=23)  # a Wednesday past the 14-day horizon
    params = {"appointment_type_id": demo.video, "location_id": demo.nyc, "date": day.isoformat()}
    who = viewer()
    first = api.ok(api.get("/api/v1/slots", params, who))
    assert all(s["id"] is None for s in first["slots"]) and len(first["slots"]) >= 3
    again = api.ok(api.get("/api/v1/slots", params, who))
    starts = [(s["provider_id"], s["start"]) for s in again["slots"]]
    assert len(set(starts)) == len(starts), "the same slot is shown more than once"
    assert again == first


def test_a_viewer_whose_sampled_slots_were_taken_still_sees_the_minimum(app, api, demo):
    day = week_of(NEW_YORK)[2]
    params = {"appointment_type_id": demo.video, "location_id": demo.nyc, "date": day.isoformat()}
    who = viewer()
    shown = api.ok(api.get("/api/v1/slots", params, who))["slots"]
    assert 3 <= len(shown) <= 5
    with app.app_context():  # take all but two of the shown slots, and nothing else:
        with write_transaction():  # a block from 5 min after the start misses the previous slot's buffer
            for slot in shown[:-2]:
                start = parse(slot["start"])
                db.session.add(AvailabilityException(
                    organization_id=db.session.get(Provider, uuid.UUID(slot["provider_id"])).organization_id,
                    provider_id=uuid.UUID(slot["provider_id"]), status="blocked",
                    start_at=start + timedelta(minutes=5), end_at=start + timedelta(minutes=15)))
    every = api.all_slots(params)
    assert {s["id"] for s in shown[-2:]} <= {s["id"] for s in every}
    assert not {s["id"] for s in shown[:-2]} & {s["id"] for s in every}
    again = api.ok(api.get("/api/v1/slots", params, who))
    assert again["total"] == len(every) >= 3
    assert len(again["slots"]) >= 3
