"""Accounts: a clinic from the command line, password reset and invitations, changing the
password and the address, the password policy, no account enumeration, sign-in throttling.
Emails are the real RQ jobs, sent over SMTP to the loopback sink."""
from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, select

from app import account_tokens, accounts, create_app, passwords
from app.demo_seed import DEMO_PASSWORD, DOMAIN
from app.extensions import db
from app.models import Organization
from tests.conftest import _config
from tests.integration.account_helpers import outbox  # noqa: F401 - fixture
from tests.integration.helpers import csrf_token, field_error, login, page_text

V1 = "/api/v1"
NEW_PASSWORD = "tulip marble harbour"
PATIENT = f"patient@{DOMAIN}"


def post_json(client, path: str, body, key: str | None = None):
    return client.post(path, json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex})


def reset_token(app, outbox, client, email: str) -> str:
    assert post_json(client, f"{V1}/auth/password-reset", {"email": email}).status_code == 202
    [mail] = outbox.deliver()
    assert mail.to == email
    return outbox.link(mail).rsplit("/", 1)[1]


def api_sign_in(client, email: str, password: str):
    return client.post(f"{V1}/auth/token", json={"email": email, "password": password})


# --- a clinic from the command line -----------------------------------------------------------

def test_an_empty_database_gets_a_clinic_and_its_first_admin_from_the_command_line(app, db_session):
    runner = app.test_cli_runner()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Organization)) == 0
    result = runner.invoke(args=["users", "create", "--email", "a@example.com", "--password", NEW_PASSWORD,
                                 "--role", "admin"])
    assert result.exit_code != 0 and "flask organizations create" in result.output
    result = runner.invoke(args=["organizations", "create", "--name", "Lindenhof Praxis", "--slug", "lindenhof",
                                 "--timezone", "Europe/Berlin", "--country", "de", "--language", "de"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["users", "create", "--email", "chef@lindenhof.example", "--password", NEW_PASSWORD,
                                 "--role", "admin", "--name", "Dr. Linde"])
    assert result.exit_code == 0, result.output  # the only organization: no --organization needed
    with app.app_context():
        org = db.session.scalars(select(Organization).where(Organization.slug == "lindenhof")).one()
        assert (org.timezone, org.country, org.language) == ("Europe/Berlin", "DE", "de")
        admin = accounts.authenticate("chef@lindenhof.example", NEW_PASSWORD)
        assert admin is not None and admin.organization_id == org.id and admin.role == "admin"


@pytest.mark.parametrize(("args", "message"), [
    # a slug with a capital and a space cannot be part of a URL
    (["--name", "X", "--slug", "Bad Slug"], "--slug"),
    # a made-up time zone
    (["--name", "X", "--slug", "x", "--timezone", "Mars/Base"], "--timezone"),
    # a country that does not exist
    (["--name", "X", "--slug", "x", "--country", "QQ"], "--country"),
])
def test_organizations_create_refuses_bad_values_and_creates_nothing(app, db_session, args, message):
    result = app.test_cli_runner().invoke(args=["organizations", "create", *args])
    assert result.exit_code != 0 and message in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Organization)) == 0


@pytest.mark.parametrize(("configured", "kept"), [(3, 3), (500, 120), (0, 1)])
def test_a_new_clinics_hold_length_comes_from_hold_ttl_minutes(app, db_session, monkeypatch, configured, kept):
    monkeypatch.setitem(app.config, "HOLD_TTL_MINUTES", configured)
    with app.app_context():  # (as the flask command runs it)
        result = app.test_cli_runner().invoke(args=["organizations", "create", "--name", "Seaside",
                                                    "--slug", "seaside"])
        assert result.exit_code == 0, result.output
        assert db.session.scalars(select(Organization.hold_minutes)).one() == kept  # within the settings' range


def test_with_two_organizations_users_create_needs_organization_and_names_the_choices(app, demo):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["organizations", "create", "--name", "Seaside", "--slug", "seaside"]).exit_code == 0
    base = ["users", "create", "--email", f"patient@{DOMAIN}", "--password", NEW_PASSWORD, "--role", "frontdesk"]
    result = runner.invoke(args=base)
    assert result.exit_code != 0 and "demo" in result.output and "seaside" in result.output
    result = runner.invoke(args=[*base, "--organization", "seaside"])  # same address, other clinic: allowed
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert len(accounts.users_with_email(PATIENT)) == 2


def test_the_organizations_country_sets_the_phone_region_for_registration(app, client, demo, outbox):
    with app.app_context():
        org = db.session.scalars(select(Organization)).one()
        org.country = "DE"
        db.session.commit()
    token = csrf_token(client, "/auth/register")
    response = client.post("/auth/register", data={
        "csrf_token": token, "full_name": "Berta Berlin", "email": "berta@example.com",
        "phone": "030 1234567", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "timezone": "Europe/Berlin"})
    assert response.status_code == 303, field_error(response, "phone")
    with app.app_context():
        assert accounts.find_user_by_email("berta@example.com").patient_profile.phone == "+49301234567"


# --- reset by API -------------------------------------------------------------------------------

def test_password_reset_answers_the_same_for_known_and_unknown_addresses(app, client, demo, outbox):
    known = post_json(client, f"{V1}/auth/password-reset", {"email": PATIENT})
    unknown = post_json(client, f"{V1}/auth/password-reset", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.get_json() == unknown.get_json()
    assert len(outbox.queued()) == 2  # the request does the same work; the look-up is the job's
    assert [m.to for m in outbox.deliver()] == [PATIENT]


def test_a_reset_asked_through_another_host_still_mails_a_link_to_the_clinics_own_site(
        app, client, demo, outbox, monkeypatch):
    """Password-reset poisoning: the caller chooses the Host header, the link must not follow it."""
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://book.riverside.example")
    for headers in ({"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"}):
        answer = client.post(f"{V1}/auth/password-reset", json={"email": PATIENT},
                             headers={"Idempotency-Key": uuid.uuid4().hex, **headers})
        assert answer.status_code == 202
        [mail] = outbox.deliver()
        assert outbox.link(mail).startswith("https://book.riverside.example/auth/reset/")
        assert "evil" not in mail.message.as_string()


def test_a_retried_reset_confirm_with_the_same_key_gets_the_first_answer(app, client, demo, outbox):
    token = reset_token(app, outbox, client, PATIENT)
    body = {"token": token, "password": NEW_PASSWORD}
    first = post_json(client, f"{V1}/auth/password-reset/confirm", body, key="confirm-once")
    again = post_json(client, f"{V1}/auth/password-reset/confirm", body, key="confirm-once")
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json() and again.headers.get("Idempotent-Replayed") == "true"
    assert api_sign_in(client, PATIENT, NEW_PASSWORD).status_code == 200
    # the same key with another body is someone else's request: the link is used, so 400 (no replay)
    other = post_json(client, f"{V1}/auth/password-reset/confirm", {"token": token + "x", "password": NEW_PASSWORD},
                      key="confirm-once")
    assert other.status_code == 400 and other.headers.get("Idempotent-Replayed") is None


def test_reset_link_sets_a_new_password_once_and_ends_other_sessions(app, client, demo, outbox):
    old_token = api_sign_in(client, PATIENT, DEMO_PASSWORD).get_json()["access_token"]
    browser = app.test_client()
    login(browser, PATIENT)
    assert browser.get("/appointments").status_code == 200
    token = reset_token(app, outbox, client, PATIENT)
    response = post_json(client, f"{V1}/auth/password-reset/confirm", {"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 200, response.get_json()
    assert api_sign_in(client, PATIENT, NEW_PASSWORD).status_code == 200
    assert api_sign_in(client, PATIENT, DEMO_PASSWORD).status_code == 401
    assert client.get(f"{V1}/bookings/me", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    assert browser.get("/appointments").status_code == 302  # the other session is over
    again = post_json(client, f"{V1}/auth/password-reset/confirm", {"token": token, "password": "another fine phrase"})
    assert again.status_code == 400 and again.get_json()["error"]["code"] == "BAD_REQUEST"
    assert api_sign_in(client, PATIENT, NEW_PASSWORD).status_code == 200  # the used link changed nothing


def test_expired_and_forged_reset_tokens_are_400_and_change_nothing(app, client, demo, outbox, monkeypatch):
    token = reset_token(app, outbox, client, PATIENT)
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (forged, "not-a-token"):
        answer = post_json(client, f"{V1}/auth/password-reset/confirm", {"token": bad, "password": NEW_PASSWORD})
        assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "BAD_REQUEST"
    later = time.time() + 3601  # one hour and a second on
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    answer = post_json(client, f"{V1}/auth/password-reset/confirm", {"token": token, "password": NEW_PASSWORD})
    assert answer.status_code == 400
    assert api_sign_in(client, PATIENT, DEMO_PASSWORD).status_code == 200


@pytest.mark.parametrize(("password", "says"), [
    ("aaaaaaaaaaaa", "repeated character"),  # one character over and over
    ("1234567890", "common"),  # the digits in a row (also a top-10k password)
    ("zyxwvutsrqpo", "run"),  # the alphabet backwards
    ("password2024!", "common"),  # a common password with digits and a symbol added
    (PATIENT, "email"),  # the address itself
    ("Riverside Health!", "clinic"),  # the clinic's name
    (DEMO_PASSWORD, "demo"),  # the published demo password
    ("short", "10 characters"),  # too short
])
def test_the_password_policy_refuses_guessable_passwords_with_a_clear_message(app, client, demo, outbox,
                                                                               password, says):
    token = reset_token(app, outbox, client, PATIENT)
    answer = post_json(client, f"{V1}/auth/password-reset/confirm", {"token": token, "password": password})
    assert answer.status_code == 422
    assert says in answer.get_json()["error"]["details"]["fields"]["password"]
    assert api_sign_in(client, PATIENT, DEMO_PASSWORD).status_code == 200  # unchanged
    ok = post_json(client, f"{V1}/auth/password-reset/confirm", {"token": token, "password": NEW_PASSWORD})
    assert ok.status_code == 200


def test_passwords_are_never_trimmed_on_the_api_or_the_pages(app, client, demo, outbox):
    spaced = "  tulip marble harbour  "
    token = reset_token(app, outbox, client, PATIENT)
    assert post_json(client, f"{V1}/auth/password-reset/confirm", {"token": token, "password": spaced}).status_code == 200
    assert api_sign_in(client, PATIENT, spaced).status_code == 200
    assert api_sign_in(client, PATIENT, spaced.strip()).status_code == 401
    assert login(app.test_client(), PATIENT, spaced).status_code == 302
    assert login(app.test_client(), PATIENT, spaced.strip()).status_code == 401


def test_malformed_json_is_400_and_bad_fields_422(client, demo):
    bad = client.post(f"{V1}/auth/password-reset", data="{nope", content_type="application/json",
                      headers={"Idempotency-Key": "k1"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "BAD_REQUEST"
    missing = post_json(client, f"{V1}/auth/password-reset", {"mail": "x"})
    assert missing.status_code == 422 and "email" in missing.get_json()["error"]["details"]["fields"]


# --- the pages ------------------------------------------------------------------------------------

def test_forgot_password_page_mails_a_link_that_sets_the_password_and_signs_in(app, client, demo, outbox):
    assert "Forgot password?" in page_text(client.get("/auth/login"))
    response = client.post("/auth/forgot", data={"csrf_token": csrf_token(client, "/auth/forgot"), "email": PATIENT})
    assert response.status_code == 303 and response.headers["Location"] == "/auth/check-email?about=reset"
    [mail] = outbox.deliver()
    path = outbox.path(mail)
    assert client.get(path).headers["Referrer-Policy"] == "no-referrer"  # the token never leaks in a Referer
    weak = client.post(path, data={"csrf_token": csrf_token(client, path), "password": "1234567890",
                                   "confirm": "1234567890"})
    assert weak.status_code == 422 and "common" in field_error(weak, "password")
    done = client.post(path, data={"csrf_token": csrf_token(client, path), "password": NEW_PASSWORD,
                                   "confirm": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/"
    assert client.get("/appointments").status_code == 200
    assert client.get(path).status_code == 400  # used: the page says so and offers a new link
    assert "does not work any more" in page_text(client.get(path))


def test_an_admin_invites_staff_who_choose_their_own_password(app, client, demo, outbox):
    login(client, f"admin@{DOMAIN}")
    form = {"csrf_token": csrf_token(client, "/admin/users/new"), "full_name": "Nina Neu",
            "email": "nina@example.com", "password": "", "role": "frontdesk", "provider_id": ""}
    response = client.post("/admin/users/new", data=form)
    assert response.status_code in (302, 303), page_text(response)
    [mail] = outbox.deliver()
    assert mail.to == "nina@example.com" and "set your password" in mail.subject
    nina = app.test_client()
    path = outbox.path(mail)
    done = nina.post(path, data={"csrf_token": csrf_token(nina, path), "password": NEW_PASSWORD,
                                 "confirm": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/frontdesk/"


def test_a_patient_the_front_desk_added_claims_the_account_from_the_invitation(app, client, demo, outbox):
    login(client, f"frontdesk@{DOMAIN}")
    token = csrf_token(client, "/frontdesk/book")
    response = client.post("/frontdesk/book/patient", data={
        "csrf_token": token, "full_name": "Carla Caller", "email": "carla@example.com", "phone": "",
        "timezone": "Europe/Berlin", "form_token": _form_token(client, "/frontdesk/book")})
    assert response.status_code == 303, page_text(response)
    [mail] = outbox.deliver()
    assert mail.to == "carla@example.com"
    carla = app.test_client()
    path = outbox.path(mail)
    carla.post(path, data={"csrf_token": csrf_token(carla, path), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert carla.get("/appointments").status_code == 200


def _form_token(client, path: str) -> str:
    import re

    match = re.search(r'name="form_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True))
    return match.group(1) if match else ""


def test_change_password_on_the_account_page_ends_other_sessions(app, client, demo):
    other = app.test_client()
    login(other, PATIENT)
    login(client, PATIENT)
    token = csrf_token(client, "/auth/account")
    wrong = client.post("/auth/account", data={"csrf_token": token, "pw-current_password": "nope-nope-nope",
                                               "pw-password": NEW_PASSWORD, "pw-confirm": NEW_PASSWORD})
    assert wrong.status_code == 422 and field_error(wrong, "pw-current_password")
    done = client.post("/auth/account", data={"csrf_token": token, "pw-current_password": DEMO_PASSWORD,
                                              "pw-password": NEW_PASSWORD, "pw-confirm": NEW_PASSWORD})
    assert done.status_code == 303
    assert client.get("/appointments").status_code == 200  # this session goes on
    assert other.get("/appointments").status_code == 302  # the other one is over
    assert login(app.test_client(), PATIENT, NEW_PASSWORD).status_code == 302


def test_change_email_takes_effect_only_from_the_link_sent_to_the_new_address(app, client, demo, outbox):
    login(client, PATIENT)
    token = csrf_token(client, "/auth/account")
    response = client.post("/auth/account", data={"csrf_token": token, "em-email": "new.me@example.com",
                                                  "em-email_password": DEMO_PASSWORD})
    assert response.status_code == 303
    assert login(app.test_client(), "new.me@example.com").status_code == 401  # not yet
    [mail] = outbox.deliver()
    assert mail.to == "new.me@example.com"
    path = outbox.path(mail)
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 303
    assert login(app.test_client(), "new.me@example.com").status_code == 302
    assert login(app.test_client(), PATIENT).status_code == 401


# --- no enumeration, and the same work either way -------------------------------------------------

def test_sign_in_checks_one_hash_whether_or_not_the_address_exists(app, demo, monkeypatch):
    calls = []
    real = passwords.verify_password
    monkeypatch.setattr(accounts, "verify_password", lambda stored, pw: calls.append(stored) or real(stored, pw))
    with app.app_context():
        assert accounts.authenticate("nobody@example.com", "whatever-it-is") is None
        assert accounts.authenticate(PATIENT, "whatever-it-is") is None
    assert len(calls) == 2 and calls[0] is None and calls[1] is not None


def test_registration_hashes_the_password_also_for_a_known_address(app, demo, monkeypatch, outbox):
    hashed = []
    monkeypatch.setattr(accounts, "hash_password", lambda pw: hashed.append(pw) or passwords.hash_password(pw))
    with app.app_context():
        org = db.session.scalars(select(Organization)).one()
        with app.test_request_context():
            assert accounts.register_patient(org.id, email=PATIENT, password=NEW_PASSWORD, full_name="X") is None
    assert hashed == [NEW_PASSWORD]


def test_tokens_are_bound_to_purpose(app, demo):
    with app.app_context():
        user = accounts.find_user_by_email(PATIENT)
        verify = account_tokens.make(user, "verify")
        assert not accounts.link_is_valid(verify, ("reset", "invite"))
        assert accounts.link_is_valid(account_tokens.make(user, "reset"))


# --- throttling -----------------------------------------------------------------------------------

@pytest.fixture
def limited_app(app, redis_url):
    config = _config(app.config["SQLALCHEMY_DATABASE_URI"], redis_url)
    config.update(RATELIMIT_ENABLED=True, RATELIMIT_SIGN_IN="8/minute", RATELIMIT_SIGN_IN_ACCOUNT="3/minute",
                  RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}")
    limited = create_app(config)
    yield limited
    with limited.app_context():
        db.engine.dispose()


def test_wrong_passwords_for_one_account_are_refused_with_429_and_retry_after(limited_app, demo):
    client = limited_app.test_client()
    answers = [api_sign_in(client, PATIENT, f"wrong-guess-{i}") for i in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[3].get_json()["error"]["code"] == "RATE_LIMITED"
    assert int(answers[3].headers["Retry-After"]) > 0
    assert api_sign_in(client, PATIENT, DEMO_PASSWORD).status_code == 429  # even the right one, for now
    page = limited_app.test_client()  # the sign-in page shares the account's counter
    refused = login(page, PATIENT)
    assert refused.status_code == 429 and "Too many attempts" in page_text(refused)
    assert int(refused.headers["Retry-After"]) > 0
    assert api_sign_in(client, f"weber@{DOMAIN}", DEMO_PASSWORD).status_code == 200  # others still sign in


def test_successful_sign_ins_do_not_lock_the_owner_out(limited_app, demo):
    client = limited_app.test_client()
    assert all(api_sign_in(client, PATIENT, DEMO_PASSWORD).status_code == 200 for _ in range(5))


def test_one_client_trying_many_accounts_is_refused_too(limited_app, demo):
    client = limited_app.test_client()
    answers = [api_sign_in(client, f"guess{i}@example.com", "wrong-guess-x") for i in range(9)]
    assert [a.status_code for a in answers].count(429) == 1 and answers[-1].status_code == 429


def test_reset_requests_are_throttled_per_account(limited_app, demo, outbox):
    client = limited_app.test_client()
    answers = [post_json(client, f"{V1}/auth/password-reset", {"email": PATIENT}) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert len(outbox.queued()) == 3
