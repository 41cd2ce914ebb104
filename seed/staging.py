"""Seed all or nothing: build the data somewhere else, then swap it in with one commit.

`seed_database` commits step by step (reference data, case chunks, metrics, monitoring days), so a
seed killed midway would leave part of its data and a re-run would refuse the non-empty
database. `python -m seed` therefore seeds a staging copy and swaps it in at the end:

- SQLite: a private file beside the database, copied into it with SQLite's backup API (one write
  transaction: readers see the empty database or the seeded one);
- PostgreSQL: a staging schema, renamed to `public` in the same transaction that drops the old,
  empty `public` (PostgreSQL's DDL is transactional). The database user must own `public`.

A killed seed leaves at most the staging file or schema, which the next run removes first.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from data_access.db import make_engine, private_files
from data_access.migrate import upgrade
from seed.demo import Progress, SeedOptions, SeedReport, seed_database

STAGING_SCHEMA = "hypercare_seeding"


def seed_all_or_nothing(
    engine: Engine, options: SeedOptions, progress: Progress | None = None
) -> SeedReport:
    """Seed the empty database behind `engine` so that it ends fully seeded or untouched."""
    extra = () if progress is None else (progress,)
    if engine.dialect.name == "sqlite":
        return _sqlite(engine, options, *extra)
    return _postgresql(engine, options, *extra)


def _sqlite_files(path: Path) -> list[Path]:
    return [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]


def _sqlite(engine: Engine, options: SeedOptions, *progress) -> SeedReport:
    target = Path(engine.url.database)
    staging = target.with_name(f".{target.name}.seeding")
    for leftover in _sqlite_files(staging):
        leftover.unlink(missing_ok=True)
    try:
        with private_files():
            staging_engine = make_engine(f"sqlite:///{staging}")
            upgrade(staging_engine)
        report = seed_database(staging_engine, options, *progress)
        staging_engine.dispose()
        engine.dispose()
        source = sqlite3.connect(staging)
        destination = sqlite3.connect(target, timeout=30)
        try:
            source.backup(destination)
        finally:
            destination.close()
            source.close()
        return report
    finally:
        for leftover in _sqlite_files(staging):
            leftover.unlink(missing_ok=True)


def _postgresql(engine: Engine, options: SeedOptions, *progress) -> SeedReport:
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {STAGING_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {STAGING_SCHEMA}"))
    staging_engine = make_engine(engine.url.render_as_string(hide_password=False))

    @event.listens_for(staging_engine, "connect")
    def _into_staging(dbapi_connection, _record) -> None:
        dbapi_connection.execute(f"SET search_path TO {STAGING_SCHEMA}")
        dbapi_connection.commit()

    try:
        upgrade(staging_engine)
        report = seed_database(staging_engine, options, *progress)
    finally:
        staging_engine.dispose()
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text(f"ALTER SCHEMA {STAGING_SCHEMA} RENAME TO public"))
    engine.dispose()
    return report
