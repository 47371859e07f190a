"""Schemathesis against /api/openapi.json, in-process (WSGI), on the seeded demo clinic.

Every operation gets a few positive examples (with real demo ids in the path) and a few
negative ones (derandomized, so CI sees the same requests every run), sent with an admin token on /api/admin/v1 and on the
staff actions, and a patient token on the rest of /api/v1. Checks: no 5xx, every status
documented, every answer matching its schema, and no request that violates the schema
accepted. A failure lists every operation that broke, with the request to reproduce it.
"""
from __future__ import annotations

import uuid

import pytest
import schemathesis
from sqlalchemy import select
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from app.api.auth import issue_token
from app.accounts import find_user_by_email
from app.extensions import db
from app.models import AppointmentType, Booking, Location, Provider, TimeOff
from tests.conftest import _config
from tests.integration.helpers import seed_demo_clinic

EXAMPLES = 5  # per operation and mode: a smoke run; the 20,000-request fuzz is for a developer's machine
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, negative_data_rejection]
STAFF_ACTIONS = ("/accept", "/decline")


@pytest.fixture(scope="module")
def demo_app(backend, make_database, redis_url, test_root):
    """A real, committed database holding the demo clinic (Schemathesis changes it freely)."""
    application = create_app(_config(make_database(backend), redis_url,
                                     test_root / f"instance-schemathesis-{backend}-{uuid.uuid4().hex[:6]}"))
    with pytest.MonkeyPatch.context() as patch:
        seed_demo_clinic(application, patch)
    yield application
    with application.app_context():
        db.engine.dispose()


def _bearer(app, email: str) -> str:
    with app.app_context():
        return issue_token(find_user_by_email(email))["access_token"]


def _demo_ids(app) -> dict[str, dict[str, str]]:
    """Real path ids for positive examples: the patient's own bookings, a pending request for
    the staff actions, and the demo's first rows (negative examples try any id)."""
    with app.app_context():
        patient = find_user_by_email("patient@riverside.example")
        first = {name: str(db.session.scalars(select(model.id).order_by(model.id)).first())
                 for name, model in (("location_id", Location), ("provider_id", Provider),
                                     ("type_id", AppointmentType), ("time_off_id", TimeOff))}
        own = db.session.scalars(select(Booking.id).where(Booking.patient_id == patient.id,
                                                          Booking.status == "confirmed")).first()
        pending = db.session.scalars(select(Booking.id).where(Booking.status == "pending")).first()
    return {"patient": {**first, "booking_id": str(own)}, "staff": {**first, "booking_id": str(pending)}}


def test_the_api_conforms_to_its_openapi_document(demo_app):
    admin = {"Authorization": f"Bearer {_bearer(demo_app, 'admin@riverside.example')}"}
    patient = {"Authorization": f"Bearer {_bearer(demo_app, 'patient@riverside.example')}"}
    ids = _demo_ids(demo_app)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", demo_app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        staff = operation.path.startswith("/api/admin/") or operation.path.endswith(STAFF_ACTIONS)
        sent = admin if staff else patient
        known = ids["staff" if staff else "patient"]
        real = {p.name: known[p.name] for p in operation.path_parameters if known.get(p.name) not in (None, "None")}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fixed = {"path_parameters": real} if mode == GenerationMode.POSITIVE and real else {}

            @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck), print_blob=False)
            @given(case=operation.as_strategy(generation_mode=mode, **fixed))
            def exercise(case):
                case.call_and_validate(headers=dict(sent), checks=CHECKS)

            try:
                exercise()
            except Exception as error:  # noqa: BLE001 - collected: one report for every operation
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {error}"[:3000])
    assert operations >= 30
    assert not failures, "\n\n".join(failures)
