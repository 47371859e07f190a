"""Small helpers shared by the integration tests: CSRF tokens, sign-in, the demo clinic."""
from __future__ import annotations

import functools
import html
import re
from urllib.parse import quote

from app import demo_seed
from app.demo_seed import DEMO_PASSWORD
from app.passwords import hash_password

_CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def csrf_token(client, path: str) -> str:
    """GET `path` and return the csrf_token hidden input value from its form."""
    response = client.get(path)
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, f"no csrf_token input on {path} (status {response.status_code})"
    return match.group(1)


def page_text(response) -> str:
    """The response body with HTML entities decoded ("couldn&#39;t" -> "couldn't")."""
    return html.unescape(response.get_data(as_text=True))


def field_error(response, field: str) -> str | None:
    """The error message rendered next to form field `field` (partials/_form_field.html)."""
    match = re.search(rf'id="{re.escape(field)}-error">([^<]*)<', response.get_data(as_text=True))
    return html.unescape(match.group(1)) if match else None


def login(client, email: str, password: str = DEMO_PASSWORD, next_url: str | None = None):
    """Sign in through the real form (CSRF included); returns the POST response."""
    path = "/auth/login" if next_url is None else f"/auth/login?next={quote(next_url, safe='')}"
    token = csrf_token(client, "/auth/login")
    return client.post(path, data={"csrf_token": token, "email": email, "password": password})


def register(client, **fields):
    """Register through the real form; `fields` override sensible defaults."""
    data = {
        "full_name": "Rita Register",
        "email": "rita@example.com",
        "phone": "",
        "password": "a-long-enough-password",
        "confirm": None,
        "timezone": "Europe/Berlin",
        **fields,
    }
    if data["confirm"] is None:
        data["confirm"] = data["password"]
    data["csrf_token"] = csrf_token(client, "/auth/register")
    return client.post("/auth/register", data=data)


def sign_in_as(client, user) -> None:
    """Put `user` into the client's session the way Flask-Login does, skipping the
    (deliberately slow) password check. For tests about what a role may open."""
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True


@functools.cache
def _demo_password_hash() -> str:
    return hash_password(DEMO_PASSWORD)


def seed_demo_clinic(app, monkeypatch) -> None:
    """Seed the demo clinic, reusing one real argon2id hash of the demo password for
    every demo user (argon2 is slow on purpose; nine hashes per test add up)."""
    monkeypatch.setattr(demo_seed, "hash_password", lambda _password: _demo_password_hash())
    with app.app_context():
        assert demo_seed.seed_demo() is True
