"""Sign-in, registration, sign-out and the session's security properties."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import create_app
from app.accounts import find_user_by_email
from app.demo_seed import DEMO_PASSWORD
from app.extensions import db
from app.models import PatientProfile, User
from tests.conftest import _config
from tests.integration.account_helpers import outbox  # noqa: F401 - fixture
from tests.integration.helpers import csrf_token, field_error, login, page_text, register

DOMAIN = "riverside.example"


def _user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def _assert_signed_out(client) -> None:
    response = client.get("/provider/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_sign_in_page_renders_the_form_with_a_csrf_token(client, demo):
    response = client.get("/auth/login")
    assert response.status_code == 200
    body = page_text(response)
    assert "<h1>Sign in</h1>" in body
    assert 'name="email"' in body and 'name="password"' in body
    assert csrf_token(client, "/auth/login")
    assert DEMO_PASSWORD not in body  # demo logins are listed only when SHOW_DEMO_LOGINS is on


@pytest.mark.parametrize(
    ("email", "home", "expected_content"),
    [
        # a patient lands on the portal start page with their own next visit
        (f"patient@{DOMAIN}", "/", ["Hello, Paula Patient", "General consultation"]),
        # a clinician sees the patient of an upcoming booking in the agenda
        (f"weber@{DOMAIN}", "/provider/", ["Dr. Anna Weber", "Paula Patient"]),
        # a clinician in New York sees their own patient, not Berlin's
        (f"chen@{DOMAIN}", "/provider/", ["Dr. Maya Chen", "Olivia Park"]),
        # the front desk sees the approval queue with both pending demo requests
        (f"frontdesk@{DOMAIN}", "/frontdesk/", ["Requests awaiting approval", "Paula Patient", "Lena Braun"]),
        # a manager gets the clinic overview
        (f"manager@{DOMAIN}", "/admin/", ["Riverside Health", "Berlin Mitte", "America/New_York"]),
        # an admin gets the clinic overview with both locations and zones
        (f"admin@{DOMAIN}", "/admin/", ["Berlin Mitte", "America/New_York", "Europe/Berlin"]),
    ],
)
def test_correct_login_redirects_to_the_role_home_which_shows_real_demo_content(
    client, demo, email, home, expected_content
):
    response = login(client, email)
    assert response.status_code == 302
    assert response.headers["Location"] == home
    page = client.get(home)
    assert page.status_code == 200
    body = page_text(page)
    for text in expected_content:
        assert text in body


@pytest.mark.parametrize(
    ("email", "password"),
    [
        # a known account with the wrong password
        (f"weber@{DOMAIN}", "not-the-password"),
        # an address nobody registered
        (f"nobody@{DOMAIN}", DEMO_PASSWORD),
    ],
)
def test_wrong_password_or_unknown_email_shows_clear_error_and_signs_nobody_in(client, demo, email, password):
    response = login(client, email, password)
    assert response.status_code == 401
    assert field_error(response, "password") == "Email or password is not correct."
    _assert_signed_out(client)


def test_disabled_user_cannot_sign_in_even_with_the_right_password(app, client, demo):
    with app.app_context():
        find_user_by_email(f"weber@{DOMAIN}").is_enabled = False
        db.session.commit()
    response = login(client, f"weber@{DOMAIN}")
    assert response.status_code == 401
    assert "Email or password is not correct." in page_text(response)
    _assert_signed_out(client)


def test_login_posted_without_csrf_token_is_rejected_and_signs_nobody_in(client, demo):
    response = client.post("/auth/login", data={"email": f"weber@{DOMAIN}", "password": DEMO_PASSWORD})
    assert response.status_code == 400
    assert "security token" in page_text(response)
    _assert_signed_out(client)


def test_registration_posted_without_csrf_token_is_rejected_and_creates_nobody(app, client, demo):
    before = _user_count(app)
    response = client.post("/auth/register", data={
        "full_name": "Csrf Less", "email": "csrfless@example.com",
        "password": "a-long-enough-password", "confirm": "a-long-enough-password",
    })
    assert response.status_code == 400
    assert _user_count(app) == before
    with app.app_context():
        assert find_user_by_email("csrfless@example.com") is None


@pytest.mark.parametrize(
    ("sent_timezone", "stored_timezone"),
    [
        # the browser's zone from the hidden field is kept when it is a real IANA zone
        ("Europe/Berlin", "Europe/Berlin"),
        # a made-up zone falls back to UTC instead of failing the registration
        ("Mars/Olympus_Mons", "UTC"),
        # no zone at all (JavaScript off) also means UTC
        ("", "UTC"),
    ],
)
def test_registration_creates_a_patient_who_signs_in_from_the_emailed_link(
    app, client, demo, outbox, sent_timezone, stored_timezone
):
    response = register(client, email="Rita@Example.com", phone="+49 151 23456789", timezone=sent_timezone)
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/check-email?about=sign-up"
    _assert_signed_out(client)
    early = login(client, "rita@example.com", "a-long-enough-password")  # not before the link ...
    assert early.status_code == 401 and "Confirm your email address first" in page_text(early)  # ... it says so
    mail = outbox.deliver()[-1]  # (the link, sent again on that sign-in)
    assert mail.to == "rita@example.com" and "Confirm your email" in mail.subject
    confirm = outbox.path(mail)
    response = client.post(confirm, data={"csrf_token": csrf_token(client, confirm)})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    with app.app_context():
        user = find_user_by_email("rita@example.com")
        assert user is not None
        assert user.role == "patient"
        assert user.full_name == "Rita Register"
        profile = db.session.scalars(select(PatientProfile).where(PatientProfile.user_id == user.id)).one()
        assert profile.timezone == stored_timezone
        assert profile.phone == "+4915123456789"  # normalised to E.164
    # signed in: the patient-only page opens
    assert client.get("/appointments").status_code == 200
    assert "Hello, Rita Register" in page_text(client.get("/"))


@pytest.mark.parametrize(
    "email",
    [
        # exactly the address of a demo patient
        f"patient@{DOMAIN}",
        # the same address in other letter case is the same account
        f"PATIENT@{DOMAIN.upper()}",
    ],
)
def test_registration_with_an_existing_email_answers_as_for_a_new_one_and_tells_the_owner(
        app, client, demo, outbox, email):
    before = _user_count(app)
    response = register(client, email=email)
    fresh = register(app.test_client(), email="somebody.new@example.com")
    assert (response.status_code, response.headers["Location"]) == (fresh.status_code, fresh.headers["Location"])
    assert _user_count(app) == before + 1  # only the new address got an account
    mails = {m.to: m for m in outbox.deliver()}
    assert "You already have an account" in mails[f"patient@{DOMAIN}"].subject
    assert "/auth/reset/" in outbox.link(mails[f"patient@{DOMAIN}"])  # the way in: set a password
    _assert_signed_out(client)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        # nine characters is one short of the minimum
        ({"password": "123456789"}, "password", "Use at least 10 characters."),
        # two digits cannot be anybody's phone number
        ({"phone": "12"}, "phone", "This phone number is not valid; include the country code, e.g. +49 30 1234567."),
        # the repeated password must match
        ({"confirm": "something-else-entirely"}, "confirm", "The passwords differ."),
    ],
)
def test_invalid_registration_is_refused_with_the_error_next_to_the_field(app, client, demo, fields, field, message):
    before = _user_count(app)
    response = register(client, **fields)
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert _user_count(app) == before
    _assert_signed_out(client)


def test_session_is_renewed_at_sign_in(client, demo):
    client.get("/auth/login")
    with client.session_transaction() as session:
        session["marker"] = "x"
    response = login(client, f"weber@{DOMAIN}")
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert "marker" not in session
        assert session.get("_user_id")


def test_session_cookie_is_httponly_and_samesite_lax(client, demo):
    response = login(client, f"weber@{DOMAIN}")
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers.getlist("Set-Cookie")
    attributes = [part.strip().lower() for part in cookies[-1].split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes


def test_session_cookie_is_secure_by_default_outside_debug(app, monkeypatch):
    for name in ("FLASK_DEBUG", "SESSION_COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    config = _config(app.config["SQLALCHEMY_DATABASE_URI"], app.config["REDIS_URL"])
    del config["SESSION_COOKIE_SECURE"], config["REMEMBER_COOKIE_SECURE"]
    production_like = create_app(config)
    try:
        assert production_like.config["SESSION_COOKIE_SECURE"] is True
        assert production_like.config["REMEMBER_COOKIE_SECURE"] is True
    finally:
        with production_like.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    "accept",
    [
        # a browser gets the styled 405 page
        "text/html",
        # a program gets the JSON envelope, still with the Allow header HTTP requires
        "application/json",
    ],
)
def test_logout_by_get_is_refused_with_405_and_keeps_the_session(client, demo, accept):
    login(client, f"weber@{DOMAIN}")
    response = client.get("/auth/logout", headers={"Accept": accept})
    assert response.status_code == 405
    assert "POST" in response.headers.get("Allow", "")
    assert client.get("/provider/").status_code == 200  # the GET signed nobody out


def test_logout_by_post_with_csrf_signs_out_and_protected_pages_ask_to_sign_in(client, demo):
    login(client, f"weber@{DOMAIN}")
    assert client.get("/provider/").status_code == 200
    token = csrf_token(client, "/provider/")
    response = client.post("/auth/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
    _assert_signed_out(client)


def test_logout_after_keep_me_signed_in_deletes_the_remember_cookie_too(client, demo):
    token = csrf_token(client, "/auth/login")
    client.post("/auth/login", data={"csrf_token": token, "email": f"frontdesk@{DOMAIN}",
                                     "password": DEMO_PASSWORD, "remember": "y"})
    assert client.get_cookie("remember_token") is not None
    assert client.get("/frontdesk/").status_code == 200
    response = client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/frontdesk/")})
    assert response.status_code == 302
    assert client.get_cookie("remember_token") is None
    response = client.get("/frontdesk/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


def _copy_of(app, client, name: str):
    """Another browser holding a copy of one of `client`'s cookies (as a thief would)."""
    other = app.test_client()
    other.set_cookie(name, client.get_cookie(name).value)
    return other


def test_a_copied_session_cookie_stops_working_when_its_sign_in_signs_out(app, client, demo):
    login(client, f"weber@{DOMAIN}")
    elsewhere = app.test_client()  # the same person signed in on another device
    login(elsewhere, f"weber@{DOMAIN}")
    copy = _copy_of(app, client, "session")
    assert copy.get("/provider/").status_code == 200  # the copy works while the sign-in lasts
    response = client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/provider/")})
    assert response.status_code == 302
    _assert_signed_out(copy)
    _assert_signed_out(client)
    assert elsewhere.get("/provider/").status_code == 200  # only that sign-in ended
    login(client, f"weber@{DOMAIN}")  # and signing in again works
    assert client.get("/provider/").status_code == 200


def test_a_copied_remember_cookie_stops_working_when_its_sign_in_signs_out(app, client, demo):
    token = csrf_token(client, "/auth/login")
    client.post("/auth/login", data={"csrf_token": token, "email": f"frontdesk@{DOMAIN}",
                                     "password": DEMO_PASSWORD, "remember": "y"})
    copy = _copy_of(app, client, "remember_token")
    assert copy.get("/frontdesk/").status_code == 200  # the cookie alone signs a browser in
    response = client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/frontdesk/")})
    assert response.status_code == 302
    late = _copy_of(app, copy, "remember_token")  # a fresh browser with only the copied cookie
    response = late.get("/frontdesk/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")
    response = copy.get("/frontdesk/")  # nor the session the copy had already restored from it
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


def test_logout_without_csrf_token_is_rejected_and_keeps_the_session(client, demo):
    login(client, f"weber@{DOMAIN}")
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/provider/").status_code == 200


@pytest.mark.parametrize(
    ("next_url", "location"),
    [
        # a same-site path is honoured
        ("/appointments", "/appointments"),
        # a same-site path with a query string is honoured too
        ("/appointments?tab=past", "/appointments?tab=past"),
        # an absolute external URL is ignored: the role home instead
        ("https://evil.example/", "/"),
        # a protocol-relative URL is external too
        ("//evil.example/", "/"),
        # browsers read a backslash like a slash (/\host is //host): refused, the role home instead
        ("/\\evil.example/", "/"),
    ],
)
def test_next_parameter_is_honoured_only_for_same_site_paths(client, demo, next_url, location):
    response = login(client, f"patient@{DOMAIN}", next_url=next_url)
    assert response.status_code == 302
    assert response.headers["Location"] == location


def test_bumping_session_version_signs_out_existing_sessions(app, client, demo):
    login(client, f"weber@{DOMAIN}")
    assert client.get("/provider/").status_code == 200
    with app.app_context():  # what a password change or "sign out everywhere" does
        find_user_by_email(f"weber@{DOMAIN}").session_version += 1
        db.session.commit()
    response = client.get("/provider/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_passwords_are_stored_as_argon2id_hashes(app, client, demo):
    register(client, email="hash@example.com", password="correct-horse-battery")
    with app.app_context():
        stored = find_user_by_email("hash@example.com").password_hash
    assert stored.startswith("$argon2id$")
    assert "correct-horse-battery" not in stored


def test_email_at_sign_in_ignores_letter_case(client, demo):
    response = login(client, f"WEBER@{DOMAIN.upper()}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/provider/"


def test_disabling_a_signed_in_user_ends_their_access(app, client, demo):
    login(client, f"weber@{DOMAIN}")
    assert client.get("/provider/").status_code == 200
    with app.app_context():
        find_user_by_email(f"weber@{DOMAIN}").is_enabled = False
        db.session.commit()
    response = client.get("/provider/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")
