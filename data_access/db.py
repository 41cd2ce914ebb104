"""Engine creation, connection checks and schema upgrades for SQLite and PostgreSQL.

The embedded default is a SQLite file under `data/`; `DATABASE_URL` points the same code at
PostgreSQL. Every failure a person can fix is turned into one `DatabaseUnavailable` sentence.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlmodel import Session, create_engine

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SQLITE_PATH = REPO_ROOT / "data" / "hypercare.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000

# Connections each process keeps open to PostgreSQL (`pool_size`) and may open beyond that under a
# burst (`max_overflow`); a replica holds at most their sum. See "Running several replicas" in the
# README for what N replicas need of the server's max_connections.
POOL_SETTINGS = {  # name: (environment variable, default, smallest allowed)
    "pool_size": ("HYPERCARE_DB_POOL_SIZE", 5, 1),  # SQLAlchemy reads 0 as "no limit"
    "max_overflow": ("HYPERCARE_DB_MAX_OVERFLOW", 10, 0),
}
POOL_SETTING_MAX = 200


class DatabaseUnavailable(RuntimeError):
    """The database cannot be used; the message is one sentence saying what to fix."""


def database_url() -> str:
    """The configured database: `DATABASE_URL`, else the embedded SQLite file."""
    configured = os.environ.get("DATABASE_URL", "").strip()
    if configured:
        return configured
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def masked_url(url: str) -> str:
    """`url` safe to show: its password (if any) replaced by `***`, even when it does not parse.

    A malformed address is shown back to whoever opens the app, so the password is masked by
    position (from the user name's `:` to the last `@`) without trusting a parser; a password
    that itself holds `@` or `:` is masked whole.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{separator}{user}:***@{host}"


def _normalise(url: str) -> str:
    """Accept the common `postgres://` and `postgresql://` spellings and use psycopg 3."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise DatabaseUnavailable(
            f"DATABASE_URL is not a valid database address ({masked_url(url)!r}); use a form like "
            "postgresql://user@host:5432/dbname or sqlite:///path/to/file.db."
        ) from exc
    if parsed.drivername in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if not parsed.drivername.startswith(("sqlite", "postgresql")):
        raise DatabaseUnavailable(
            f"DATABASE_URL uses {parsed.drivername!r}; HyperCare Desk runs on SQLite or "
            "PostgreSQL (postgresql://…)."
        )
    return parsed.render_as_string(hide_password=False)


def _on_sqlite_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is always DEFERRED).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _on_sqlite_begin(connection) -> None:
    """Write transactions take SQLite's write lock up front (BEGIN IMMEDIATE).

    A deferred transaction that reads and then writes fails at once with "database is locked"
    when another writer committed in between; taking the lock first makes it wait (busy
    timeout) and then read fresh data, so check-then-write commands cannot race.
    """
    mode = "IMMEDIATE" if connection.get_execution_options().get("for_write") else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def private_files() -> Iterator[None]:
    """Files created inside are readable by their owner only (umask 077), set before creation.

    Setting the mode when the file is created leaves no moment in which another local user can
    open it, as a `chmod` afterwards would.
    """
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 600 (and its folder with 700) unless it already exists."""
    with private_files():
        path.parent.mkdir(parents=True, exist_ok=True)
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def pool_settings() -> dict[str, int]:
    """`pool_size` and `max_overflow` for PostgreSQL engines, from the environment or defaults."""
    settings = {}
    for name, (variable, default, smallest) in POOL_SETTINGS.items():
        configured = os.environ.get(variable, "").strip()
        if not configured:
            settings[name] = default
            continue
        try:
            value = int(configured)
        except ValueError:
            value = smallest - 1
        if not smallest <= value <= POOL_SETTING_MAX:
            raise DatabaseUnavailable(
                f"{variable} must be a whole number from {smallest} to {POOL_SETTING_MAX} "
                f"(it is {configured!r})."
            )
        settings[name] = value
    return settings


def make_engine(url: str | None = None) -> Engine:
    """Create an engine for `url` (default: the configured database) with our connect settings."""
    resolved = _normalise(url or database_url())
    if resolved.startswith("sqlite"):
        path = make_url(resolved).database
        if path and path != ":memory:":
            # SQLite gives the -wal and -shm files the main file's mode, so they are 600 too.
            create_private_file(Path(path))
        engine = create_engine(
            resolved, connect_args={"check_same_thread": False, "timeout": 10}, pool_pre_ping=True
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    return create_engine(
        resolved,
        pool_pre_ping=True,
        **pool_settings(),
        connect_args={"connect_timeout": 5},
    )


def check_connection(engine: Engine) -> None:
    """Open one connection and run a trivial query, translating failures into one sentence."""
    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            if engine.dialect.name == "sqlite":
                verdict = connection.execute(text("PRAGMA quick_check")).scalar()
                if verdict != "ok":
                    raise DatabaseUnavailable(
                        f"The database file {engine.url.database} is damaged ({verdict}); "
                        "restore it from a backup or move it aside to start afresh."
                    )
    except DatabaseUnavailable:
        raise
    except OperationalError as exc:
        log.warning("database connection failed: %s", exc)
        raise DatabaseUnavailable(
            f"Cannot reach the database at {where}; check that the server is running and "
            "DATABASE_URL is right."
        ) from exc
    except DatabaseError as exc:
        log.warning("database unusable: %s", exc)
        raise DatabaseUnavailable(
            f"The database at {where} is not a usable database file (it may be corrupt); "
            "restore it from a backup or move it aside to start afresh."
        ) from exc


def connected_engine(url: str | None = None) -> Engine:
    """An engine for `url` (default: the configured database) that has answered a trivial query;
    otherwise `DatabaseUnavailable` with one sentence (what the command-line jobs print)."""
    engine = make_engine(url)
    check_connection(engine)
    return engine


def write_engine(engine: Engine) -> Engine:
    """The same engine, with transactions that take the write lock first on SQLite.

    On PostgreSQL, commands that check-then-write lock the rows they check
    (`SELECT … FOR UPDATE`); there this option changes nothing.
    """
    return engine.execution_options(for_write=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A write transaction: commits on success, rolls back on any error, never half-written."""
    with Session(write_engine(engine), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
