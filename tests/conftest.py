"""Shared fixtures: databases on SQLite and (when TEST_DATABASE_URL is set) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

from data_access import models  # noqa: F401
from data_access.db import make_engine
from data_access.migrate import upgrade
from seed.demo import SeedOptions, seed_database

DEMO_PASSWORD = "demo-Password-1"
SEED_TODAY = date(2026, 11, 2)


def _postgres_server() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI is set but TEST_DATABASE_URL is not: PostgreSQL tests must run in CI.")
        return None
    return url


def _admin_engine(url: str) -> Engine:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        message = f"PostgreSQL at {url} is unreachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return engine


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, uniquely named PostgreSQL database on TEST_DATABASE_URL's server, dropped after
    (skipped when TEST_DATABASE_URL is unset; under CI that fails instead)."""
    server = _postgres_server()
    if server is None:
        pytest.skip("TEST_DATABASE_URL is not set; PostgreSQL tests skipped")
    admin = _admin_engine(server).execution_options(isolation_level="AUTOCOMMIT")
    name = f"hypercare_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database for this test session, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_engine(request, tmp_path_factory) -> Iterator[Engine]:
    """A schema at head on each engine, shared by the session's data-access tests."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def empty_all_tables(engine: Engine) -> None:
    tables = [table.name for table in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{name}"' for name in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            # SQLite cannot switch triggers off: the append-only ones are dropped for the
            # emptying and put back as they were, in the same transaction.
            triggers = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            ).all()
            for name, _ in triggers:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            for name in tables:
                connection.execute(text(f'DELETE FROM "{name}"'))
            for _, sql in triggers:
                connection.execute(text(sql))


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    """An empty database at head, on SQLite and on PostgreSQL."""
    empty_all_tables(migrated_engine)
    yield migrated_engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def small_seed(engine: Engine) -> dict:
    options = SeedOptions(
        seed=11, customers=9, cases=400, days=60, today=SEED_TODAY, demo_password=DEMO_PASSWORD
    )
    return seed_database(engine, options).counts


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    small_seed(engine)
    return engine
