"""Small helpers shared by the integration tests: CSRF tokens, sign-in, the demo clinic."""
from __future__ import annotations

import functools
import html
import re
from datetime import timedelta
from urllib.parse import quote

from app import demo_seed
from app.demo_seed import DEMO_PASSWORD
from app.models import utcnow
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
    """Seed the demo clinic into the current test's database.

    The first call for an app seeds for real (the ORM, the slot triggers) and keeps
    the rows it wrote; later calls for the same app insert those rows again with
    plain bulk inserts, about ten times cheaper, and bump the slot-cache versions of
    the demo providers so no cached list from an earlier test is served. Rows are
    identical from test to test (same ids); each test's transaction is rolled back.
    Demo users share one real argon2id hash of the demo password (argon2 is slow on
    purpose; nine hashes per test add up)."""
    monkeypatch.setattr(demo_seed, "hash_password", lambda _password: _demo_password_hash())
    with app.app_context():
        taken_at, snapshot = app.extensions.get(_SNAPSHOT, (None, None))
        now = utcnow()
        if snapshot is None or now - taken_at > _SNAPSHOT_FRESH or now.hour != taken_at.hour:
            assert demo_seed.seed_demo() is True
            app.extensions[_SNAPSHOT] = (now, _rows_of_every_table())
        else:
            _insert_rows(snapshot)


# The demo is seeded relative to the clock ("today at 16:00"): a copy is reused for a
# few minutes and never across an hour boundary, where local days may begin.
_SNAPSHOT = "tests.demo_clinic_rows"
_SNAPSHOT_FRESH = timedelta(minutes=5)


def _rows_of_every_table() -> list[tuple]:
    from app.extensions import db

    db.session.flush()
    return [(table, [dict(row) for row in db.session.execute(table.select()).mappings()])
            for table in db.metadata.sorted_tables]


def _insert_rows(snapshot: list[tuple]) -> None:
    from sqlalchemy import select

    from app.availability import cache, read_cache
    from app.extensions import db
    from app.models import Provider
    from app.redis_client import get_redis

    assert db.session.execute(select(Provider.id).limit(1)).first() is None, "the database is not empty"
    for table, rows in snapshot:  # parents before children
        if rows:
            db.session.execute(table.insert(), rows)
    provider_ids = db.session.scalars(select(Provider.id)).all()
    db.session.commit()
    with get_redis().pipeline(transaction=False) as pipe:
        for provider_id in provider_ids:
            pipe.incr(cache._version_key(provider_id))  # noqa: SLF001 - the cache's own key
        pipe.execute()
    read_cache.bump_setup()  # rows written with bulk SQL: no flush told the read cache
