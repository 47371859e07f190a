"""The checked-in migrations build the schema the models describe, on both databases."""
from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.models import Base
from tests.processes import flask_cli, process_env


@pytest.fixture
def empty_database_url(backend, request, test_root) -> str:
    name = f"bw_empty_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        return f"sqlite:///{test_root / (name + '.sqlite3')}"
    cluster = request.getfixturevalue("postgres")
    cluster.execute(f"CREATE DATABASE {name}")
    return cluster.url(name)


def _differences(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_flask_db_upgrade_from_empty_matches_the_models(empty_database_url, redis_url):
    env = process_env(empty_database_url, redis_url)
    result = flask_cli(["db", "upgrade"], env)
    assert result.returncode == 0, result.stderr
    assert set(Base.metadata.tables) <= _tables(empty_database_url)
    assert _differences(empty_database_url) == []


def test_downgrade_to_base_and_upgrade_again_round_trips(empty_database_url, redis_url):
    env = process_env(empty_database_url, redis_url)
    assert flask_cli(["db", "upgrade"], env).returncode == 0
    down = flask_cli(["db", "downgrade", "base"], env)
    assert down.returncode == 0, down.stderr
    assert _tables(empty_database_url) - {"alembic_version"} == set()
    assert flask_cli(["db", "upgrade"], env).returncode == 0
    assert _differences(empty_database_url) == []
