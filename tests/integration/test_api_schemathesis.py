"""Schemathesis against /api/openapi.json, in-process (WSGI), on the seeded demo clinic.

Every operation gets a few positive and a few negative examples (derandomized, so CI
sees the same requests every run), sent with an admin token on /api/admin/v1 and on the
staff actions, and a patient token on the rest of /api/v1. Checks: no 5xx, every status
documented, every answer matching its schema, and no request that violates the schema
accepted. A failure lists every operation that broke, with the request to reproduce it.
"""
from __future__ import annotations

import uuid

import pytest
import schemathesis
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


def test_the_api_conforms_to_its_openapi_document(demo_app):
    admin = {"Authorization": f"Bearer {_bearer(demo_app, 'admin@riverside.example')}"}
    patient = {"Authorization": f"Bearer {_bearer(demo_app, 'patient@riverside.example')}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", demo_app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        staff = operation.path.startswith("/api/admin/") or operation.path.endswith(STAFF_ACTIONS)
        sent = admin if staff else patient
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck), print_blob=False)
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case):
                case.call_and_validate(headers=dict(sent), checks=CHECKS)

            try:
                exercise()
            except Exception as error:  # noqa: BLE001 - collected: one report for every operation
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {error}"[:3000])
    assert operations >= 30
    assert not failures, "\n\n".join(failures)
