"""Bad configuration gives one clear sentence; migrations run both ways on both engines."""

import os
import subprocess
import sys

import pytest
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from data_access.db import REPO_ROOT, DatabaseUnavailable, check_connection, make_engine
from data_access.migrate import downgrade, upgrade


def test_malformed_url_is_one_sentence():
    with pytest.raises(DatabaseUnavailable, match="not a valid database address"):
        make_engine("this is not a url")


def test_unsupported_engine_is_refused():
    with pytest.raises(DatabaseUnavailable, match="runs on SQLite or PostgreSQL"):
        make_engine("mysql://root@localhost/test")


def test_unreachable_server_is_one_sentence():
    engine = make_engine("postgresql://nobody@127.0.0.1:1/nothing")
    with pytest.raises(DatabaseUnavailable, match="Cannot reach the database") as caught:
        check_connection(engine)
    assert "\n" not in str(caught.value)


def test_corrupt_sqlite_file_is_one_sentence_and_left_untouched(tmp_path):
    path = tmp_path / "broken.db"
    garbage = b"this is not an sqlite database" * 100
    path.write_bytes(garbage)
    with pytest.raises(DatabaseUnavailable, match="not a usable database file|damaged"):
        check_connection(make_engine(f"sqlite:///{path}"))
    assert path.read_bytes() == garbage


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_engine(request, tmp_path):
    if request.param == "sqlite":
        yield make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        return
    from sqlalchemy import text

    url = request.getfixturevalue("postgres_database")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    yield engine
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def alert_uniques(engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_unique_constraints("alert")}


def test_migrations_upgrade_downgrade_upgrade(blank_engine):
    upgrade(blank_engine)
    tables = set(inspect(blank_engine).get_table_names())
    assert {table.name for table in SQLModel.metadata.sorted_tables} <= tables
    assert "uq_alert_opening" in alert_uniques(blank_engine)
    downgrade(blank_engine, "0002")
    assert not {"qbr_action", "saved_view"} & set(inspect(blank_engine).get_table_names())
    assert "uq_alert_opening" in alert_uniques(blank_engine)
    downgrade(blank_engine, "0001")
    assert "uq_alert_opening" not in alert_uniques(blank_engine)
    upgrade(blank_engine)
    assert set(inspect(blank_engine).get_table_names()) == tables
    assert "uq_alert_opening" in alert_uniques(blank_engine)
    downgrade(blank_engine, "base")
    assert set(inspect(blank_engine).get_table_names()) == {"alembic_version"}
    upgrade(blank_engine)
    assert set(inspect(blank_engine).get_table_names()) == tables


def test_migration_0003_keeps_notes_and_maps_maturity(blank_engine):
    """Upgrading a 0002 database with data: notes deduplicated per quarter, maturity 1-5 → 0-3."""
    upgrade(blank_engine, "0002")
    with blank_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO region (id, code, name, timezone, holiday_country) "
                "VALUES (1, 'EMEA', 'EMEA', 'Europe/London', 'GB')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO tier_policy VALUES ('basic', 'Basic', 120, 10, false, 'none', 0, 0, "
                "0, 0, 0, 0, false, false, 15, '2026-01-01 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO app_user (id, username, name, email, password_hash, roles, timezone, "
                "is_active, failed_logins, created_at) VALUES (1, 'm', 'M', 'm@x', 'h', 'manager', "
                "'UTC', true, 0, '2026-01-01 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO customer (id, name, tier, region_id, hypercare_start, size_band, "
                "licensed_users, is_active, created_at) VALUES (1, 'C', 'basic', 1, '2025-01-01', "
                "'small', 10, true, '2026-01-01 00:00:00')"
            )
        )
        for note_id, words in ((1, "old"), (2, "new")):
            connection.execute(
                text(
                    "INSERT INTO qbr_note (id, customer_id, quarter, author_id, at, text) "
                    "VALUES (:id, 1, '2026-Q3', 1, '2026-09-01 00:00:00', :text)"
                ),
                {"id": note_id, "text": words},
            )
        for quarter, stage in (("2026-Q1", 1), ("2026-Q2", 3), ("2026-Q3", 5)):
            connection.execute(
                text(
                    "INSERT INTO coe_snapshot (customer_id, quarter, taken_on, certified_builders, "
                    "certified_architects, production_models, workspaces, workspace_size_gb, "
                    "workspace_allowance_gb, licensed_users, active_users, alm_in_use, data_hub, "
                    "maturity_stage) VALUES (1, :q, '2026-01-01', 1, 0, 1, 1, 1, 2, 10, 5, false, "
                    "false, :stage)"
                ),
                {"q": quarter, "stage": stage},
            )
    upgrade(blank_engine)
    with blank_engine.connect() as connection:
        notes = connection.execute(text("SELECT text FROM qbr_note")).scalars().all()
        stages = connection.execute(
            text("SELECT maturity_stage FROM coe_snapshot ORDER BY quarter")
        ).scalars()
        assert notes == ["new"]
        assert list(stages) == [0, 2, 3]


def test_migration_0004_gives_existing_users_session_version_zero(blank_engine):
    """Users created before 0004 get version 0; downgrading drops the column again."""
    upgrade(blank_engine, "0003")
    with blank_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO app_user (username, name, email, password_hash, roles, timezone, "
                "is_active, failed_logins, created_at) VALUES ('old', 'Old', 'o@example.com', "
                "'x', 'csm', 'UTC', true, 0, CURRENT_TIMESTAMP)"
            )
        )
    upgrade(blank_engine)
    with blank_engine.connect() as connection:
        assert connection.execute(text("SELECT session_version FROM app_user")).scalar() == 0
    downgrade(blank_engine, "0003")
    columns = {c["name"] for c in inspect(blank_engine).get_columns("app_user")}
    assert "session_version" not in columns and "username" in columns


def test_schema_at_head_matches_the_models(blank_engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    upgrade(blank_engine)
    with blank_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_the_same_alert_cannot_be_opened_twice(seeded, session):
    from datetime import date

    from sqlalchemy.exc import IntegrityError
    from sqlmodel import select

    from data_access.models import Alert, PlanningModel

    model = session.exec(select(PlanningModel)).first()

    def alert() -> Alert:
        return Alert(
            model_id=model.id,
            customer_id=model.customer_id,
            metric="open_time_s",
            direction="above",
            opened_on=date(2026, 11, 1),
            value=90.0,
            baseline=30.0,
            lower=20.0,
            upper=40.0,
        )

    session.add(alert())
    session.commit()
    session.add(alert())
    with pytest.raises(IntegrityError):
        session.commit()


def test_the_postgresql_pool_is_sized_from_the_environment(monkeypatch):
    url = "postgresql://nobody@127.0.0.1:1/nothing"  # never connected to
    pool = make_engine(url).pool
    assert (pool.size(), pool._max_overflow) == (5, 10)
    monkeypatch.setenv("HYPERCARE_DB_POOL_SIZE", "3")
    monkeypatch.setenv("HYPERCARE_DB_MAX_OVERFLOW", "0")
    pool = make_engine(url).pool
    assert (pool.size(), pool._max_overflow) == (3, 0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HYPERCARE_DB_POOL_SIZE", "0"),
        ("HYPERCARE_DB_POOL_SIZE", "ten"),
        ("HYPERCARE_DB_MAX_OVERFLOW", "-1"),
        ("HYPERCARE_DB_MAX_OVERFLOW", "1000"),
    ],
)
def test_a_bad_pool_size_is_one_sentence(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(DatabaseUnavailable, match=f"^{variable} must be a whole number") as caught:
        make_engine("postgresql://nobody@127.0.0.1:1/nothing")
    assert "\n" not in str(caught.value)


def test_replicas_starting_together_upgrade_the_schema_once(blank_engine):
    """Two processes upgrade at once: one migrates, the other waits for it and finds head (on
    PostgreSQL, and on SQLite for replicas on one machine sharing one file)."""
    environment = {
        **os.environ,
        "DATABASE_URL": blank_engine.url.render_as_string(hide_password=False),
    }
    command = [sys.executable, "-m", "data_access.migrate", "upgrade"]
    starts = [
        subprocess.Popen(
            command, cwd=REPO_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outcomes = [start.communicate(timeout=120) for start in starts]
    assert [start.returncode for start in starts] == [0, 0], outcomes
    tables = set(inspect(blank_engine).get_table_names())
    assert {table.name for table in SQLModel.metadata.sorted_tables} <= tables


def test_upgrading_a_schema_already_at_head_takes_no_write_lock(tmp_path):
    """A replica or job starting on a current SQLite file must not wait for a writer (nor hold
    writers off while it checks every foreign key)."""
    import sqlite3

    path = tmp_path / "current.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    writer = sqlite3.connect(path, timeout=0)
    writer.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        other = make_engine(f"sqlite:///{path}")
        upgrade(other)  # returns at once: one read
        other.dispose()
    finally:
        writer.rollback()
        writer.close()
        engine.dispose()


def test_the_survey_tally_is_filled_from_the_stored_responses(blank_engine):
    """Migration 0009 fills `survey_tally` from the responses already stored, and its triggers
    keep it through the seed's bulk inserts: both equal the responses summed again."""
    import numpy as np
    import pandas as pd
    from sqlmodel import Session, select

    from data_access.models import SURVEY_TALLY_COUNTS, survey_tally
    from data_access.survey_results import recounted_tallies
    from tests.conftest import small_seed

    def kept_and_recounted() -> tuple[pd.DataFrame, pd.DataFrame]:
        with Session(blank_engine) as session:
            kept = pd.read_sql(
                select(survey_tally).order_by(survey_tally.c.campaign_id), session.connection()
            ).set_index("campaign_id")[list(SURVEY_TALLY_COUNTS)]
            counted = recounted_tallies(session=session)
        kept = kept.astype(np.int64)
        return kept[kept.to_numpy().any(axis=1)], counted

    upgrade(blank_engine)
    small_seed(blank_engine)
    kept, counted = kept_and_recounted()
    assert counted["responses"].sum() > 0 and counted["drafts"].sum() >= 0
    pd.testing.assert_frame_equal(kept, counted)
    downgrade(blank_engine, "0008")
    assert "survey_tally" not in inspect(blank_engine).get_table_names()
    upgrade(blank_engine)
    refilled, counted_again = kept_and_recounted()
    pd.testing.assert_frame_equal(refilled, counted)
    pd.testing.assert_frame_equal(counted_again, counted)
