"""Who may open what: every page and form of the site, for every role, and every live
channel kind, for every role (issue 6).

ROUTES lists every non-API route of the URL map with the area that guards it; a test
fails when a route is added without a row here. For each role the expected answer
follows from the area:

    public       everyone gets the page's own answer
    patient      patients; anonymous visitors are sent to sign in; staff get 403
    provider     clinicians (their own data only)
    desk         front desk, managers, admins
    staff        every staff role (providers: their own visits only)
    clinic       managers, admins (setup of the clinic)
    admin        admins only (users and roles, organization settings)

Forms are POSTed with a valid CSRF token and no fields, so what answers is the gate
(403 / sign-in) or, for a role that may use the form, the form itself (a 303 with a
message, a 422 with field errors, or 404 for an id that is not theirs) -- never a 500.
"""
from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.accounts import find_user_by_email
from app.clinic import setup
from app.extensions import db
from app.models import Provider, Room, User
from app.realtime.channels import authorize
from tests.integration.helpers import sign_in_as
from tests.integration.test_staff_pages import DOMAIN, demo  # noqa: F401

ROLES = ("anonymous", "patient", "provider", "frontdesk", "manager", "admin")
USERS = {"patient": "patient", "provider": "weber", "frontdesk": "frontdesk", "manager": "manager", "admin": "admin"}
ALLOWED = {
    "patient": {"patient"},
    "provider": {"provider"},
    "desk": {"frontdesk", "manager", "admin"},
    "staff": {"provider", "frontdesk", "manager", "admin"},
    "clinic": {"manager", "admin"},
    "admin": {"admin"},
}
LOGIN = "sign-in"
STAFF_404 = {"provider": 404, "frontdesk": 404, "manager": 404, "admin": 404}

# (method, url, area, what a role that may use it gets: one status, or {role: status} for public rows)
ROUTES = [
    # the patient portal
    ("GET", "/", "public", {"anonymous": 200, "patient": 200, "provider": 302, "frontdesk": 302, "manager": 302,
                            "admin": 302}),  # staff are forwarded to their own start page
    ("GET", "/book", "public", 200),
    ("POST", "/book/hold", "public", 400),  # no time chosen
    ("GET", "/book/confirm/{hold}", "public", 404),  # a hold that is not this visitor's
    ("POST", "/book/confirm/{hold}", "public", 404),
    ("POST", "/book/confirm/{hold}/release", "public", 404),  # "choose another time" of someone else's hold
    ("GET", "/book/done/{visit}", "public", {"anonymous": 404, "patient": 200, "provider": 404, "frontdesk": 404,
                                             "manager": 404, "admin": 404}),  # only the patient's own visit
    ("GET", "/bookings/{visit}.ics", "public", {"anonymous": 404, "patient": 200, "provider": 404, "frontdesk": 404,
                                                "manager": 404, "admin": 404}),
    ("GET", "/manage/not-a-token", "public", 404),  # guest links: only a signed token opens one
    ("POST", "/manage/not-a-token/cancel", "public", 404),
    ("GET", "/manage/not-a-token/reschedule", "public", 404),
    ("POST", "/manage/not-a-token/reschedule", "public", 404),
    ("GET", "/appointments", "patient", 200),
    # one visit of Paula's: for anyone else signed in it does not exist
    ("POST", "/appointments/{visit}/cancel", "patient", STAFF_404 | {"patient": 303}),  # refused by policy, with a message
    ("GET", "/appointments/{visit}/reschedule", "patient", STAFF_404 | {"patient": 200}),
    ("POST", "/appointments/{visit}/reschedule", "patient", STAFF_404 | {"patient": 400}),  # no new time given
    ("GET", "/profile", "patient", 200),
    ("POST", "/profile", "patient", 422),  # empty form: field errors
    ("POST", "/profile/timezone", "public", 400),  # no zone given
    # sign-in and sign-up
    ("GET", "/auth/login", "public", {"anonymous": 200, "patient": 302, "provider": 302, "frontdesk": 302,
                                      "manager": 302, "admin": 302}),
    ("POST", "/auth/login", "public", {"anonymous": 422, "patient": 302, "provider": 302, "frontdesk": 302,
                                       "manager": 302, "admin": 302}),
    ("GET", "/auth/register", "public", {"anonymous": 200, "patient": 302, "provider": 302, "frontdesk": 302,
                                         "manager": 302, "admin": 302}),
    ("POST", "/auth/register", "public", {"anonymous": 422, "patient": 302, "provider": 302, "frontdesk": 302,
                                          "manager": 302, "admin": 302}),
    ("POST", "/auth/logout", "public", 302),
    # passwords and addresses (docs/accounts.md): links only work with a signed, unused token
    ("GET", "/auth/check-email", "public", 200),
    ("GET", "/auth/forgot", "public", 200),
    ("POST", "/auth/forgot", "public", 422),  # no address given
    ("GET", "/auth/reset/not-a-token", "public", 400),
    ("POST", "/auth/reset/not-a-token", "public", 400),
    ("GET", "/auth/confirm/not-a-token", "public", 400),
    ("POST", "/auth/confirm/not-a-token", "public", 400),
    ("GET", "/auth/email/not-a-token", "public", 400),
    ("POST", "/auth/email/not-a-token", "public", 400),
    ("GET", "/auth/account", "public", {"anonymous": 302, "patient": 200, "provider": 200, "frontdesk": 200,
                                        "manager": 200, "admin": 200}),
    ("POST", "/auth/account", "public", {"anonymous": 302, "patient": 422, "provider": 422, "frontdesk": 422,
                                         "manager": 422, "admin": 422}),  # empty form: field errors
    # the provider console (Dr. Anna Weber)
    ("GET", "/provider/", "provider", 200),
    ("GET", "/provider/bookings/{visit}", "provider", 200),
    ("POST", "/provider/bookings/{visit}/complete", "provider", 303),  # before the visit: refused with a message
    ("POST", "/provider/block", "provider", 303),
    ("POST", "/provider/time-off", "provider", 303),
    ("GET", "/provider/hours", "provider", 200),
    ("POST", "/provider/hours", "provider", 422),
    ("POST", "/provider/hours/preview", "provider", 200),
    ("GET", "/provider/insights", "provider", 200),
    ("GET", "/provider/blocks", "provider", 200),
    ("POST", "/provider/blocks", "provider", 303),  # no day given: a message
    ("POST", "/provider/blocks/{visit}", "provider", 303),  # no day given: a message
    ("POST", "/provider/blocks/{visit}/delete", "provider", 303),  # not one of their blocks: a message
    ("GET", "/provider/time-off", "provider", 200),
    ("POST", "/provider/time-off/{time_off}/withdraw", "provider", 303),  # Dr. Weber withdraws her request
    ("GET", "/provider/calendars", "provider", 200),
    ("POST", "/provider/calendars/caldav", "provider", 303),  # empty form: refused with a message
    ("POST", "/provider/calendars/ics", "provider", 303),
    ("POST", "/provider/calendars/google", "provider", 303),  # Google not set up here: a message
    ("POST", "/provider/calendars/{connection}/choose", "provider", 404),  # not a connection of theirs
    ("POST", "/provider/calendars/{connection}/sync", "provider", 303),  # refused with a message
    ("POST", "/provider/calendars/{connection}/disconnect", "provider", 303),
    ("POST", "/provider/calendars/feed/rotate", "provider", 303),
    ("GET", "/calendar/feed/not-a-token.ics", "public", 404),  # the private feed: only its token opens it
    ("GET", "/calendar/google/callback", "public", 400),  # no state Bookwell started: refused
    ("POST", "/calendar/google/push", "public", 400),  # Google's notices: no channel headers, refused
    # the front desk
    ("GET", "/frontdesk/", "desk", 200),
    ("GET", "/frontdesk/day", "desk", 200),
    ("GET", "/frontdesk/book", "desk", 200),
    ("GET", "/frontdesk/book/times", "desk", 302),  # no patient chosen yet: back to the first step
    ("GET", "/frontdesk/book/confirm", "desk", 302),
    ("POST", "/frontdesk/book/confirm", "desk", 303),
    ("POST", "/frontdesk/book/patient", "desk", 422),
    ("POST", "/frontdesk/bookings/{visit}/check_in", "desk", 303),  # days ahead: refused with a message
    # the patient directory (issue 12)
    ("GET", "/frontdesk/patients", "desk", 200),
    ("GET", "/frontdesk/patients/{patient}", "desk", 200),
    ("GET", "/frontdesk/patients/{visit}", "desk", 404),  # a booking id is no patient
    ("GET", "/frontdesk/patients/guest/{guest}", "desk", 200),
    ("GET", "/frontdesk/patients/guest/{visit}", "desk", 404),  # Paula's visit is no guest's
    ("POST", "/frontdesk/patients/guest/{guest}/book", "desk", 303),  # on to picking a time
    ("POST", "/frontdesk/patients/guest/{guest}/convert", "desk", 303),  # Lena becomes a patient record
    # booking detail, cancel and reschedule for every staff role (Paula's visit with Dr. Weber)
    ("GET", "/staff/bookings/{visit}", "staff", 200),
    ("GET", "/staff/bookings/{visit}/cancel", "staff", 200),  # the confirmation step
    ("POST", "/staff/bookings/{visit}/cancel", "staff", 422),  # no reason for the patient
    ("GET", "/staff/bookings/{visit}/reschedule", "staff", 200),
    ("POST", "/staff/bookings/{visit}/reschedule", "staff", 400),  # no time chosen
    ("GET", "/staff/bookings/{other_visit}", "staff", {"provider": 404, "frontdesk": 200, "manager": 200,
                                                       "admin": 200}),  # Dr. Fischer's: not Dr. Weber's to see
    # clinic setup
    ("GET", "/admin/", "clinic", 200),
    ("GET", "/admin/time-off", "clinic", 200),
    ("POST", "/admin/time-off/{time_off}/reject", "clinic", 303),
    ("GET", "/admin/calendars", "clinic", 200),
    ("GET", "/admin/locations", "clinic", 200),
    ("GET", "/admin/locations/new", "clinic", 200),
    ("POST", "/admin/locations/new", "clinic", 422),
    ("GET", "/admin/locations/{location}", "clinic", 200),
    ("POST", "/admin/locations/{location}", "clinic", 303),  # edit forms keep what is not posted: saved unchanged
    ("GET", "/admin/locations/{location}/rooms/new", "clinic", 200),
    ("POST", "/admin/locations/{location}/rooms/new", "clinic", 422),
    ("GET", "/admin/rooms/{room}", "clinic", 200),
    ("POST", "/admin/rooms/{room}", "clinic", 422),
    ("GET", "/admin/providers", "clinic", 200),
    ("GET", "/admin/providers/new", "clinic", 200),
    ("POST", "/admin/providers/new", "clinic", 422),
    ("GET", "/admin/providers/{provider}", "clinic", 200),
    ("GET", "/admin/providers/{provider}/hours", "clinic", 200),  # the provider's own editor, for a manager
    ("POST", "/admin/providers/{provider}/hours", "clinic", 422),
    ("POST", "/admin/providers/{provider}/hours/preview", "clinic", 200),
    ("POST", "/admin/providers/{provider}", "clinic", 303),
    ("GET", "/admin/appointment-types", "clinic", 200),
    ("GET", "/admin/appointment-types/new", "clinic", 200),
    ("POST", "/admin/appointment-types/new", "clinic", 422),
    ("GET", "/admin/appointment-types/{type}", "clinic", 200),
    ("POST", "/admin/appointment-types/{type}", "clinic", 422),
    # users, roles and organization settings
    ("GET", "/admin/users", "admin", 200),
    ("GET", "/admin/users/new", "admin", 200),
    ("POST", "/admin/users/new", "admin", 422),
    ("GET", "/admin/users/{user}", "admin", 200),
    ("POST", "/admin/users/{user}", "admin", 303),
    ("POST", "/admin/users/{user}/deactivate", "admin", 303),
    ("POST", "/admin/users/{user}/reactivate", "admin", 303),
    ("GET", "/admin/settings", "admin", 200),
    ("POST", "/admin/settings", "admin", 422),
]
NOT_PAGES = {"/healthz", "/readyz", "/metrics", "/ws"}  # machine endpoints, covered by their own tests


def expected(role: str, area: str, ok) -> int | str:
    """`ok` is what a role that may use the route gets; a dict overrides it per role."""
    if isinstance(ok, dict) and role in ok:
        return ok[role]
    if area == "public" or role in ALLOWED[area]:
        return ok
    return LOGIN if role == "anonymous" else 403


def test_every_page_and_form_is_in_the_table(app):
    listed = {(method, re.sub(r"\{[a-z_]+\}", "<id>", url)) for method, url, _, _ in ROUTES}
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/static/")) or rule.rule in NOT_PAGES:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            shape = re.sub(r"<[^>]+>", "<id>", rule.rule)
            if not any(m == method and re.fullmatch(re.escape(shape).replace("<id>", "[^/]+"),
                                                    re.sub(r"\{[a-z_]+\}", "x", url).replace("<id>", "x"))
                       for m, url in listed):
                missing.append(f"{method} {rule.rule}")
    assert not missing, f"routes without a row in ROUTES: {missing}"


@pytest.fixture
def ids(app, demo) -> dict[str, str]:
    with app.app_context():
        time_off = setup.request_time_off(demo.organization_id, provider_id=demo.weber,
                                          start_at=_far(40), end_at=_far(41))
        room = db.session.scalars(select(Room).where(Room.location_id == demo.berlin_id)).first()
        user = find_user_by_email(f"frontdesk@{DOMAIN}")
        return {"visit": str(demo.weber_visit), "hold": str(uuid.uuid4()), "time_off": str(time_off.id),
                "location": str(demo.berlin_id), "room": str(room.id), "provider": str(demo.weber),
                "type": str(demo.consult), "user": str(user.id), "guest": str(demo.lena_physio),
                "patient": str(find_user_by_email(f"patient@{DOMAIN}").id), "other_visit": str(demo.paula_physio),
                "connection": str(uuid.uuid4())}


def _far(days: int):
    from datetime import timedelta

    from app.models import utcnow

    return utcnow().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=days)


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.mark.parametrize("role", ROLES)
def test_every_role_gets_the_expected_answer_from_every_page_and_form(app, client, demo, ids, role):
    if role != "anonymous":
        with app.app_context():
            sign_in_as(client, find_user_by_email(f"{USERS[role]}@{DOMAIN}"))
    token = _CSRF.search(client.get("/auth/login" if role == "anonymous" else "/book").get_data(as_text=True))
    assert token, "no CSRF token to post with"
    wrong = []
    for method, url, area, ok in ROUTES:
        path = url.format(**ids)
        response = (client.get(path) if method == "GET"
                    else client.post(path, data={"csrf_token": token.group(1)}))
        got: int | str = response.status_code
        if got in (302, 303) and urlsplit(response.headers["Location"]).path == "/auth/login" \
                and not path.startswith("/auth/"):
            got = LOGIN
        want = expected(role, area, ok)
        if got != want:
            wrong.append(f"{method} {path}: {got}, expected {want}")
        if role == "anonymous" and got == "sign-in":
            assert "next=" in response.headers["Location"] or method == "POST"
        if url == "/auth/logout" and role != "anonymous":  # signed out by that row: sign in again
            with app.app_context():
                sign_in_as(client, find_user_by_email(f"{USERS[role]}@{DOMAIN}"))
            token = _CSRF.search(client.get("/book").get_data(as_text=True))
    assert not wrong, "\n".join(wrong)


# --- live channels -------------------------------------------------------------------------------

CHANNEL_ROLES = ("anonymous", "patient", "other patient", "provider", "other provider", "frontdesk", "manager",
                 "admin")
CHANNEL_USERS = {"patient": "patient", "other patient": "olivia", "provider": "weber", "other provider": "fischer",
                 "frontdesk": "frontdesk", "manager": "manager", "admin": "admin"}
CHANNELS = {
    # kind:id -> roles that may follow it
    "slots:{weber}": set(CHANNEL_ROLES),  # public availability, no personal data
    "booking:{visit}": {"patient", "provider", "frontdesk", "manager", "admin"},  # Paula's visit with Dr. Weber
    "provider:{weber}": {"provider", "frontdesk", "manager", "admin"},  # Dr. Weber's agenda
    "location:{berlin}": {"frontdesk", "manager", "admin"},  # the Berlin front desk
    "location:{foreign}": set(),  # ids of another organization (or none) open nothing
    "provider:{foreign}": set(),
    "slots:{foreign}": set(),
    "booking:{foreign}": set(),
    "agenda:{weber}": set(),  # unknown kinds
    "provider:not-a-uuid": set(),
}


@pytest.mark.parametrize("role", CHANNEL_ROLES)
def test_every_role_may_follow_exactly_its_live_channels(app, demo, role):
    names = {"weber": demo.weber, "visit": demo.weber_visit, "berlin": demo.berlin_id, "foreign": uuid.uuid4()}
    with app.app_context():
        user = find_user_by_email(f"{CHANNEL_USERS[role]}@{DOMAIN}") if role != "anonymous" else None
        wrong = []
        for template, allowed in CHANNELS.items():
            name = template.format(**names)
            got = authorize(user, demo.organization_id, name) is not None
            if got != (role in allowed):
                wrong.append(f"{name}: {'allowed' if got else 'refused'}")
    assert not wrong, f"{role}: " + ", ".join(wrong)


def test_a_channel_of_another_organization_is_refused_even_with_a_real_id(app, demo):
    """Paula asks for the slots of a provider that exists, but in another clinic."""
    from app.models import Organization

    with app.app_context():
        from app.database import write_transaction

        with write_transaction():
            other = Organization(name="Elsewhere", slug=f"elsewhere-{uuid.uuid4().hex[:6]}")
            db.session.add(other)
            db.session.flush()
            stranger = Provider(organization_id=other.id, display_name="Dr. Other", timezone="UTC")
            db.session.add(stranger)
        paula = find_user_by_email(f"patient@{DOMAIN}")
        assert authorize(paula, demo.organization_id, f"slots:{stranger.id}") is None
        assert db.session.scalar(select(User.id).where(User.id == paula.id)) is not None
