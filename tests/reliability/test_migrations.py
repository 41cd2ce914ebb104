"""Migrations with data: upgrading from every earlier revision keeps every row, a downgrade that
would delete data stops unless forced, and a schema newer than the code is refused.

The revisions come from Alembic's script directory, so new migrations are covered as they land.
"""

from __future__ import annotations

import pytest
from sqlalchemy import MetaData, inspect, select, text
from sqlmodel import SQLModel
from streamlit.testing.v1 import AppTest

from data_access.db import DatabaseUnavailable, make_engine
from data_access.migrate import (
    DowngradeWouldLoseData,
    current_revisions,
    data_lost_by_downgrade,
    downgrade,
    revisions_oldest_first,
    upgrade,
)
from seed.demo import SeedOptions, seed_database
from tests.conftest import DEMO_PASSWORD, SEED_TODAY
from tests.pages.conftest import APP
from tests.reliability.helpers import fingerprints, fresh_database

REVISIONS = revisions_oldest_first()
HEAD = REVISIONS[-1]
# Deliberate data conversions a migration makes (checked by their own tests in test_db.py):
# 0003 maps CoE maturity 1-5 onto 0-3.
CONVERTED = {"0003": {("coe_snapshot", "maturity_stage")}}


def tiny_seed(engine) -> None:
    options = SeedOptions(
        seed=5, customers=4, cases=60, days=21, today=SEED_TODAY, demo_password=DEMO_PASSWORD
    )
    seed_database(engine, options)


def _copy_into(source, target) -> dict[str, list[str]]:
    """Copy every row of `source` into `target`'s (older) schema, for the columns it has."""
    old = MetaData()
    old.reflect(target)
    copied: dict[str, list[str]] = {}
    with source.connect() as reading, target.begin() as writing:
        for table in old.sorted_tables:
            if table.name == "alembic_version" or table.name not in SQLModel.metadata.tables:
                continue
            columns = [column.name for column in table.columns]
            head = SQLModel.metadata.tables[table.name]
            query = select(*(head.c[name] for name in columns if name in head.c))
            rows = [dict(row._mapping) for row in reading.execute(query)]
            if rows:
                writing.execute(table.insert(), rows)
            copied[table.name] = columns
        if target.dialect.name == "postgresql":
            for table in old.sorted_tables:
                if "id" in table.columns and table.name in copied:
                    writing.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                            f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
                        )
                    )
    return copied


def _column_prints(engine, columns: dict[str, list[str]], skip: set[tuple[str, str]]):
    """Per table: row count and the rows of the given columns (sorted)."""
    prints = {}
    with engine.connect() as connection:
        for table, names in columns.items():
            kept = [name for name in names if (table, name) not in skip]
            quoted = ", ".join(f'"{name}"' for name in kept)
            rows = connection.execute(text(f'SELECT {quoted} FROM "{table}"')).all()
            prints[table] = sorted(
                repr(
                    tuple(
                        value.replace(tzinfo=None)
                        if hasattr(value, "tzinfo") and value.tzinfo
                        else value
                        for value in row
                    )
                )
                for row in rows
            )
    return prints


@pytest.fixture(params=["sqlite", "postgresql"])
def kind(request):
    if request.param == "postgresql":
        request.getfixturevalue("postgres_database")  # skips without TEST_DATABASE_URL
    return request.param


def test_upgrading_from_every_earlier_revision_keeps_every_row(kind, tmp_path):
    assert len(REVISIONS) >= 2
    with fresh_database(kind, tmp_path, "source") as source_url:
        source = make_engine(source_url)
        upgrade(source)
        tiny_seed(source)
        for index, revision in enumerate(REVISIONS[:-1]):
            with fresh_database(kind, tmp_path, f"at_{revision}") as url:
                target = make_engine(url)
                upgrade(target, revision)
                copied = _copy_into(source, target)
                assert sum(1 for _ in copied) >= 10
                skip = set().union(
                    *(CONVERTED.get(later, set()) for later in REVISIONS[index + 1 :])
                )
                before = _column_prints(target, copied, skip)
                assert sum(len(rows) for rows in before.values()) > 500
                upgrade(target)
                assert current_revisions_of(target) == (HEAD,)
                assert _column_prints(target, copied, skip) == before, revision
                target.dispose()
        source.dispose()


def current_revisions_of(engine):
    with engine.connect() as connection:
        return current_revisions(connection)


def test_a_downgrade_that_would_delete_data_stops_unless_forced(kind, tmp_path):
    with fresh_database(kind, tmp_path, "down") as url:
        engine = make_engine(url)
        upgrade(engine)
        tiny_seed(engine)
        from sqlmodel import select as model_select

        from data_access.db import session_scope
        from data_access.models import SavedView, User

        with session_scope(engine) as session:
            user = session.exec(model_select(User)).first()
            session.add(SavedView(user_id=user.id, page="queue", name="Mine", params="sev=1"))
        before = fingerprints(engine)
        # Every earlier revision: either nothing would be lost and the rehearsal says so, or the
        # downgrade stops with one sentence and changes nothing.
        target = "0002"
        assert target in REVISIONS
        losses = data_lost_by_downgrade(engine, target)
        assert any("saved_view" in loss for loss in losses)
        with pytest.raises(DowngradeWouldLoseData, match="saved_view") as refused:
            downgrade(engine, target)
        assert "\n" not in str(refused.value)
        assert current_revisions_of(engine) == (HEAD,)
        assert fingerprints(engine) == before
        downgrade(engine, target, force=True)
        assert current_revisions_of(engine) == (target,)
        assert "saved_view" not in inspect(engine).get_table_names()
        engine.dispose()


def test_a_downgrade_that_drops_only_empty_or_default_data_goes_ahead(kind, tmp_path):
    with fresh_database(kind, tmp_path, "empty") as url:
        engine = make_engine(url)
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO app_user (username, name, email, password_hash, roles, timezone, "
                    "is_active, failed_logins, created_at) VALUES ('u', 'U', 'u@example.com', "
                    "'x', 'csm', 'UTC', true, 0, CURRENT_TIMESTAMP)"
                )
            )
        for revision in reversed(REVISIONS[:-1]):
            assert data_lost_by_downgrade(engine, revision) == [], revision
        downgrade(engine, REVISIONS[0])
        with engine.connect() as connection:
            assert connection.execute(text("SELECT username FROM app_user")).scalar_one() == "u"
        engine.dispose()


def _stamp_future(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()


def test_a_schema_newer_than_the_code_is_refused_with_one_sentence(kind, tmp_path):
    with fresh_database(kind, tmp_path, "future") as url:
        _stamp_future(url)
        engine = make_engine(url)
        with pytest.raises(DatabaseUnavailable, match="newer than this version") as refused:
            upgrade(engine)
        assert "\n" not in str(refused.value)
        with engine.connect() as connection:
            assert current_revisions(connection) == ("9999_from_the_future",)
        engine.dispose()


def test_the_app_shows_the_sentence_for_a_newer_schema(monkeypatch, tmp_path):
    with fresh_database("sqlite", tmp_path, "future_app") as url:
        _stamp_future(url)
        monkeypatch.setenv("DATABASE_URL", url)
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        assert not at.exception
        assert len(at.error) == 1
        assert "newer than this version" in at.error[0].value
        assert not at.text_input
