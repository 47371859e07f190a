"""Helpers for the JSON API tests: tenants and users made cheaply, bearer tokens,
an authorised client wrapper, error-envelope checks and dates relative to today.

The engine works with the real clock (`utcnow()`), so every materialized date a
test uses is computed from today; dates far in the future are only reachable
through the on-demand reads past the horizon.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, inspect, select, table

from app import accounts
from app.database import write_transaction
from app.demo_seed import DEMO_PASSWORD
from app.extensions import db
from app.models import Location, Organization, Provider
from tests.integration.helpers import _demo_password_hash

PASSWORD = DEMO_PASSWORD  # every API test user shares it, so one argon2 hash serves them all


# --- tenants and users -------------------------------------------------------------------------

def cheap_hashing(monkeypatch) -> None:
    """Make `accounts.create_user` reuse one real argon2id hash of PASSWORD. Test users share
    the demo password, which the password policy refuses for real accounts (test_accounts.py
    tests the policy), so the policy lets exactly that one through here."""
    monkeypatch.setattr(accounts, "hash_password", lambda _password: _demo_password_hash())
    policy = accounts.check_password_strength
    monkeypatch.setattr(accounts, "check_password_strength",
                        lambda password, **kw: None if password == PASSWORD else policy(password, **kw))


def make_organization(app, name: str = "Harbour Clinic", slug: str | None = None,
                      slot_exposure_enabled: bool = True) -> uuid.UUID:
    with app.app_context():
        with write_transaction():
            org = Organization(name=name, slug=slug or f"org-{uuid.uuid4().hex[:10]}",
                               slot_exposure_enabled=slot_exposure_enabled)
            db.session.add(org)
        return org.id


def make_user(app, organization_id: uuid.UUID, role: str, email: str | None = None,
              provider_id: uuid.UUID | None = None) -> str:
    """Create a user (call `cheap_hashing` first); returns the e-mail to sign in with."""
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    with app.app_context():
        accounts.create_user(email=email, password=PASSWORD, role=role, organization_id=organization_id,
                             provider_id=provider_id)
    return email


def make_location(app, organization_id: uuid.UUID, name: str = "Elsewhere",
                  tz: str = "Europe/Paris") -> uuid.UUID:
    with app.app_context():
        with write_transaction():
            location = Location(organization_id=organization_id, name=name, timezone=tz)
            db.session.add(location)
        return location.id


def make_provider(app, organization_id: uuid.UUID, location_id: uuid.UUID, name: str = "Dr. Other") -> uuid.UUID:
    with app.app_context():
        with write_transaction():
            location = db.session.get(Location, location_id)
            provider = Provider(organization_id=organization_id, display_name=name, timezone=location.timezone,
                                locations=[location])
            db.session.add(provider)
        return provider.id


def token(client, email: str, password: str = PASSWORD) -> str:
    """A bearer token from the real sign-in endpoint."""
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    return body["access_token"]


def minted_token(app, email: str) -> str:
    """The same bearer token the sign-in endpoint issues, minted directly: for table-driven tests,
    where one argon2 verification per row would dominate the run time."""
    from app.api.auth import issue_token

    with app.app_context():
        return issue_token(accounts.find_user_by_email(email))["access_token"]


class Api:
    """The Flask test client with a bearer token and a fresh Idempotency-Key on every write."""

    def __init__(self, client, bearer: str | None = None):
        self.client = client
        self.bearer = bearer
        self.organization_id: uuid.UUID | None = None  # set by fixtures that made the caller's tenant

    def headers(self, extra: dict | None = None, write: bool = False) -> dict:
        out = {}
        if self.bearer:
            out["Authorization"] = f"Bearer {self.bearer}"
        if write:
            out["Idempotency-Key"] = uuid.uuid4().hex
        out.update(extra or {})
        return out

    def get(self, path: str, params: dict | None = None, headers: dict | None = None):
        return self.client.get(path, query_string=params, headers=self.headers(headers))

    def post(self, path: str, body=None, headers: dict | None = None, **kwargs):
        if "data" in kwargs:
            return self.client.post(path, headers=self.headers(headers, write=True), **kwargs)
        return self.client.post(path, json=body if body is not None else {},
                                headers=self.headers(headers, write=True))

    def patch(self, path: str, body: dict, headers: dict | None = None):
        return self.client.patch(path, json=body, headers=self.headers(headers, write=True))

    def created(self, path: str, body: dict) -> dict:
        response = self.post(path, body)
        assert response.status_code == 201, (path, response.status_code, response.get_json())
        return response.get_json()

    def ok(self, response) -> dict:
        assert response.status_code == 200, (response.request.path, response.status_code, response.get_json())
        return response.get_json()

    def all_slots(self, params: dict, headers: dict | None = None) -> list[dict]:
        """Every open slot (`X-Exposure-Variant: all`) for these /api/v1/slots parameters."""
        body = self.ok(self.get("/api/v1/slots", params, {"X-Exposure-Variant": "all", **(headers or {})}))
        assert body["has_more"] is False and body["total"] == len(body["slots"])
        return body["slots"]


# --- assertions ---------------------------------------------------------------------------------

def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    """The response is the API error envelope with this status and code (and field, for 422s)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.is_json, response.get_data(as_text=True)[:200]
    body = response.get_json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], dict), error
    if field is not None:
        assert field in error["details"].get("fields", {}), error
    return error


def row_counts(app) -> dict[str, int]:
    """How many rows every table holds: before/after snapshots prove a refusal wrote nothing."""
    with app.app_context():
        names = inspect(db.session.connection()).get_table_names()
        return {name: db.session.scalar(select(func.count()).select_from(table(name))) for name in names}


# --- time ---------------------------------------------------------------------------------------

def local_today(tz: str) -> date:
    return datetime.now(timezone.utc).astimezone(ZoneInfo(tz)).date()


def next_weekday(tz: str, min_days_ahead: int = 2) -> date:
    """The first Monday–Friday at least `min_days_ahead` local days from today (inside the horizon)."""
    day = local_today(tz) + timedelta(days=min_days_ahead)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return day


def next_monday(tz: str) -> date:
    """The Monday of next week, local (1–7 days ahead: its whole week lies inside the horizon)."""
    today = local_today(tz)
    return today + timedelta(days=(7 - today.weekday()) or 7)


def at(day: date, hhmm: str, tz: str) -> datetime:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=ZoneInfo(tz))


def local_iso(day: date, hhmm: str, tz: str) -> str:
    """RFC 3339 with the local offset, e.g. 2027-03-15T10:00:00-04:00."""
    return at(day, hhmm, tz).isoformat()


def utc_z(value: datetime) -> str:
    """The API's UTC spelling of an instant: 2027-03-15T14:00:00Z."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def local_times(slots: list[dict]) -> list[str]:
    """'HH:MM' of each slot's local_start."""
    return [s["local_start"][11:16] for s in slots]
