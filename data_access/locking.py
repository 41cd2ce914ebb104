"""Check-then-write commands lock the rows they check and read them fresh; jobs that must run
once across replicas hold a job lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel.sql.expression import Select, SelectOfScalar

Statement = TypeVar("Statement", Select, SelectOfScalar)


def for_update(statement: Statement, *, of: Any = None) -> Statement:
    """`statement` with its rows locked for this transaction (FOR UPDATE on PostgreSQL; on
    SQLite the write transaction already holds the database lock) and re-read from the
    database, never taken from the session's cache of a row another transaction has changed."""
    locked = statement.with_for_update(of=of) if of is not None else statement.with_for_update()
    return locked.execution_options(populate_existing=True)


@contextmanager
def job_lock(engine: Engine, key: int) -> Iterator[bool]:
    """Try to hold the job lock `key` for the block: True when this process holds it, False when
    another process (on any replica) does; never waits.

    On PostgreSQL a session advisory lock, on a connection kept for the block: a run that dies
    loses its connection and with it the lock, so a crash never leaves the job locked out. On
    SQLite (one machine, never replicas) it is always True: there the caller re-checks under the
    write transaction, which SQLite already serialises (BEGIN IMMEDIATE).
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        held = bool(
            connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
        )
        connection.commit()  # the lock belongs to the session: no transaction is left open
        try:
            yield held
        finally:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
