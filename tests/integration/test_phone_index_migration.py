"""Migration 0008 (the phone blind index) fills the phone and guest-email blind indexes of rows that exist before
it: run on a clinic whose indexes are missing, `flask db upgrade` decrypts with the app's
key and indexes every patient phone and guest contact, so the directory finds them."""
from __future__ import annotations

from sqlalchemy import create_engine, text

from app import create_app
from app.demo_seed import seed_demo, seed_demo_week
from app.extensions import db
from app.models import Organization
from app.queries import patients as directory
from tests.conftest import _config
from tests.integration.test_migrations import empty_database_url  # noqa: F401 - fixture
from tests.processes import flask_cli, process_env


def _before_0008() -> str:
    """The revision 0008 follows (read from the script, so re-chaining it needs no edit here)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0008_phone_blind_index.py"
    spec = importlib.util.spec_from_file_location("migration_0008", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.down_revision


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                "profiles": connection.scalar(text("SELECT count(*) FROM patient_profiles WHERE phone_index IS NOT NULL")),
                "guest_phones": connection.scalar(text(
                    "SELECT count(*) FROM bookings WHERE guest_phone_index IS NOT NULL")),
                "guest_emails": connection.scalar(text(
                    "SELECT count(*) FROM bookings WHERE guest_email_index IS NOT NULL")),
                "tokens": connection.scalar(text("SELECT count(*) FROM phone_lookup_tokens")),
            }
    finally:
        engine.dispose()


def test_upgrading_to_0008_indexes_the_phones_and_guest_emails_already_stored(empty_database_url, redis_url):
    env = process_env(empty_database_url, redis_url)
    assert flask_cli(["db", "upgrade"], env).returncode == 0
    app = create_app(_config(empty_database_url, redis_url))
    with app.app_context():
        seed_demo()
        seed_demo_week()
        db.session.remove()
        db.engine.dispose()
    indexed = _counts(empty_database_url)
    assert indexed["profiles"] >= 4 and indexed["guest_phones"] >= 1 and indexed["guest_emails"] >= 1
    # back to the schema before the indexes (their columns and table go), then up again
    down = flask_cli(["db", "downgrade", _before_0008()], env)
    assert down.returncode == 0, down.stderr

    up = flask_cli(["db", "upgrade"], env)

    assert up.returncode == 0, up.stderr
    assert _counts(empty_database_url) == indexed
    with app.app_context():
        org_id = db.session.query(Organization.id).scalar()
        found = [(e.kind, e.name) for e in directory.search(org_id, "030 1234 56")]
        assert found == [("guest", "Tomasz Nowak")]
        assert [(e.kind, e.name) for e in directory.search(org_id, "lena@example.com")] == [("guest", "Lena Braun")]
        db.session.remove()
        db.engine.dispose()
