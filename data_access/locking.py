"""Check-then-write commands lock the rows they check and read them fresh."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel.sql.expression import Select, SelectOfScalar

Statement = TypeVar("Statement", Select, SelectOfScalar)


def for_update(statement: Statement, *, of: Any = None) -> Statement:
    """`statement` with its rows locked for this transaction (FOR UPDATE on PostgreSQL; on
    SQLite the write transaction already holds the database lock) and re-read from the
    database, never taken from the session's cache of a row another transaction has changed."""
    locked = statement.with_for_update(of=of) if of is not None else statement.with_for_update()
    return locked.execution_options(populate_existing=True)
