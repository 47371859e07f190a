"""The admin pages without a browser: locations and rooms, providers, appointment types,
staff users and roles, and the organization's settings. Every form goes through the real
page (CSRF token and one-time form token), invalid input comes back as 422 with the
message at its field and writes nothing, a double submit saves once, managers stay out
of users and settings, and another clinic's ids are 404.

Demo facts used (app/demo_seed.py): "Riverside Health" has Berlin Mitte (rooms Room 1,
Room 2, Group studio) and New York Midtown (Suite A, Suite B, Video room); Dr. Anna
Weber (weber@) works in Berlin on weekdays 08:00–16:00 and offers the "General
consultation"; Alex Admin is the only admin; Frankie Desk is the front desk.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import crypto
from app.accounts import find_user_by_email
from app.database import write_transaction
from app.demo_seed import DOMAIN
from app.extensions import db
from app.models import (
    AppointmentType,
    Booking,
    Location,
    Organization,
    Provider,
    Room,
    User,
    provider_locations,
    utcnow,
)
from tests.integration.booking_helpers import day_ahead
from tests.integration.helpers import csrf_token, field_error, login, page_text, seed_demo_clinic, sign_in_as

PASSWORD = "a-long-enough-password"


@dataclass(frozen=True)
class Demo:
    org_id: uuid.UUID
    berlin: uuid.UUID
    nyc: uuid.UUID
    room1: uuid.UUID  # Berlin Mitte, Room 1
    suite_a: uuid.UUID  # New York Midtown, Suite A
    weber: uuid.UUID
    fischer: uuid.UUID
    consult: uuid.UUID
    physio: uuid.UUID
    admin: uuid.UUID
    frontdesk: uuid.UUID
    patient: uuid.UUID


@dataclass(frozen=True)
class Elsewhere:
    """Rows of another organization: no page of the demo clinic may reach them."""

    location: uuid.UUID
    room: uuid.UUID
    provider: uuid.UUID
    kind: uuid.UUID
    user: uuid.UUID


@pytest.fixture
def demo(app, db_session, monkeypatch) -> Demo:
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        named = {loc.name: loc.id for loc in db.session.scalars(select(Location))}
        rooms = {room.name: room.id for room in db.session.scalars(select(Room))}
        providers = {p.display_name: p.id for p in db.session.scalars(select(Provider))}
        types = {t.name: t.id for t in db.session.scalars(select(AppointmentType))}
        return Demo(
            org_id=db.session.scalars(select(Organization.id).where(Organization.slug == "demo")).one(),
            berlin=named["Berlin Mitte"], nyc=named["New York Midtown"], room1=rooms["Room 1"],
            suite_a=rooms["Suite A"], weber=providers["Dr. Anna Weber"], fischer=providers["Jonas Fischer"],
            consult=types["General consultation"], physio=types["Physiotherapy session"],
            admin=find_user_by_email(f"admin@{DOMAIN}").id, frontdesk=find_user_by_email(f"frontdesk@{DOMAIN}").id,
            patient=find_user_by_email(f"patient@{DOMAIN}").id,
        )


@pytest.fixture
def elsewhere(app, demo) -> Elsewhere:
    with app.app_context():
        with write_transaction():
            org = Organization(name="Elsewhere Clinic", slug="elsewhere")
            location = Location(organization=org, name="Far Away", timezone="UTC")
            db.session.add_all([org, location])
            db.session.flush()
            room = Room(organization_id=org.id, location=location, name="Far Room")
            provider = Provider(organization_id=org.id, display_name="Dr. Far", timezone="UTC", locations=[location])
            kind = AppointmentType(organization_id=org.id, name="Far Visit", duration_minutes=30)
            user = User(organization_id=org.id, email="far@elsewhere.example",
                        email_index=crypto.email_index("far@elsewhere.example"), password_hash="-",
                        role="frontdesk", full_name="Far Desk")
            db.session.add_all([room, provider, kind, user])
        return Elsewhere(location.id, room.id, provider.id, kind.id, user.id)


def signed_in(app, key: str):
    client = app.test_client()
    with app.app_context():
        sign_in_as(client, find_user_by_email(f"{key}@{DOMAIN}"))
    return client


@pytest.fixture
def admin(app, demo):
    return signed_in(app, "admin")


def post(client, path: str, data: dict, token: str | None = None):
    """POST a form the way the page does: with the session's CSRF token and a form token
    (None values are boxes left unticked: not sent at all)."""
    sent = {"csrf_token": csrf_token(client, "/admin/"), "form_token": token or f"t-{uuid.uuid4().hex[:16]}",
            **{key: value for key, value in data.items() if value is not None}}
    return client.post(path, data=sent)


def counts(app) -> dict[str, int]:
    """Rows of everything the admin pages write: equal before and after a refusal."""
    with app.app_context():
        tables = {model.__tablename__: model for model in (Location, Room, Provider, AppointmentType, User)}
        found = {name: db.session.scalar(select(func.count()).select_from(model)) for name, model in tables.items()}
        found["provider_locations"] = db.session.scalar(select(func.count()).select_from(provider_locations))
        return found


def one(app, model, *where):
    with app.app_context():
        row = db.session.scalars(select(model).where(*where)).one()
        db.session.expunge(row)
        return row


def flash_texts(response) -> list[str]:
    return [text for _, text in re.findall(r'<div class="flash flash-(\w+)">([^<]*)</div>', page_text(response))]


# --- what each form sends when filled in correctly ----------------------------------------------

def location_data(demo: Demo, **changes) -> dict:
    return {"name": "Hamburg Hafen", "timezone": "Europe/Berlin", "address": "Hafenstraße 1", "phone": "+49 40 1234",
            **changes}


def room_data(demo: Demo, **changes) -> dict:
    return {"name": "Treatment 3", "capacity": "1", **changes}


def provider_data(demo: Demo, **changes) -> dict:
    return {"name": "Dr. Lea Novak", "specialty": "Cardiology", "timezone": "Europe/Berlin",
            "location_ids": [str(demo.berlin)], "bio": "", **changes}


def type_data(demo: Demo, **changes) -> dict:
    return {"name": "Nutrition check", "description": "A first talk about food.", "mode": "video",
            "duration_minutes": "40", "buffer_before_minutes": "5", "buffer_after_minutes": "10",
            "slot_interval_minutes": "20", "seats": "2", "price": "49.50", "currency": "EUR",
            "min_notice_minutes": "60", "max_future_days": "30", "requires_approval": "y",
            "allow_patient_reschedule": "y", "max_reschedules": "1", "cancel_notice_minutes": "720",
            "location_id": str(demo.berlin), "room_id": str(demo.room1),
            "provider_ids": [str(demo.weber), str(demo.fischer)], "is_active": "y", **changes}


def user_data(demo: Demo, **changes) -> dict:
    return {"full_name": "Nora New", "email": f"nora@{DOMAIN}", "password": PASSWORD, "role": "frontdesk",
            "provider_id": "", **changes}


FORMS = {  # form -> (page that adds one, what it sends)
    "location": (lambda d: "/admin/locations/new", location_data),
    "room": (lambda d: f"/admin/locations/{d.berlin}/rooms/new", room_data),
    "provider": (lambda d: "/admin/providers/new", provider_data),
    "type": (lambda d: "/admin/appointment-types/new", type_data),
    "user": (lambda d: "/admin/users/new", user_data),
}


# --- pages render with the demo clinic ----------------------------------------------------------

@pytest.mark.parametrize(("path", "shown"), [
    ("/admin/", ["Manage locations", "Manage providers", "Manage appointment types"]),
    ("/admin/locations", ["Berlin Mitte", "Europe/Berlin", "Group studio", "Video room", "Torstraße 101"]),
    ("/admin/locations/new", ["New location", "America/New_York"]),
    ("/admin/providers", ["Dr. Anna Weber", "General practice", f"weber@{DOMAIN}", "New York Midtown"]),
    ("/admin/providers/new", ["Sign-in (optional)", "Berlin Mitte", "New York Midtown"]),
    ("/admin/appointment-types", ["Physiotherapy session", "Needs approval", "€85.00", "Video call"]),
    ("/admin/appointment-types/new", ["Dr. Anna Weber", "Berlin Mitte · Group studio", "Cancellation notice"]),
    ("/admin/users", ["Morgan Manager", f"frontdesk@{DOMAIN}", "Front desk", "(you)"]),
    ("/admin/users/new", ["New staff user", "Dr. Maya Chen (signs in as Dr. Maya Chen)"]),
    ("/admin/settings", ["Riverside Health", 'name="hold_minutes"', 'value="10"']),
])
def test_each_admin_page_shows_the_demo_clinic(admin, path, shown):
    response = admin.get(path)
    assert response.status_code == 200
    text = page_text(response)
    for expected in shown:
        assert expected in text, expected


def test_edit_pages_are_filled_with_the_saved_values(app, demo, admin):
    location = page_text(admin.get(f"/admin/locations/{demo.berlin}"))
    assert 'value="Berlin Mitte"' in location and "Room 2" in location
    assert re.search(r'<option selected value="Europe/Berlin">|<option value="Europe/Berlin" selected>', location)
    room = page_text(admin.get(f"/admin/rooms/{demo.room1}"))
    assert 'value="Room 1"' in room and "At Berlin Mitte" in room
    provider = page_text(admin.get(f"/admin/providers/{demo.weber}"))
    assert 'value="Dr. Anna Weber"' in provider and f"weber@{DOMAIN}" in provider
    assert re.search(rf'checked[^>]*value="{demo.berlin}"|value="{demo.berlin}"[^>]*checked', provider)
    kind = page_text(admin.get(f"/admin/appointment-types/{demo.physio}"))
    assert 'value="85.00"' in kind and 'value="2880"' in kind  # price and the 48 h cancellation notice
    user = page_text(admin.get(f"/admin/users/{demo.frontdesk}"))
    assert "Frankie Desk" in user and "Switch off sign-in" in user


@pytest.mark.parametrize(("key", "tabs", "hidden"), [
    ("admin", ["/admin/locations", "/admin/providers", "/admin/appointment-types", "/admin/users", "/admin/settings"],
     []),
    ("manager", ["/admin/locations", "/admin/providers", "/admin/appointment-types"],
     ["/admin/users", "/admin/settings"]),  # managers are not shown what they may not open
])
def test_the_overview_links_to_the_pages_each_role_may_open(app, demo, key, tabs, hidden):
    body = signed_in(app, key).get("/admin/").get_data(as_text=True)
    for href in tabs:
        assert f'href="{href}"' in body, href
    for href in hidden:
        assert f'href="{href}"' not in body, href


# --- locations and rooms ------------------------------------------------------------------------

def test_a_new_location_is_listed_and_its_edit_sticks(app, demo, admin):
    created = post(admin, "/admin/locations/new", location_data(demo))
    assert created.status_code == 303
    location = one(app, Location, Location.name == "Hamburg Hafen")
    assert created.headers["Location"] == f"/admin/locations/{location.id}"
    assert (location.organization_id, location.timezone, location.phone) == (demo.org_id, "Europe/Berlin", "+49 40 1234")
    assert "Hamburg Hafen is added" in " ".join(flash_texts(admin.get(created.headers["Location"])))
    assert "Hafenstraße 1" in page_text(admin.get("/admin/locations"))

    # is_active left unticked: the location closes; the address is cleared
    edited = post(admin, f"/admin/locations/{location.id}",
                  location_data(demo, name="Hamburg Altona", timezone="Europe/London", address=""))
    assert edited.status_code == 303 and edited.headers["Location"] == "/admin/locations"
    saved = one(app, Location, Location.id == location.id)
    assert (saved.name, saved.timezone, saved.address, saved.is_active) == ("Hamburg Altona", "Europe/London", None,
                                                                            False)
    listing = page_text(admin.get("/admin/locations"))
    assert "Hamburg Altona" in listing and "Hamburg Hafen" not in listing and "Inactive" in listing


def test_rooms_are_added_to_their_location_and_edited(app, demo, admin):
    created = post(admin, f"/admin/locations/{demo.berlin}/rooms/new",
                   room_data(demo, capacity="2", is_virtual="y"))
    assert created.status_code == 303 and created.headers["Location"] == f"/admin/locations/{demo.berlin}"
    room = one(app, Room, Room.name == "Treatment 3")
    assert (room.location_id, room.capacity, room.is_virtual, room.is_active) == (demo.berlin, 2, True, True)
    assert "Treatment 3" in page_text(admin.get(f"/admin/locations/{demo.berlin}"))

    edited = post(admin, f"/admin/rooms/{room.id}", {"name": "Treatment 3b", "capacity": "4"})
    assert edited.status_code == 303
    saved = one(app, Room, Room.id == room.id)
    assert (saved.name, saved.capacity, saved.is_virtual, saved.is_active) == ("Treatment 3b", 4, False, False)
    assert "Treatment 3b" in page_text(admin.get("/admin/locations"))


# --- providers ----------------------------------------------------------------------------------

def test_a_new_provider_serves_the_chosen_locations_and_the_edit_moves_them(app, demo, admin):
    created = post(admin, "/admin/providers/new",
                   provider_data(demo, location_ids=[str(demo.berlin), str(demo.nyc)], bio="Heart health."))
    assert created.status_code == 303
    with app.app_context():
        provider = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Lea Novak")).one()
        assert {loc.id for loc in provider.locations} == {demo.berlin, demo.nyc}
        assert (provider.specialty, provider.timezone, provider.bio) == ("Cardiology", "Europe/Berlin", "Heart health.")
        assert db.session.scalars(select(User).where(User.provider_id == provider.id)).first() is None
        provider_id = provider.id
    assert "Dr. Lea Novak" in page_text(admin.get("/admin/providers"))

    edited = post(admin, f"/admin/providers/{provider_id}",
                  provider_data(demo, name="Dr. Lea Novak-Berg", timezone="America/New_York",
                                location_ids=[str(demo.nyc)], is_active="y"))
    assert edited.status_code == 303
    with app.app_context():
        saved = db.session.get(Provider, provider_id)
        assert (saved.display_name, saved.timezone, [loc.id for loc in saved.locations]) == (
            "Dr. Lea Novak-Berg", "America/New_York", [demo.nyc])
        assert saved.is_active


def test_a_provider_added_with_a_sign_in_can_open_their_agenda(app, demo, admin):
    created = post(admin, "/admin/providers/new",
                   provider_data(demo, login_email=f"novak@{DOMAIN}", login_password=PASSWORD))
    assert created.status_code == 303
    with app.app_context():
        user = find_user_by_email(f"novak@{DOMAIN}")
        assert user.role == "provider" and user.provider.display_name == "Dr. Lea Novak"
        assert user.organization_id == demo.org_id
    provider_client = app.test_client()
    assert login(provider_client, f"novak@{DOMAIN}", PASSWORD).headers["Location"] == "/provider/"
    assert provider_client.get("/provider/").status_code == 200


# --- appointment types --------------------------------------------------------------------------

def test_an_active_type_nobody_offers_is_saved_with_a_word_on_it(app, demo, admin):
    created = post(admin, "/admin/appointment-types/new", type_data(demo, provider_ids=[]))
    assert created.status_code == 303
    said = " ".join(flash_texts(admin.get(created.headers["Location"])))
    assert "Nutrition check is added" in said and "No clinician offers it yet" in said
    offered = post(admin, "/admin/appointment-types/new", type_data(demo, name="Diet review"))
    assert "No clinician" not in " ".join(flash_texts(admin.get(offered.headers["Location"])))


def test_a_new_appointment_type_keeps_every_policy(app, demo, admin):
    created = post(admin, "/admin/appointment-types/new", type_data(demo))
    assert created.status_code == 303
    with app.app_context():
        kind = db.session.scalars(select(AppointmentType).where(AppointmentType.name == "Nutrition check")).one()
        policies = {name: getattr(kind, name) for name in (
            "mode", "duration_minutes", "buffer_before_minutes", "buffer_after_minutes", "slot_interval_minutes",
            "seats", "price_cents", "currency", "min_notice_minutes", "max_future_days", "requires_approval",
            "allow_patient_reschedule", "max_reschedules", "cancel_notice_minutes", "default_location_id",
            "default_room_id", "is_active", "description")}
        assert policies == {
            "mode": "video", "duration_minutes": 40, "buffer_before_minutes": 5, "buffer_after_minutes": 10,
            "slot_interval_minutes": 20, "seats": 2, "price_cents": 4950, "currency": "EUR",
            "min_notice_minutes": 60, "max_future_days": 30, "requires_approval": True,
            "allow_patient_reschedule": True, "max_reschedules": 1, "cancel_notice_minutes": 720,
            "default_location_id": demo.berlin, "default_room_id": demo.room1, "is_active": True,
            "description": "A first talk about food.",
        }
        assert {p.id for p in kind.providers} == {demo.weber, demo.fischer}
    listing = page_text(admin.get("/admin/appointment-types"))
    assert "Nutrition check" in listing and "€49.50" in listing


def test_editing_a_type_changes_and_clears_its_policies(app, demo, admin):
    # the physiotherapy session: price, approval and default location cleared; now offered by Weber only
    edited = post(admin, f"/admin/appointment-types/{demo.physio}", type_data(
        demo, name="Physiotherapy session", mode="in_person", price="", currency="", requires_approval=None,
        location_id="", room_id="", max_reschedules="", cancel_notice_minutes="", slot_interval_minutes="",
        provider_ids=[str(demo.weber)]))
    assert edited.status_code == 303
    with app.app_context():
        kind = db.session.get(AppointmentType, demo.physio)
        assert (kind.price_cents, kind.currency, kind.requires_approval, kind.default_location_id,
                kind.max_reschedules, kind.cancel_notice_minutes, kind.slot_interval_minutes) == (
            None, None, False, None, None, None, None)
        assert [p.id for p in kind.providers] == [demo.weber]
        assert kind.duration_minutes == 40


# --- refusals: 422 with the message at the field, nothing written ------------------------------

@pytest.mark.parametrize(("form", "changes", "field", "message"), [
    ("location", {"name": ""}, "name", "This field is required."),  # presence, checked by the form
    ("location", {"timezone": "Mars/Olympus"}, "timezone", "Choose a time zone from the list."),
    ("location", {"name": "x" * 201}, "name", "Use at most 200 characters."),  # the API schema's bound
    ("location", {"name": "Berlin Mitte"}, "name", "A location with this name exists."),  # the service's rule
    ("room", {"capacity": "0"}, "capacity", "Use 1 or more."),
    ("room", {"capacity": "two"}, "capacity", "Not a valid integer value."),
    ("room", {"name": "Room 2"}, "name", "This location already has a room with this name."),
    ("provider", {"name": "  "}, "name", "This field is required."),
    ("provider", {"login_email": f"weber@{DOMAIN}", "login_password": PASSWORD}, "login_email",
     "A user with this email already exists."),  # refused before the provider is written
    ("provider", {"login_email": f"lea@{DOMAIN}", "login_password": "short"}, "login_password",
     "Use at least 10 characters."),
    ("provider", {"login_password": PASSWORD}, "login_password", "A password needs a sign-in email."),
    ("type", {"duration_minutes": "3"}, "duration_minutes", "Use 5 or more."),
    ("type", {"max_future_days": "1000"}, "max_future_days", "Use 730 or less."),
    ("type", {"seats": "0"}, "seats", "Use 1 or more."),
    ("type", {"price": "12.345"}, "price", "Use at most two decimals."),
    ("type", {"price": "-5"}, "price", "Use 0.00 or more."),  # the schema's bound on cents, read as money
    ("type", {"price": "100000.01"}, "price", "Use 100,000.00 or less."),
    ("type", {"price": "Infinity"}, "price", "Give an amount like 49.50."),  # parses as a Decimal: no 500
    ("type", {"price": "NaN"}, "price", "Give an amount like 49.50."),
    ("type", {"currency": ""}, "currency", "Choose the currency of the price."),
    ("type", {"room_id": "{suite_a}"}, "room_id", "This room is at another location than the default location."),
    ("type", {"mode": "telepathy"}, "mode", "Not a valid choice."),
    ("user", {"role": "provider"}, "provider_id", "Choose the provider this person signs in as."),
    ("user", {"role": "provider", "provider_id": "{weber}"}, "provider_id",
     "Dr. Anna Weber already signs in as Dr. Anna Weber."),  # one sign-in per provider
    ("user", {"email": f"manager@{DOMAIN}"}, "email", "A user with this email already exists."),
    ("user", {"password": "short"}, "password", "Use at least 10 characters."),
    ("user", {"role": "patient"}, "role", "Not a valid choice."),  # patients register themselves
])
def test_invalid_input_is_explained_at_the_field_and_writes_nothing(app, demo, admin, form, changes, field, message):
    path, data = FORMS[form]
    sent = data(demo, **{k: v.format(**vars(demo)) for k, v in changes.items()})
    before = counts(app)
    response = post(admin, path(demo), sent)
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert counts(app) == before


def test_the_form_and_the_schema_report_their_findings_together(app, demo, admin):
    before = counts(app)
    response = post(admin, "/admin/appointment-types/new", type_data(demo, name="", duration_minutes="3", seats="0"))
    assert response.status_code == 422
    assert field_error(response, "name") == "This field is required."  # the form's
    assert field_error(response, "duration_minutes") == "Use 5 or more."  # the schema's, in the same answer
    assert field_error(response, "seats") == "Use 1 or more."
    assert counts(app) == before


def test_a_foreign_location_in_the_provider_form_is_a_field_error(app, demo, elsewhere, admin):
    before = counts(app)
    response = post(admin, "/admin/providers/new", provider_data(demo, location_ids=[str(elsewhere.location)]))
    assert response.status_code == 422
    assert "is not a valid choice" in field_error(response, "location_ids")
    assert counts(app) == before


def test_an_invalid_edit_keeps_the_saved_values(app, demo, admin):
    response = post(admin, f"/admin/locations/{demo.berlin}", location_data(demo, name="New York Midtown"))
    assert response.status_code == 422
    assert field_error(response, "name") == "A location with this name exists."
    assert 'value="New York Midtown"' in page_text(response)  # the form comes back as typed
    assert one(app, Location, Location.id == demo.berlin).name == "Berlin Mitte"


def test_a_corrected_form_after_a_refusal_saves(app, demo, admin):
    refused = post(admin, "/admin/locations/new", location_data(demo, name="Berlin Mitte"), token="loc-fix-1")
    assert refused.status_code == 422
    fresh_token = re.search(r'name="form_token" value="([^"]+)"', refused.get_data(as_text=True)).group(1)
    assert fresh_token != "loc-fix-1"  # the spent token is not offered again
    saved = post(admin, "/admin/locations/new", location_data(demo, name="Berlin Kreuzberg"), token=fresh_token)
    assert saved.status_code == 303
    assert one(app, Location, Location.name == "Berlin Kreuzberg").timezone == "Europe/Berlin"


def test_a_form_without_its_csrf_token_is_refused_and_writes_nothing(app, demo, admin):
    before = counts(app)
    response = admin.post("/admin/locations/new", data={"form_token": "no-csrf-1", **location_data(demo)})
    assert response.status_code == 400
    assert counts(app) == before


# --- double submission --------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["location", "room", "provider", "type", "user"])
def test_a_double_submitted_form_saves_once_and_both_answers_lead_to_the_same_page(app, demo, admin, form):
    path, data = FORMS[form]
    before = counts(app)
    first = post(admin, path(demo), data(demo), token=f"twice-{form}-1")
    second = post(admin, path(demo), data(demo), token=f"twice-{form}-1")
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    after = counts(app)
    grown = {table: after[table] - before[table] for table in after if after[table] != before[table]}
    expected = {"location": {"locations": 1}, "room": {"rooms": 1},
                "provider": {"providers": 1, "provider_locations": 1},
                "type": {"appointment_types": 1}, "user": {"users": 1}}[form]
    assert grown == expected


def test_a_double_submitted_settings_form_applies_once(app, demo, admin):
    data = {"name": "Riverside Clinic", "hold_minutes": "20", "slot_exposure_enabled": "y"}
    first = post(admin, "/admin/settings", data, token="settings-twice-1")
    second = post(admin, "/admin/settings", {**data, "hold_minutes": "30"}, token="settings-twice-1")
    assert first.status_code == second.status_code == 303
    assert one(app, Organization, Organization.id == demo.org_id).hold_minutes == 20


# --- who may open what --------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "data"), [
    ("GET", "/admin/users", None),
    ("GET", "/admin/users/new", None),
    ("GET", "/admin/users/{frontdesk}", None),
    ("GET", "/admin/settings", None),
    ("POST", "/admin/users/new", {"full_name": "Sneaky", "email": f"sneaky@{DOMAIN}", "password": PASSWORD,
                                  "role": "admin", "provider_id": ""}),
    ("POST", "/admin/users/{frontdesk}", {"role": "admin", "provider_id": ""}),
    ("POST", "/admin/users/{frontdesk}/deactivate", {}),
    ("POST", "/admin/settings", {"name": "Taken over", "hold_minutes": "30"}),
])
def test_managers_get_403_on_users_and_settings_and_change_nothing(app, demo, method, path, data):
    manager = signed_in(app, "manager")
    before = counts(app)
    url = path.format(**vars(demo))
    response = manager.get(url) if method == "GET" else post(manager, url, data)
    assert response.status_code == 403
    assert counts(app) == before
    org = one(app, Organization, Organization.id == demo.org_id)
    frontdesk = one(app, User, User.id == demo.frontdesk)
    assert (org.name, org.hold_minutes, frontdesk.role, frontdesk.is_enabled) == ("Riverside Health", 10, "frontdesk",
                                                                                  True)


@pytest.mark.parametrize("path", ["/admin/locations", "/admin/locations/new", "/admin/providers/{weber}",
                                  "/admin/appointment-types/{physio}", "/admin/rooms/{room1}"])
def test_managers_set_up_the_clinic(app, demo, path):
    assert signed_in(app, "manager").get(path.format(**vars(demo))).status_code == 200


def test_a_manager_creates_a_location(app, demo):
    manager = signed_in(app, "manager")
    assert post(manager, "/admin/locations/new", location_data(demo)).status_code == 303
    assert one(app, Location, Location.name == "Hamburg Hafen").organization_id == demo.org_id


@pytest.mark.parametrize("key", ["frontdesk", "weber", "patient"])
def test_other_roles_cannot_open_the_setup_pages(app, demo, key):
    assert signed_in(app, key).get("/admin/locations").status_code == 403


@pytest.mark.parametrize(("path", "data"), [
    ("/admin/locations/{location}", {"name": "Mine now", "timezone": "UTC"}),
    ("/admin/locations/{location}/rooms/new", {"name": "Planted", "capacity": "1"}),
    ("/admin/rooms/{room}", {"name": "Mine now", "capacity": "1"}),
    ("/admin/providers/{provider}", {"name": "Mine now", "timezone": "UTC"}),
    ("/admin/appointment-types/{kind}", {"name": "Mine now", "duration_minutes": "30"}),
    ("/admin/users/{user}", {"role": "admin"}),
    ("/admin/users/{user}/deactivate", None),
])
def test_another_organizations_ids_are_404_and_stay_untouched(app, demo, elsewhere, admin, path, data):
    url = path.format(**vars(elsewhere))
    before = counts(app)
    if data is not None:
        assert admin.get(url).status_code == 404
    assert post(admin, url, data or {}).status_code == 404
    assert counts(app) == before
    assert one(app, Location, Location.id == elsewhere.location).name == "Far Away"
    assert one(app, Room, Room.id == elsewhere.room).name == "Far Room"
    assert one(app, Provider, Provider.id == elsewhere.provider).display_name == "Dr. Far"
    assert one(app, AppointmentType, AppointmentType.id == elsewhere.kind).name == "Far Visit"
    far = one(app, User, User.id == elsewhere.user)
    assert (far.role, far.is_enabled) == ("frontdesk", True)


def test_a_patient_is_not_a_staff_user_here(app, demo, admin):
    assert admin.get(f"/admin/users/{demo.patient}").status_code == 404
    assert post(admin, f"/admin/users/{demo.patient}", {"role": "admin", "provider_id": ""}).status_code == 404
    assert one(app, User, User.id == demo.patient).role == "patient"


# --- users and roles ----------------------------------------------------------------------------

def test_a_new_staff_user_signs_in_with_the_role_given(app, demo, admin):
    created = post(admin, "/admin/users/new", user_data(demo, role="manager"))
    assert created.status_code == 303 and created.headers["Location"] == "/admin/users"
    assert "Nora New" in page_text(admin.get("/admin/users"))
    nora = app.test_client()
    assert login(nora, f"nora@{DOMAIN}", PASSWORD).headers["Location"] == "/admin/"
    assert nora.get("/admin/users").status_code == 403  # a manager, not an admin


def test_a_role_change_applies_on_the_users_next_request(app, demo, admin):
    desk = signed_in(app, "frontdesk")
    assert desk.get("/admin/locations").status_code == 403
    changed = post(admin, f"/admin/users/{demo.frontdesk}", {"role": "manager", "provider_id": ""})
    assert changed.status_code == 303
    assert "Frankie Desk is now manager." in flash_texts(admin.get(changed.headers["Location"]))
    assert desk.get("/admin/locations").status_code == 200


def test_making_a_user_a_provider_links_them_to_a_provider_without_a_sign_in(app, demo, admin):
    provider = post(admin, "/admin/providers/new", provider_data(demo))
    assert provider.status_code == 303
    novak = one(app, Provider, Provider.display_name == "Dr. Lea Novak")
    changed = post(admin, f"/admin/users/{demo.frontdesk}", {"role": "provider", "provider_id": str(novak.id)})
    assert changed.status_code == 303
    frontdesk = one(app, User, User.id == demo.frontdesk)
    assert (frontdesk.role, frontdesk.provider_id) == ("provider", novak.id)


def test_the_only_admin_can_neither_demote_nor_switch_off_themself(app, demo, admin):
    demoted = post(admin, f"/admin/users/{demo.admin}", {"role": "manager", "provider_id": ""})
    assert demoted.status_code == 422
    assert field_error(demoted, "role") == ("Alex Admin is the clinic's only active administrator. "
                                            "Make another user an administrator first.")
    switched_off = post(admin, f"/admin/users/{demo.admin}/deactivate", {})
    assert switched_off.status_code == 422
    assert "only active administrator" in page_text(switched_off)
    me = one(app, User, User.id == demo.admin)
    assert (me.role, me.is_enabled) == ("admin", True)

    # with a second admin, stepping down is fine
    assert post(admin, f"/admin/users/{demo.frontdesk}", {"role": "admin", "provider_id": ""}).status_code == 303
    assert post(admin, f"/admin/users/{demo.admin}", {"role": "manager", "provider_id": ""}).status_code == 303
    assert one(app, User, User.id == demo.admin).role == "manager"


def test_switching_a_user_off_ends_their_session_and_switching_on_restores_sign_in(app, demo, admin):
    desk = signed_in(app, "frontdesk")
    assert desk.get("/frontdesk/").status_code == 200
    off = post(admin, f"/admin/users/{demo.frontdesk}/deactivate", {})
    assert off.status_code == 303
    assert one(app, User, User.id == demo.frontdesk).is_enabled is False
    assert desk.get("/frontdesk/").headers["Location"].startswith("/auth/login")  # the open session ended
    assert login(app.test_client(), f"frontdesk@{DOMAIN}").status_code == 401  # sign-in refused

    on = post(admin, f"/admin/users/{demo.frontdesk}/reactivate", {})
    assert on.status_code == 303
    assert login(app.test_client(), f"frontdesk@{DOMAIN}").headers["Location"] == "/frontdesk/"


# --- organization settings ----------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"hold_minutes": "1"}, "hold_minutes", "Choose between 2 and 60 minutes."),  # too short to type details
    ({"hold_minutes": "61"}, "hold_minutes", "Choose between 2 and 60 minutes."),  # would block slots for long
    ({"hold_minutes": ""}, "hold_minutes", "Give a whole number."),
    ({"name": ""}, "name", "This field is required."),
])
def test_invalid_settings_are_explained_and_change_nothing(app, demo, admin, changes, field, message):
    response = post(admin, "/admin/settings", {"name": "Riverside Clinic", "hold_minutes": "15", **changes})
    assert response.status_code == 422
    assert field_error(response, field) == message
    org = one(app, Organization, Organization.id == demo.org_id)
    assert (org.name, org.hold_minutes, org.slot_exposure_enabled) == ("Riverside Health", 10, True)


def _slot_starts(app, client, demo) -> list[str]:
    monday = day_ahead(1)
    body = client.get(f"/book?appointment_type_id={demo.consult}&provider_id={demo.weber}&date={monday}"
                      "&tz=Europe/Berlin").get_data(as_text=True)
    return re.findall(r'data-start="([^"]+)"', body)


def test_new_holds_last_as_long_as_the_settings_say(app, demo, admin):
    saved = post(admin, "/admin/settings", {"name": "Riverside Clinic", "hold_minutes": "25",
                                            "slot_exposure_enabled": "y"})
    assert saved.status_code == 303
    assert "new holds last 25 minutes" in " ".join(flash_texts(admin.get("/admin/settings")))
    guest = app.test_client()
    start = _slot_starts(app, guest, demo)[0]
    held = guest.post("/book/hold", data={
        "csrf_token": csrf_token(guest, "/book"), "form_token": "hold-after-settings",
        "provider_id": str(demo.weber), "appointment_type_id": str(demo.consult), "location_id": str(demo.berlin),
        "start": start})
    assert held.status_code == 303
    with app.app_context():
        booking = db.session.scalars(select(Booking).where(Booking.status == "held")).one()
        assert booking.hold_expires_at - utcnow() > timedelta(minutes=24)  # not the demo's 10 minutes
        assert booking.hold_expires_at - utcnow() <= timedelta(minutes=25)
        assert db.session.get(Organization, demo.org_id).name == "Riverside Clinic"


def test_switching_sampling_off_shows_patients_every_open_time(app, demo, admin):
    patient_view = app.test_client()
    sampled = _slot_starts(app, patient_view, demo)
    assert 1 <= len(sampled) <= 3  # a provider query shows a small sample (docs/architecture.md)
    saved = post(admin, "/admin/settings", {"name": "Riverside Health", "hold_minutes": "10"})  # box unticked
    assert saved.status_code == 303
    assert one(app, Organization, Organization.id == demo.org_id).slot_exposure_enabled is False
    every = _slot_starts(app, patient_view, demo)
    assert len(every) > 3 and set(sampled) <= set(every)


def test_a_new_clinics_first_location_starts_in_the_clinics_own_zone(app, client, db_session, monkeypatch):
    from app.clinic.organization import create_organization
    from tests.integration.api_helpers import cheap_hashing, make_user

    cheap_hashing(monkeypatch)
    with app.app_context():
        org_id = create_organization(name="Lindenhof", slug="lindenhof", timezone="Europe/Vienna").id
    email = make_user(app, org_id, "admin")
    with app.app_context():
        sign_in_as(client, find_user_by_email(email))
    overview = page_text(client.get("/admin/"))
    assert "No locations yet" in overview and "No clinicians yet" in overview  # an empty clinic says where to start
    page = client.get("/admin/locations/new").get_data(as_text=True)
    assert re.search(r'<option[^>]*selected[^>]*value="Europe/Vienna"|<option value="Europe/Vienna"[^>]*selected', page)
