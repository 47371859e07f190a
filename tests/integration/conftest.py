"""Fixtures shared by the integration tests (the database, app and client fixtures are in
tests/conftest.py). A module that needs more than the seeded clinic defines its own
`demo`, which overrides this one."""
from __future__ import annotations

import pytest

from tests.integration.helpers import seed_demo_clinic


@pytest.fixture
def demo(app, db_session, monkeypatch) -> None:
    """The demo clinic, seeded inside this test's rolled-back transaction."""
    seed_demo_clinic(app, monkeypatch)
