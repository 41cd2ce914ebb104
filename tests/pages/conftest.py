"""AppTest fixtures: a seeded SQLite database and helpers to run the app as a given user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from data_access.db import make_engine
from data_access.migrate import upgrade
from tests.conftest import small_seed

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


@pytest.fixture(scope="session")
def app_database(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('app') / 'app.db'}"
    engine = make_engine(url)
    upgrade(engine)
    small_seed(engine)
    allow_cleaning_history(engine)
    engine.dispose()
    return url


def allow_cleaning_history(engine) -> None:
    """Drop the append-only triggers of this shared test database only.

    Page tests remove the audit and ledger rows they add, so the next test sees the seed; that
    the app's database refuses such deletes is shown in tests/data_access/test_append_only.py.
    """
    with engine.begin() as connection:
        triggers = connection.execute(
            text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name IN ('audit_log', 'entitlement_ledger')"
            )
        ).scalars()
        for name in list(triggers):
            connection.execute(text(f'DROP TRIGGER "{name}"'))


@pytest.fixture(autouse=True)
def app_environment(app_database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", app_database)
    monkeypatch.setenv("HYPERCARE_COOKIE_KEY", "test-only-cookie-key-" + "k" * 40)
    yield


def signed_in(username: str, script: str = APP) -> AppTest:
    """An AppTest whose session is signed in as `username` (cookies do nothing under AppTest)."""
    at = AppTest.from_file(script, default_timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    at.session_state["name"] = username
    at.session_state["roles"] = []
    at.session_state["session_version"] = session_version_of(username)
    return at


def session_version_of(username: str) -> int | None:
    """The user's current session version (a session signed in now carries it)."""
    from sqlmodel import Session, select

    from data_access.models import User

    engine = db_engine()
    try:
        with Session(engine) as session:
            return session.exec(
                select(User.session_version).where(User.username == username)
            ).first()
    finally:
        engine.dispose()


def page_path(name: str) -> str:
    return str(ROOT / "pages" / name)


def db_engine():
    return make_engine(os.environ["DATABASE_URL"])


@pytest.fixture
def downloads(monkeypatch) -> list[tuple[bytes, str, str | None]]:
    """Every file a download button offers, as (data, mimetype, file name): eager ones as they
    are registered, deferred ones (the CSV downloads) by running their callable as a click does."""
    captured = []
    register = MemoryMediaFileStorage.load_and_get_id
    defer = MediaFileManager.add_deferred

    def record(self, path_or_data, mimetype, kind, filename=None):
        captured.append((path_or_data, mimetype, filename))
        return register(self, path_or_data, mimetype, kind, filename)

    def record_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        captured.append((data_callable(), mimetype, file_name))
        return defer(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    monkeypatch.setattr(MediaFileManager, "add_deferred", record_deferred)
    return captured
