"""Invariant 1 (no overbooking, ever) and invariant 4 (idempotency) against a real server.

One gunicorn server per backend (3 worker processes x 8 threads) on a fresh database
seeded with the demo clinic; requests race from many client threads, so holds really
run concurrently in different processes. The database is then checked with plain SQL.

Each test works on its own provider or dates so the tests of one module-scoped server
do not disturb each other:
  - the 50-way race:      Dr. Anna Weber, General consultation
  - the group race:       Jonas Fischer, Back-care group class
  - 800 random holds:     Sam Rivera, three types created through the admin API
  - idempotency:          Dr. Maya Chen, General consultation
  - the shared room race: two providers created for it, one room of capacity 1
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import bindparam, text
from sqlalchemy.types import Uuid

from tests.integration import live_server as ls

BACKENDS = ["sqlite", "postgresql"]
RANDOM_HOLDS = 800  # enough mixed overlaps to find an overbooking; keeps the suite short
RANDOM_CLIENTS = 16


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, make_database, redis_url, test_root):
    backend = request.param
    with ls.live_server(backend, make_database(backend), redis_url, test_root) as running:
        yield running


@pytest.fixture(scope="module")
def clinic(server):
    """Ids of the demo clinic on this server: providers and types by name."""
    providers = ls.providers(server)
    return {
        "providers": {name: p["id"] for name, p in providers.items()},
        "types": {name: t["id"] for name, t in ls.appointment_types(server).items()},
        "type_rows": ls.appointment_types(server),
    }


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _race(count: int, send) -> list[tuple[int, dict | None, float]]:
    """Run `send(i)` in `count` threads released together; (status, json, seconds) each."""
    barrier = threading.Barrier(count)

    def one(index: int):
        http = requests.Session()
        try:
            barrier.wait(timeout=30)
            started = time.perf_counter()
            response = send(http, index)
            elapsed = time.perf_counter() - started
            try:
                body = response.json()
            except ValueError:
                body = None
            return response.status_code, body, elapsed
        finally:
            http.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def _codes(results) -> Counter:
    return Counter((status, (body or {}).get("error", {}).get("code")) for status, body, _ in results)


def _no_5xx(server, results) -> None:
    errors = [(status, body) for status, body, _ in results if status >= 500]
    assert not errors, f"{len(errors)} server errors, first: {errors[0]}\n--- server log ---\n{server.log_tail()}"


def _first_open_slot(server, type_id: str, provider_id: str, days, capacity: int) -> dict:
    for day in days:
        for slot in ls.open_slots(server, type_id, provider_id, day):
            if slot["capacity_left"] == capacity:
                return slot
    raise AssertionError(f"no open slot with {capacity} places on {days}")


def _guest(index: int) -> dict:
    return {"name": f"Racer {index}", "email": f"racer{index}@example.com"}


# --- 1. 50 holds on one place --------------------------------------------------------------

def test_fifty_parallel_holds_on_a_one_to_one_slot_give_exactly_one_booking(server, clinic):
    weber = clinic["providers"]["Dr. Anna Weber"]
    consult = clinic["types"]["General consultation"]
    days = ls.local_days("Europe/Berlin", 3, 12, {1, 2, 3, 4, 5})
    slot = _first_open_slot(server, consult, weber, days, capacity=1)

    results = _race(50, lambda http, i: http.post(
        server.url("/api/v1/bookings"), json={"slot_id": slot["id"], **_guest(i)}, headers=ls.headers(),
        timeout=60))

    _no_5xx(server, results)
    codes = _codes(results)
    assert codes == Counter({(201, None): 1, (409, "SLOT_FULL"): 49}), codes
    winner = next(body for status, body, _ in results if status == 201)
    assert winner["status"] == "held" and winner["start"] == slot["start"]
    live = ls.live_bookings_at(server, weber, _instant(slot["start"]))
    assert [str(row["id"]) for row in live] == [winner["id"]]


# --- 2. a group class fills up to its seats and no further ---------------------------------

def test_parallel_holds_on_a_group_slot_fill_exactly_its_seats(server, clinic):
    fischer = clinic["providers"]["Jonas Fischer"]
    group = clinic["type_rows"]["Back-care group class"]
    seats = group["seats"]
    assert seats == 6
    days = ls.local_days("Europe/Berlin", 3, 12, {1, 2, 3, 4, 5})
    slot = _first_open_slot(server, group["id"], fischer, days, capacity=seats)
    body = {"provider_id": fischer, "appointment_type_id": group["id"], "start": slot["start"]}

    results = _race(30, lambda http, i: http.post(
        server.url("/api/v1/bookings"), json={**body, **_guest(i)}, headers=ls.headers(), timeout=60))

    _no_5xx(server, results)
    codes = _codes(results)
    assert codes == Counter({(201, None): seats, (409, "SLOT_FULL"): 30 - seats}), codes
    won = sorted(body["id"] for status, body, _ in results if status == 201)
    live = ls.live_bookings_at(server, fischer, _instant(slot["start"]))
    assert sorted(str(row["id"]) for row in live) == won
    assert sorted(row["seat"] for row in live) == list(range(seats))


# --- 3. thousands of random holds of mixed lengths on one provider -------------------------

def _rivera_types(server, rivera: str) -> list[dict]:
    admin = ls.token(server, ls.ADMIN)
    made = []
    for minutes, before, after in ((15, 0, 10), (30, 5, 5), (45, 10, 0)):
        response = requests.post(server.url("/api/admin/v1/appointment-types"), headers=ls.headers(admin), json={
            "name": f"Race {minutes} min", "duration_minutes": minutes, "buffer_before_minutes": before,
            "buffer_after_minutes": after, "slot_interval_minutes": 5, "provider_ids": [rivera],
            "max_future_days": 30, "min_notice_minutes": 0, "seats": 1,
        }, timeout=60)
        assert response.status_code == 201, response.text
        made.append(response.json())
    return made


def test_random_holds_of_mixed_durations_never_overlap(server, clinic):
    rivera = clinic["providers"]["Sam Rivera"]
    kinds = _rivera_types(server, rivera)
    zone = ZoneInfo("America/New_York")
    days = ls.local_days("America/New_York", 1, 10, {2, 3, 4, 5, 6})  # Tue-Sat 10:00-18:00, break 13-14
    rng = random.Random(20240601)
    requests_to_send = []
    for index in range(RANDOM_HOLDS):
        kind = rng.choice(kinds)
        local = datetime.combine(rng.choice(days), datetime.min.time(), tzinfo=zone) + timedelta(
            minutes=rng.randrange(10 * 60, 18 * 60, 5))
        requests_to_send.append({"provider_id": rivera, "appointment_type_id": kind["id"],
                                 "start": local.astimezone(timezone.utc).isoformat(), **_guest(index)})
    before = ls.count_occupying(server, rivera)
    local_http, opened = threading.local(), []

    def send(body):
        http = getattr(local_http, "session", None)
        if http is None:
            http = local_http.session = requests.Session()  # keep-alive per client thread
            opened.append(http)
        response = http.post(server.url("/api/v1/bookings"), json=body, headers=ls.headers(), timeout=120)
        try:
            return response.status_code, response.json()
        except ValueError:  # e.g. an HTML error page
            return response.status_code, {"raw": response.text[:500]}

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=RANDOM_CLIENTS) as pool:
        results = list(pool.map(send, requests_to_send))
    elapsed = time.perf_counter() - started
    for http in opened:
        http.close()

    errors = [r for r in results if r[0] >= 500]
    assert not errors, f"{len(errors)} server errors, first: {errors[0]}\n{server.log_tail()}"
    codes = Counter((status, (body or {}).get("error", {}).get("code")) for status, body in results)
    won = [body["id"] for status, body in results if status == 201]
    print(f"\n[{server.backend}] {RANDOM_HOLDS} random holds in {elapsed:.1f} s "
          f"({RANDOM_HOLDS / elapsed:.0f}/s): {dict(codes)}")
    assert set(codes) <= {(201, None), (409, "SLOT_FULL"), (409, "SLOT_UNAVAILABLE")}, codes
    assert won, "not a single hold succeeded"
    rows = ls.bookings_by_ids(server, won)
    assert len(rows) == len(won) and {r["status"] for r in rows} == {"held"}
    assert ls.count_occupying(server, rivera) == before + len(won)
    overlaps = ls.overlapping_pairs(server, rivera)
    assert overlaps == [], f"{len(overlaps)} overlapping pairs (overbooking), e.g. {overlaps[:3]}"


# --- 4. one Idempotency-Key, twenty concurrent requests ------------------------------------

def test_concurrent_retries_with_one_idempotency_key_make_one_booking(server, clinic):
    chen = clinic["providers"]["Dr. Maya Chen"]
    consult = clinic["types"]["General consultation"]
    days = ls.local_days("America/New_York", 3, 12, {1, 2, 3, 4})
    slot = _first_open_slot(server, consult, chen, days, capacity=1)
    other = next(s for s in ls.open_slots(server, consult, chen, _instant(slot["start"]).astimezone(
        ZoneInfo("America/New_York")).date()) if s["id"] != slot["id"])
    patient = ls.token(server)
    key = f"retry-{uuid.uuid4()}"
    hold_headers = ls.headers(patient, key)

    results = _race(20, lambda http, i: http.post(server.url("/api/v1/bookings"), json={"slot_id": slot["id"]},
                                                  headers=hold_headers, timeout=60))

    _no_5xx(server, results)
    assert {status for status, _, _ in results} == {201}, _codes(results)
    bodies = [body for _, body, _ in results]
    assert all(body == bodies[0] for body in bodies), "replays differ from the first answer"
    live = ls.live_bookings_at(server, chen, _instant(slot["start"]))
    assert [str(row["id"]) for row in live] == [bodies[0]["id"]]

    replay = requests.post(server.url("/api/v1/bookings"), json={"slot_id": slot["id"]}, headers=hold_headers,
                           timeout=60)
    assert replay.status_code == 201 and replay.json() == bodies[0]
    assert replay.headers.get("Idempotent-Replayed") == "true"

    reused = requests.post(server.url("/api/v1/bookings"), json={"slot_id": other["id"]}, headers=hold_headers,
                           timeout=60)
    assert reused.status_code == 409, reused.text
    assert reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert ls.live_bookings_at(server, chen, _instant(other["start"])) == []


# --- 5. two providers, one shared room, twenty racers -------------------------------------

def _shared_room_clinic(server) -> tuple[list[str], str, str]:
    """A room of capacity 1 used by two new providers' Monday-Friday hours; returns
    (provider ids, type id, room id). Built through the admin API of the live server."""
    admin = ls.headers(ls.token(server, ls.ADMIN))
    post = lambda path, body: requests.post(server.url(f"/api/admin/v1{path}"), json=body,  # noqa: E731
                                            headers={**admin, "Idempotency-Key": uuid.uuid4().hex}, timeout=60)
    location = ls.providers(server)["Dr. Anna Weber"]["location_ids"][0]
    room = post("/rooms", {"location_id": location, "name": "Shared room", "capacity": 1, "is_virtual": False})
    assert room.status_code == 201, room.text
    people = []
    for name in ("Dr. Room One", "Dr. Room Two"):
        made = post("/providers", {"name": name, "location_ids": [location]})
        assert made.status_code == 201, made.text
        people.append(made.json()["id"])
    kind = post("/appointment-types", {"name": "Shared-room visit", "duration_minutes": 30, "provider_ids": people,
                                       "min_notice_minutes": 0, "max_future_days": 30})
    assert kind.status_code == 201, kind.text
    for person in people:
        rule = post("/availabilities", {"kind": "weekly", "provider_id": person, "location_id": location,
                                        "room_id": room.json()["id"], "days_of_week": [1, 2, 3, 4, 5],
                                        "start_time": "08:00", "end_time": "12:00"})
        assert rule.status_code == 201, rule.text
    return people, kind.json()["id"], room.json()["id"]


def test_twenty_holds_split_across_two_providers_for_one_shared_room_time_give_one_winner(server, clinic):
    people, kind, room = _shared_room_clinic(server)
    days = ls.local_days("Europe/Berlin", 3, 12, {1, 2, 3, 4, 5})
    slot = _first_open_slot(server, kind, people[0], days, capacity=1)
    assert any(s["start"] == slot["start"] for s in ls.open_slots(
        server, kind, people[1], _instant(slot["start"]).astimezone(ZoneInfo("Europe/Berlin")).date()))

    results = _race(20, lambda http, i: http.post(server.url("/api/v1/bookings"), json={
        "provider_id": people[i % 2], "appointment_type_id": kind, "start": slot["start"], **_guest(i)},
        headers=ls.headers(), timeout=60))

    _no_5xx(server, results)
    codes = _codes(results)
    assert codes == Counter({(201, None): 1, (409, "SLOT_FULL"): 19}), codes
    query = text("SELECT count(*) FROM bookings WHERE room_id = :room AND status IN ('held', 'pending', 'confirmed')"
                 ).bindparams(bindparam("room", type_=Uuid()))
    with server.engine.connect() as conn:
        assert conn.execute(query, {"room": uuid.UUID(room)}).scalar_one() == 1
    for person in people:  # neither provider offers the time any more
        day = _instant(slot["start"]).astimezone(ZoneInfo("Europe/Berlin")).date()
        assert all(s["start"] != slot["start"] for s in ls.open_slots(server, kind, person, day))
