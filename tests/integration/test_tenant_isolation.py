"""Two clinics in one database: the demo clinic and its twin (same provider names, same
staff addresses, bookings at the same times). Every route of the URL map that takes an
id, tried by the first clinic's people with the ids of the second, is 404 and changes
nothing; anonymous visitors of one portal never see the other; sign-in stays in its clinic.
Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app import demo_seed
from app.database import write_transaction
from app.demo_seed import DEMO_PASSWORD, DOMAIN
from app.extensions import db
from app.models import (
    AppointmentType, AvailabilityException, Booking, CalendarConnection, Location, Organization, Provider, Room,
    TimeOff, User, utcnow,
)
from tests.integration.helpers import csrf_token, seed_demo_clinic, sign_in_as

TWIN = "twin"
# Which of the first clinic's people tries a route, by its path.
ACTOR_BY_PREFIX = [("/api/", "admin"), ("/admin/", "admin"), ("/provider/", "provider"),
                   ("/frontdesk/", "frontdesk"), ("/staff/", "frontdesk"), ("/", "patient")]
STRING_PARAMS = {"decision": "approve", "change": "deactivate", "action": "cancel"}
TABLES = (Booking, Provider, Location, AppointmentType, Room, TimeOff, User, AvailabilityException,
          CalendarConnection)


@dataclass
class Twins:
    home: uuid.UUID
    other: uuid.UUID
    other_ids: dict[str, uuid.UUID]


@pytest.fixture
def twins(app, db_session, monkeypatch) -> Twins:
    seed_demo_clinic(app, monkeypatch)
    monkeypatch.setattr(demo_seed, "DEMO_SLUG", TWIN)
    with app.app_context():
        assert demo_seed.seed_demo() is True
        orgs = {o.slug: o.id for o in db.session.scalars(select(Organization))}
        home, other = orgs["demo"], orgs[TWIN]
        with write_transaction():
            weber = db.session.scalars(select(Provider).where(Provider.organization_id == other)).first()
            start = utcnow() + timedelta(days=20)
            db.session.add(TimeOff(organization_id=other, provider_id=weber.id, start_at=start,
                                   end_at=start + timedelta(hours=3), reason="twin"))
            db.session.add(AvailabilityException(organization_id=other, provider_id=weber.id, status="blocked",
                                                 start_at=start + timedelta(days=1),
                                                 end_at=start + timedelta(days=1, hours=1), reason="twin"))
            db.session.add(CalendarConnection(organization_id=other, provider_id=weber.id, kind="webhook",
                                              display_name="Twin rota", webhook_secret="twin-secret"))

        def first(model, **where):
            query = select(model.id).where(model.organization_id == other)
            for key, value in where.items():
                query = query.where(getattr(model, key) == value)
            return db.session.scalars(query.order_by(model.id)).first()

        ids = {"booking_id": first(Booking, status="pending") or first(Booking), "provider_id": first(Provider),
               "location_id": first(Location), "type_id": first(AppointmentType), "room_id": first(Room),
               "time_off_id": first(TimeOff), "user_id": first(User, role="frontdesk"),
               "patient_id": first(User, role="patient"), "block_id": first(AvailabilityException),
               "connection_id": first(CalendarConnection)}
        assert all(ids.values()), ids
        return Twins(home, other, ids)


def snapshot(app, org_id) -> dict:
    """Every row of a clinic as plain values: what "changes nothing" compares."""
    with app.app_context():
        db.session.expire_all()
        rows = {}
        for model in TABLES:
            for row in db.session.scalars(select(model).where(model.organization_id == org_id)):
                rows[(model.__tablename__, row.id)] = tuple(
                    (column.key, str(getattr(row, column.key))) for column in model.__table__.columns)
        return rows


def routes_with_ids(app) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if "<uuid:" not in rule.rule:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule, rule.endpoint))
    return sorted(found)


def fill(rule: str, ids: dict[str, uuid.UUID]) -> str:
    import re

    def one(match):
        converter, name = match.group(1), match.group(2)
        if converter and converter.startswith("uuid"):
            return str(ids.get(name) or uuid.uuid4())  # with {}: an id that exists nowhere
        return STRING_PARAMS.get(name, "x")

    return re.sub(r"<(?:([a-z]+(?:\([^)]*\))?):)?([a-z_]+)>", one, rule)


def people(app, org_id) -> dict[str, User]:
    with app.app_context():
        users = db.session.scalars(select(User).where(User.organization_id == org_id)).all()
        by_role = {}
        for user in users:
            by_role.setdefault(user.role, user)
        db.session.expunge_all()
        return by_role


def api_token(client, email: str, organization: str) -> str:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": DEMO_PASSWORD,
                                                      "organization": organization})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def test_every_route_with_an_id_of_the_other_clinic_is_404_and_changes_nothing(app, client, twins):
    routes = routes_with_ids(app)
    assert len(routes) >= 25, routes  # the url map really was walked
    home_people = people(app, twins.home)
    bearer = api_token(client, f"admin@{DOMAIN}", "demo")
    before = snapshot(app, twins.other)
    failures = []
    def send(method: str, path: str, role: str):
        browser = app.test_client()
        if path.startswith("/api/"):
            headers = {"Authorization": f"Bearer {bearer}", "Idempotency-Key": uuid.uuid4().hex}
            body = {"action": "cancel", "slot_id": str(uuid.uuid4()), "name": "x", "status": "cancelled"}
            return browser.open(path, method=method, json=body if method != "GET" else None, headers=headers)
        sign_in_as(browser, home_people[role])
        data = {"csrf_token": csrf_token(browser, "/auth/account")} if method == "POST" else None
        return browser.open(path, method=method, data=data)

    for method, rule, endpoint in routes:
        path = fill(rule, twins.other_ids)
        role = next(r for prefix, r in ACTOR_BY_PREFIX if path.startswith(prefix))
        status = send(method, path, role).status_code
        if status == 404:
            continue
        # A request refused before any row is looked up (a bad body or query: 422; the webhook's
        # signature: 401; a page form that says "not one of yours": 303) must answer exactly as
        # it does for an id that exists nowhere, and change nothing (checked below).
        unknown = send(method, fill(rule, {}), role).status_code
        if not (status in (303, 401, 422) and status == unknown):
            failures.append((method, path, role, status, unknown))
    assert failures == []
    assert snapshot(app, twins.other) == before


def test_token_links_of_one_clinic_do_not_open_the_others_pages(app, client, twins):
    from app.web.patient.manage_links import token_for_id

    with app.test_request_context():
        manage = token_for_id(twins.other_ids["booking_id"])
    # a signed link opens exactly its booking, under its own clinic's address ...
    assert app.test_client().get(f"/o/{TWIN}/manage/{manage}").status_code == 200
    # ... and not under the other clinic's, nor its calendar file
    assert app.test_client().get(f"/o/demo/manage/{manage}").status_code == 404
    ics = f"/bookings/{twins.other_ids['booking_id']}.ics?t={manage}"
    assert app.test_client().get(f"/o/{TWIN}{ics}").status_code == 200
    assert app.test_client().get(f"/o/demo{ics}").status_code == 404


def test_anonymous_visitors_of_one_portal_never_see_the_other(app, twins):
    visitor = app.test_client()
    home = {p["id"] for p in visitor.get("/o/demo/api/v1/providers").get_json()["providers"]}
    other = {p["id"] for p in visitor.get(f"/o/{TWIN}/api/v1/providers").get_json()["providers"]}
    assert home and other and not home & other
    names = lambda answer: sorted(p["name"] for p in answer.get_json()["providers"])  # noqa: E731
    assert names(visitor.get("/o/demo/api/v1/providers")) == names(visitor.get(f"/o/{TWIN}/api/v1/providers"))
    assert visitor.get("/api/v1/providers").get_json()["providers"][0]["id"] in home  # "/" is the default clinic
    other_provider = twins.other_ids["provider_id"]
    query = f"appointment_type_id={twins.other_ids['type_id']}&date={date.today() + timedelta(days=3)}"
    assert visitor.get(f"/o/demo/api/v1/providers/{other_provider}/availability?{query}").status_code == 404
    assert visitor.get("/o/no-such-clinic/").status_code == 404
    page = visitor.get(f"/o/{TWIN}/book")
    assert page.status_code == 200
    assert f'href="/o/{TWIN}/' in page.get_data(as_text=True)  # links stay inside the clinic
    assert f'data-ws-path="/o/{TWIN}/ws"' in page.get_data(as_text=True)  # and so does the live socket
    assert 'data-ws-path="/ws"' in visitor.get("/book").get_data(as_text=True)


def test_sign_in_with_the_same_address_reaches_the_clinic_it_is_made_at(app, client, twins):
    twin_token = app.test_client().post(f"/o/{TWIN}/api/v1/auth/token",
                                        json={"email": f"admin@{DOMAIN}", "password": DEMO_PASSWORD})
    assert twin_token.status_code == 200
    bearer = twin_token.get_json()["access_token"]
    locations = app.test_client().get("/api/admin/v1/locations", headers={"Authorization": f"Bearer {bearer}"})
    with app.app_context():
        twin_locations = {str(i) for i in db.session.scalars(
            select(Location.id).where(Location.organization_id == twins.other))}
    assert {loc["id"] for loc in locations.get_json()["locations"]} == twin_locations
    unknown = app.test_client().post("/api/v1/auth/token", json={"email": f"admin@{DOMAIN}",
                                                                  "password": DEMO_PASSWORD, "organization": "nope"})
    assert unknown.status_code == 404


def test_live_channels_of_the_other_clinic_are_refused_to_everyone_here(app, twins):
    from app.realtime.channels import authorize

    with app.app_context():
        home_people = {u.role: u for u in db.session.scalars(
            select(User).where(User.organization_id == twins.home))}
        other = twins.other_ids
        names = [f"slots:{other['provider_id']}", f"booking:{other['booking_id']}",
                 f"provider:{other['provider_id']}", f"location:{other['location_id']}"]
        for person in [None, *home_people.values()]:
            for name in names:
                assert authorize(person, twins.home, name) is None, (person and person.role, name)
        # and the same names are granted in their own clinic (the check is not vacuous)
        twin_admin = db.session.scalars(select(User).where(User.organization_id == twins.other,
                                                           User.role == "admin")).one()
        assert all(authorize(twin_admin, twins.other, name) for name in names)
