"""Bad input gets a 422 naming the field and writes nothing; callers get exactly
the access their role and tenant allow; every error is the one JSON envelope."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import jwt
import pytest

from app.api.schemas import MAX_RANGE_DAYS
from tests.conftest import TEST_SECRET
from tests.integration.api_helpers import (
    Api, assert_error, cheap_hashing, make_location, make_organization, make_provider, make_user, next_weekday,
    minted_token, row_counts, token,
)

TZ = "America/New_York"
ADMIN = "/api/admin/v1"
DAY = "2027-03-15"  # a Monday; only used in bodies that are refused


@pytest.fixture
def admin(app, client, monkeypatch) -> Api:
    cheap_hashing(monkeypatch)
    organization_id = make_organization(app, "Validation Clinic")
    api = Api(client, minted_token(app, make_user(app, organization_id, "admin")))
    api.organization_id = organization_id
    return api


@pytest.fixture
def clinic(admin) -> SimpleNamespace:
    """One location, provider and type, and a 09:00–12:00 rule on Monday to Wednesday."""
    location = admin.created(f"{ADMIN}/locations", {"name": "Main", "timezone": TZ})
    provider = admin.created(f"{ADMIN}/providers", {"name": "Dr. Vale", "location_ids": [location["id"]]})
    kind = admin.created(f"{ADMIN}/appointment-types", {"name": "Visit", "duration_minutes": 60,
                                                        "provider_ids": [provider["id"]]})
    rule = admin.created(f"{ADMIN}/availabilities", {
        "kind": "weekly", "provider_id": provider["id"], "location_id": location["id"],
        "days_of_week": [1, 2, 3], "start_time": "09:00", "end_time": "12:00",
    })
    return SimpleNamespace(location_id=location["id"], provider_id=provider["id"], type_id=kind["id"], rule=rule)


def weekly(c, **fields) -> dict:
    return {"kind": "weekly", "provider_id": c.provider_id, "location_id": c.location_id, "days_of_week": [4],
            "start_time": "09:00", "end_time": "12:00", **fields}


def exception(c, **fields) -> dict:
    return {"kind": "exception", "provider_id": c.provider_id, "status": "blocked",
            "start_at": f"{DAY}T10:00:00-04:00", "end_at": f"{DAY}T11:00:00-04:00", **fields}


def time_off(c, **fields) -> dict:
    return {"provider_id": c.provider_id, "start_at": f"{DAY}T10:00:00-04:00", "end_at": f"{DAY}T11:00:00-04:00",
            **fields}


@pytest.mark.parametrize(
    ("path", "make_body", "field"),
    [
        # a time zone that does not exist
        ("/locations", lambda c: {"name": "Base", "timezone": "Mars/Olympus"}, "timezone"),
        # a location needs a name
        ("/locations", lambda c: {"name": "", "timezone": TZ}, "name"),
        # a location name is unique inside the organization
        ("/locations", lambda c: {"name": "Main", "timezone": TZ}, "name"),
        # a room at a location that has no such id is not a room
        ("/rooms", lambda c: {"location_id": "not-a-uuid", "name": "R"}, "location_id"),
        # a room holds at least one person
        ("/rooms", lambda c: {"location_id": c.location_id, "name": "R", "capacity": 0}, "capacity"),
        # a provider's time zone is checked like a location's
        ("/providers", lambda c: {"name": "Dr. Z", "timezone": "Mars/Olympus"}, "timezone"),
        # a visit lasts at least five minutes
        ("/appointment-types", lambda c: {"name": "Blink", "duration_minutes": 0}, "duration_minutes"),
        # a price in a currency that is not an ISO code
        ("/appointment-types", lambda c: {"name": "X", "duration_minutes": 30, "currency": "euro"}, "currency"),
        # a weekly window whose end equals its start is empty
        ("/availabilities", lambda c: weekly(c, start_time="10:00", end_time="10:00"), "end_time"),
        # ISO weekdays run from 1 (Monday) to 7 (Sunday)
        ("/availabilities", lambda c: weekly(c, days_of_week=[8]), "days_of_week.0"),
        # a weekly rule needs its location
        ("/availabilities", lambda c: {**weekly(c), "location_id": None}, "location_id"),
        # a date-range rule needs both ends of its range
        ("/availabilities", lambda c: weekly(c, kind="date_range", valid_from=DAY), "valid_to"),
        # a break must not be empty
        ("/availabilities", lambda c: weekly(c, breaks=[{"start_time": "10:00", "end_time": "10:00"}]),
         "breaks.0.end_time"),
        # a time that is not a time
        ("/availabilities", lambda c: weekly(c, start_time="25:99"), "start_time"),
        # an exception that ends before it starts
        ("/availabilities", lambda c: exception(c, end_at=f"{DAY}T09:00:00-04:00"), "end_at"),
        # an exception's status is blocked or available
        ("/availabilities", lambda c: exception(c, status="maybe"), "status"),
        # an instant without its offset is ambiguous
        ("/availabilities", lambda c: exception(c, start_at=f"{DAY}T10:00:00"), "start_at"),
        # an unknown kind of rule
        ("/availabilities", lambda c: weekly(c, kind="monthly"), "kind"),
        # time off that ends before it starts
        ("/time-off", lambda c: time_off(c, end_at=f"{DAY}T09:00:00-04:00"), "end_at"),
        # time off given in local time without an offset
        ("/time-off", lambda c: time_off(c, end_at=f"{DAY}T11:00:00"), "end_at"),
        # generating slots backwards in time
        ("/slots/generate", lambda c: {"from": "2027-03-20", "to": "2027-03-10"}, "to"),
        # a date that is not a date
        ("/slots/generate", lambda c: {"from": "2027-13-45", "to": "2027-03-10"}, "from"),
        # a JSON array is not an object
        ("/locations", lambda c: [{"name": "Base", "timezone": TZ}], "body"),
    ],
)
def test_an_invalid_admin_write_is_refused_with_the_field_named_and_writes_nothing(
        app, admin, clinic, path, make_body, field):
    before = row_counts(app)
    assert_error(admin.post(f"{ADMIN}{path}", make_body(clinic)), 422, "VALIDATION_ERROR", field)
    assert row_counts(app) == before


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/locations", "application/json"),  # a body that does not parse as JSON
        ("/locations", "text/plain"),  # a body that is not declared JSON at all
        ("/availabilities", "application/json"),  # the same for rules
    ],
)
def test_a_body_that_is_not_json_is_a_bad_request(app, admin, path, content_type):
    before = row_counts(app)
    response = admin.post(f"{ADMIN}{path}", data='{"name": "Base", "timezone":', content_type=content_type)
    assert_error(response, 400, "BAD_REQUEST")  # docs/api.md: malformed JSON is 400; bad fields are 422
    assert row_counts(app) == before


def test_an_overlapping_weekly_window_is_refused_while_a_touching_one_is_accepted(app, admin, clinic):
    overlapping = weekly(clinic, days_of_week=[3, 4], start_time="11:00", end_time="14:00")  # Wednesday clashes
    before = row_counts(app)
    error = assert_error(admin.post(f"{ADMIN}/availabilities", overlapping), 422, "VALIDATION_ERROR")
    assert {"days_of_week", "start_time"} & set(error["details"]["fields"])
    assert row_counts(app) == before

    touching = admin.created(f"{ADMIN}/availabilities", {**overlapping, "start_time": "12:00"})
    assert (touching["start_time"], touching["end_time"]) == ("12:00", "14:00")
    assert row_counts(app)["availability_rules"] == before["availability_rules"] + 1


def test_a_patch_with_an_unknown_time_zone_is_refused_and_changes_nothing(admin, clinic):
    url = f"{ADMIN}/locations/{clinic.location_id}"
    original = admin.ok(admin.get(url))
    assert_error(admin.patch(url, {"timezone": "Mars/Olympus", "name": "Renamed"}), 422, "VALIDATION_ERROR",
                 "timezone")
    assert admin.ok(admin.get(url)) == original


@pytest.mark.parametrize(
    ("path", "make_params", "field"),
    [
        # a month 13 and a day 45
        ("/api/v1/slots", lambda c: {"date": "2027-13-45"}, "date"),
        # not a date at all
        ("/api/v1/slots", lambda c: {"date": "tomorrow"}, "date"),
        # the type id is not a uuid
        ("/api/v1/slots", lambda c: {"date": DAY, "appointment_type_id": "not-a-uuid"}, "appointment_type_id"),
        # the provider id is not a uuid
        ("/api/v1/slots", lambda c: {"date": DAY, "provider_id": "1234"}, "provider_id"),
        # neither a provider nor a location
        ("/api/v1/slots", lambda c: {"date": DAY, "provider_id": None}, "provider_id"),
        # both a provider and a location
        ("/api/v1/slots", lambda c: {"date": DAY, "location_id": c.location_id}, "provider_id"),
        # a type is required
        ("/api/v1/slots", lambda c: {"date": DAY, "appointment_type_id": None}, "appointment_type_id"),
        # no date and no range
        ("/api/v1/slots", lambda c: {}, "date"),
        # an unknown time zone for display
        ("/api/v1/slots", lambda c: {"date": DAY, "timezone": "Mars/Olympus"}, "timezone"),
        # the range runs backwards
        ("/api/v1/slots", lambda c: {"from": "2027-03-20", "to": "2027-03-10"}, "to"),
        # the range is longer than the API serves at once
        ("/api/v1/slots", lambda c: {"from": "2027-01-01", "to": "2027-06-30"}, "to"),
        # /dates parses its range the same way
        ("/api/v1/dates", lambda c: {"from": "2027-02-30", "to": "2027-03-02"}, "from"),
        # the provider range read too
        ("/api/v1/providers/{provider_id}/availability", lambda c: {"from": "2027-03-20", "to": "2027-03-10"},
         "to"),
        # and its optional type filter
        ("/api/v1/providers/{provider_id}/availability", lambda c: {"from": DAY, "appointment_type_id": "x"},
         "appointment_type_id"),
        # list filters check their ids
        ("/api/v1/providers", lambda c: {"location_id": "nope"}, "location_id"),
        # the type list too
        ("/api/v1/appointment-types", lambda c: {"provider_id": "nope"}, "provider_id"),
        # and the admin room list
        ("/api/admin/v1/rooms", lambda c: {"location_id": "nope"}, "location_id"),
    ],
)
def test_a_malformed_query_is_a_validation_error_naming_the_parameter(admin, clinic, path, make_params, field):
    params = {"appointment_type_id": clinic.type_id, "provider_id": clinic.provider_id, **make_params(clinic)}
    params = {k: v for k, v in params.items() if v is not None}
    response = admin.get(path.format(provider_id=clinic.provider_id), params)
    assert_error(response, 422, "VALIDATION_ERROR", field)


def test_the_longest_allowed_range_is_served_and_one_day_more_is_refused(admin, clinic):
    first = next_weekday(TZ)
    params = {"appointment_type_id": clinic.type_id, "provider_id": clinic.provider_id, "from": first.isoformat()}
    last_ok = first + timedelta(days=MAX_RANGE_DAYS - 1)
    body = admin.ok(admin.get("/api/v1/dates", {**params, "to": last_ok.isoformat()}))
    assert len(body["dates"]) == MAX_RANGE_DAYS
    too_long = admin.get("/api/v1/dates", {**params, "to": (last_ok + timedelta(days=1)).isoformat()})
    assert_error(too_long, 422, "VALIDATION_ERROR", "to")


# --- access ------------------------------------------------------------------------------------

ADMIN_ENDPOINTS = [
    ("GET", "/locations"),
    ("POST", "/locations"),
    ("GET", "/rooms"),
    ("POST", "/providers"),
    ("PATCH", "/appointment-types/00000000-0000-7000-8000-000000000000"),
    ("POST", "/availabilities"),
    ("POST", "/time-off/00000000-0000-7000-8000-000000000000/approve"),
    ("POST", "/slots/generate"),
]


def _call(client, method: str, path: str, headers: dict):
    kwargs = {"headers": headers}
    if method != "GET":
        kwargs["json"] = {"name": "Base", "timezone": TZ}
    return client.open(f"{ADMIN}{path}", method=method, **kwargs)


def _expired_token() -> str:
    past = datetime.now(timezone.utc) - timedelta(hours=2)
    claims = {"sub": "01a1fdad-0000-7000-8000-000000000000", "ver": 1, "iat": past, "exp": past + timedelta(hours=1)}
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256")


def _foreign_token() -> str:
    claims = {"sub": "01a1fdad-0000-7000-8000-000000000000", "ver": 1,
              "exp": datetime.now(timezone.utc) + timedelta(hours=1)}
    return jwt.encode(claims, "some-other-secret-of-sufficient-length", algorithm="HS256")


@pytest.mark.parametrize(
    "authorization",
    [
        None,  # no Authorization header at all
        "Bearer garbage",  # not a JWT
        "Bearer ",  # the scheme without a token
        "Basic YWRtaW46YWRtaW4=",  # another scheme
        "expired",  # a well-signed token past its expiry
        "foreign",  # a token signed with another key
    ],
)
def test_admin_endpoints_refuse_callers_without_a_valid_token(app, client, authorization):
    headers = {"Idempotency-Key": "k-1"}
    if authorization == "expired":
        headers["Authorization"] = f"Bearer {_expired_token()}"
    elif authorization == "foreign":
        headers["Authorization"] = f"Bearer {_foreign_token()}"
    elif authorization is not None:
        headers["Authorization"] = authorization
    before = row_counts(app)
    for method, path in ADMIN_ENDPOINTS:
        assert_error(_call(client, method, path, headers), 401, "UNAUTHENTICATED")
    assert row_counts(app) == before


@pytest.mark.parametrize(
    ("role", "method", "status"),
    [
        ("patient", "GET", 403),  # patients do not read clinic configuration
        ("patient", "POST", 403),  # nor write it
        ("provider", "GET", 403),  # clinicians use their own pages, not the admin API
        ("frontdesk", "GET", 200),  # the front desk may read locations
        ("frontdesk", "POST", 403),  # but not create them
        ("manager", "POST", 201),  # managers configure the clinic
        ("admin", "POST", 201),  # and so do admins
    ],
)
def test_the_role_decides_who_may_read_and_write_locations(app, client, monkeypatch, role, method, status):
    cheap_hashing(monkeypatch)
    organization_id = make_organization(app)
    provider_id = None
    if role == "provider":
        provider_id = make_provider(app, organization_id, make_location(app, organization_id, "Home", TZ))
    api = Api(client, token(client, make_user(app, organization_id, role, provider_id=provider_id)))
    before = row_counts(app)
    response = api.get(f"{ADMIN}/locations") if method == "GET" else api.post(f"{ADMIN}/locations",
                                                                              {"name": "New", "timezone": TZ})
    if status == 403:
        assert_error(response, 403, "FORBIDDEN")
        assert row_counts(app) == before
    else:
        assert response.status_code == status, response.get_json()
        assert response.is_json
    if (role, method) == ("frontdesk", "GET"):
        assert [loc["name"] for loc in response.get_json()["locations"]] == []  # a fresh organization
    if status == 201:
        assert row_counts(app)["locations"] == before["locations"] + 1


def tenant_rows(app) -> dict[str, int]:
    """Row counts but the remembered answers to Idempotency-Keys (a 404 is an answer a retry gets again)."""
    return {name: count for name, count in row_counts(app).items() if name != "idempotency_records"}


def test_rows_of_another_organization_are_not_found_for_reads_and_writes(app, admin, clinic):
    other_org = make_organization(app, "Rival Clinic")
    other_location = make_location(app, other_org, "Rival Street", "Europe/Paris")
    other_provider = make_provider(app, other_org, other_location, "Dr. Rival")
    before = tenant_rows(app)

    assert_error(admin.get(f"{ADMIN}/locations/{other_location}"), 404, "NOT_FOUND")
    assert_error(admin.patch(f"{ADMIN}/locations/{other_location}", {"name": "Taken over"}), 404, "NOT_FOUND")
    assert_error(admin.patch(f"{ADMIN}/providers/{other_provider}", {"name": "Taken over"}), 404, "NOT_FOUND")
    assert_error(admin.get(f"/api/v1/providers/{other_provider}/availability", {"from": DAY}), 404, "NOT_FOUND")
    assert_error(admin.get("/api/v1/slots", {"appointment_type_id": clinic.type_id, "provider_id": str(other_provider),
                                             "date": DAY}), 404, "NOT_FOUND")
    assert_error(admin.get("/api/v1/slots", {"appointment_type_id": clinic.type_id, "location_id": str(other_location),
                                             "date": DAY}), 404, "NOT_FOUND")
    assert_error(admin.post(f"{ADMIN}/availabilities", exception(SimpleNamespace(provider_id=str(other_provider)))),
                 404, "NOT_FOUND")
    assert_error(admin.post(f"{ADMIN}/time-off", time_off(SimpleNamespace(provider_id=str(other_provider)))),
                 404, "NOT_FOUND")
    assert_error(admin.post(f"{ADMIN}/slots/generate", {"from": DAY, "to": DAY, "provider_id": str(other_provider)}),
                 404, "NOT_FOUND")
    refused = admin.post(f"{ADMIN}/providers", {"name": "Dr. Mine", "location_ids": [str(other_location)]})
    assert_error(refused, 422, "VALIDATION_ERROR", "location_ids.0")
    assert tenant_rows(app) == before

    listed = admin.ok(admin.get(f"{ADMIN}/locations"))["locations"]
    assert [loc["id"] for loc in listed] == [clinic.location_id]
    assert [p["id"] for p in admin.ok(admin.get("/api/v1/providers"))["providers"]] == [clinic.provider_id]

    # a list filtered by another clinic's row is 404 too, as the row itself (not an empty list)
    for path, params in [
        ("/api/v1/providers", {"location_id": str(other_location)}),
        ("/api/v1/appointment-types", {"provider_id": str(other_provider)}),
        (f"{ADMIN}/bookings", {"provider_id": str(other_provider)}),
        (f"{ADMIN}/bookings", {"location_id": str(other_location)}),
        (f"{ADMIN}/calendar-connections", {"provider_id": str(other_provider)}),
        (f"{ADMIN}/rooms", {"location_id": str(other_location)}),
    ]:
        assert_error(admin.get(path, params), 404, "NOT_FOUND")


@pytest.mark.parametrize(("path", "params", "field"), [
    # one day, or a range: not both
    ("/api/v1/slots", {"date": "2027-03-15", "from": "2027-03-16", "to": "2027-03-17"}, "date"),
    ("/api/v1/dates", {"date": "2027-03-15", "to": "2027-03-17"}, "date"),
    # a range that ends before it starts
    (f"{ADMIN}/bookings", {"from": "2027-03-15", "to": "2027-03-01"}, "to"),
])
def test_contradicting_date_parameters_are_422(admin, clinic, path, params, field):
    params = {**params, "appointment_type_id": clinic.type_id, "provider_id": clinic.provider_id} \
        if path.startswith("/api/v1") else params
    assert_error(admin.get(path, params), 422, "VALIDATION_ERROR", field)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/no-such-thing"),  # an unknown user API route
        ("POST", "/api/v1/no-such-thing"),  # the same with a write
        ("GET", "/api/admin/v1/no-such-thing"),  # an unknown admin API route
        ("GET", "/api/v2/providers"),  # an API version that does not exist
        ("GET", "/api/admin/v1/locations/not-a-uuid"),  # an id that cannot be a uuid matches no route
    ],
)
def test_an_unknown_api_route_answers_with_the_json_not_found_envelope(client, method, path):
    response = client.open(path, method=method, json={} if method == "POST" else None)
    assert_error(response, 404, "NOT_FOUND")


def test_a_wrong_method_on_an_api_route_is_a_json_error_listing_the_allowed_methods(admin):
    response = admin.client.delete(f"{ADMIN}/locations", headers=admin.headers())
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}



# --- requests whose shape alone once produced a 500 (docs/invariants.md invariant 5) ----------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        # a location must keep its name
        ("/locations/{location_id}", {"name": None}, "name"),
        # active is true or false, not unknown
        ("/locations/{location_id}", {"is_active": None}, "is_active"),
        # a provider must keep its name
        ("/providers/{provider_id}", {"name": None}, "name"),
        # a provider must keep a time zone
        ("/providers/{provider_id}", {"timezone": None}, "timezone"),
        # a type must keep its duration
        ("/appointment-types/{type_id}", {"duration_minutes": None}, "duration_minutes"),
        # a type's providers are a list, possibly empty, never null
        ("/appointment-types/{type_id}", {"provider_ids": None}, "provider_ids"),
    ],
)
def test_a_patch_that_nulls_a_required_field_is_a_validation_error(app, admin, clinic, path, body, field):
    url = ADMIN + path.format(location_id=clinic.location_id, provider_id=clinic.provider_id,
                              type_id=clinic.type_id)
    before = row_counts(app)
    assert_error(admin.patch(url, body), 422, "VALIDATION_ERROR", field)
    assert row_counts(app) == before


def test_an_empty_provider_time_zone_is_refused_and_the_provider_stays_readable(admin, clinic):
    url = f"{ADMIN}/providers/{clinic.provider_id}"
    response = admin.patch(url, {"timezone": ""})
    read = admin.get(f"/api/v1/providers/{clinic.provider_id}/availability", {"from": DAY})
    assert read.status_code == 200, read.get_json()
    assert_error(response, 422, "VALIDATION_ERROR", "timezone")


@pytest.mark.parametrize("case", ["rename location", "second room"])  # update path; room create path
def test_a_duplicate_name_is_a_validation_error_not_a_server_error(app, admin, clinic, case):
    if case == "rename location":
        admin.created(f"{ADMIN}/locations", {"name": "Annex", "timezone": TZ})
        before = row_counts(app)
        response = admin.patch(f"{ADMIN}/locations/{clinic.location_id}", {"name": "Annex"})
    else:
        admin.created(f"{ADMIN}/rooms", {"location_id": clinic.location_id, "name": "Room 1"})
        before = row_counts(app)
        response = admin.post(f"{ADMIN}/rooms", {"location_id": clinic.location_id, "name": "Room 1"})
    assert_error(response, 422, "VALIDATION_ERROR", "name")
    assert row_counts(app) == before


@pytest.mark.parametrize(
    ("method", "path", "make_body"),
    [
        # a new provider at the same location twice
        ("POST", "/providers", lambda c, annex: {"name": "Dr. Twice", "location_ids": [c.location_id] * 2}),
        # an existing provider moved to a new location named twice
        ("PATCH", "/providers/{provider_id}", lambda c, annex: {"location_ids": [annex, annex]}),
        # a new type offered by the same provider twice
        ("POST", "/appointment-types", lambda c, annex: {"name": "Twice", "duration_minutes": 30,
                                                         "provider_ids": [c.provider_id] * 2}),
    ],
)
def test_a_repeated_id_in_a_list_is_merged_or_refused_but_never_a_server_error(admin, clinic, method, path,
                                                                                make_body):
    annex = admin.created(f"{ADMIN}/locations", {"name": "Annex", "timezone": TZ})["id"]
    url = ADMIN + path.format(provider_id=clinic.provider_id)
    body = make_body(clinic, annex)
    response = admin.post(url, body) if method == "POST" else admin.patch(url, body)
    assert response.status_code in (200, 201, 422), response.get_data(as_text=True)[:300]


@pytest.mark.parametrize(
    ("method", "path", "make_payload"),
    [
        # the last representable day
        ("GET", "/api/v1/slots", lambda c: {"date": "9999-12-31"}),
        # the per-date counts up to it
        ("GET", "/api/v1/dates", lambda c: {"from": "9999-12-30", "to": "9999-12-31"}),
        # the provider range read from it
        ("GET", "/api/v1/providers/{provider_id}/availability", lambda c: {"from": "9999-12-31"}),
        # the first day, seen from a zone east of UTC
        ("GET", "/api/v1/slots", lambda c: {"date": "0001-01-01", "timezone": "Asia/Tokyo"}),
        # an overnight exception starting on the last day
        ("POST", "/api/admin/v1/availabilities",
         lambda c: exception(c, start_at=None, end_at=None, date="9999-12-31", start_time="22:00", end_time="02:00")),
        # an exception at the first instant with a positive offset
        ("POST", "/api/admin/v1/availabilities",
         lambda c: exception(c, start_at="0001-01-01T00:00:00+05:00", end_at="0001-01-01T01:00:00+05:00")),
        # time off late on the last day, west of UTC
        ("POST", "/api/admin/v1/time-off",
         lambda c: time_off(c, start_at="9999-12-31T20:00:00-05:00", end_at="9999-12-31T22:00:00-05:00")),
    ],
)
def test_dates_at_the_edges_of_the_calendar_never_produce_a_server_error(app, admin, clinic, method, path,
                                                                         make_payload):
    url = path.format(provider_id=clinic.provider_id)
    payload = make_payload(clinic)
    before = row_counts(app)
    if method == "GET":
        response = admin.get(url, {"appointment_type_id": clinic.type_id, "provider_id": clinic.provider_id,
                                   **payload})
    else:
        response = admin.post(url, {k: v for k, v in payload.items() if v is not None})
    assert response.status_code in (200, 201, 422), response.get_data(as_text=True)[:300]
    if response.status_code == 422:
        assert_error(response, 422, "VALIDATION_ERROR")
        assert row_counts(app) == before


def test_a_name_with_a_nul_character_is_refused_on_every_backend(app, admin):
    # PostgreSQL text cannot hold U+0000; SQLite could, but both answer the same
    before = row_counts(app)
    response = admin.post(f"{ADMIN}/locations", {"name": "Nul\x00Clinic", "timezone": TZ})
    assert_error(response, 422, "VALIDATION_ERROR", "name")
    assert row_counts(app) == before


def test_time_off_and_blocks_that_are_over_or_overlap_their_own_kind_are_422(app, admin, clinic):
    asked = admin.created(f"{ADMIN}/time-off", time_off(clinic))
    admin.created(f"{ADMIN}/availabilities", exception(clinic))
    before = tenant_rows(app)
    later = {"start_at": f"{DAY}T10:30:00-04:00", "end_at": f"{DAY}T12:00:00-04:00"}
    over = {"start_at": "2020-01-06T10:00:00Z", "end_at": "2020-01-06T11:00:00Z"}
    assert_error(admin.post(f"{ADMIN}/time-off", time_off(clinic, **later)), 422, "VALIDATION_ERROR", "start_at")
    assert_error(admin.post(f"{ADMIN}/time-off", time_off(clinic, **over)), 422, "VALIDATION_ERROR", "end_at")
    assert_error(admin.post(f"{ADMIN}/availabilities", exception(clinic, **later)), 422, "VALIDATION_ERROR",
                 "start_at")
    assert_error(admin.post(f"{ADMIN}/availabilities", exception(clinic, **over)), 422, "VALIDATION_ERROR",
                 "end_at")
    assert tenant_rows(app) == before
    # an extra opening under a block is how a window is cut: another kind, allowed
    admin.created(f"{ADMIN}/availabilities", exception(clinic, status="available", **later))
    # time off that was turned down no longer stands in the way
    assert admin.post(f"{ADMIN}/time-off/{asked['id']}/reject").status_code == 200
    admin.created(f"{ADMIN}/time-off", time_off(clinic, **later))
