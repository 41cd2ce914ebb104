"""What SQLite plans for the statements a read runs: the check that a read follows what it returns
rather than the size of a history table (issue 15).

`recorded_statements` keeps every statement an engine runs inside a block, with its parameters;
`full_scans` asks SQLite for each one's plan (`EXPLAIN QUERY PLAN`) and returns the steps that
walk a whole table or a whole index of it ("SCAN alert", "SCAN audit_log USING COVERING INDEX
…"). A step that seeks ("SEARCH alert USING INDEX …") reads only the rows it asks for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def recorded_statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement `engine` runs inside the block, with its parameters, in order."""
    seen: list[tuple[str, Any]] = []

    def record(_connection, _cursor, statement, parameters, _context, _executemany) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plan(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """SQLite's plan of one statement, one line per step."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return [row[3] for row in rows]


def full_scans(
    engine: Engine, statements: Sequence[tuple[str, Any]], tables: Sequence[str]
) -> list[str]:
    """The plan steps that read the whole of one of `tables` (or a whole index of it)."""
    if engine.dialect.name != "sqlite":
        pytest.skip("query plans are checked on SQLite")
    scan = re.compile(rf"^SCAN ({'|'.join(map(re.escape, tables))})\b")
    return [
        f"{step}  <- {statement.split()[0]} …{statement[-80:]!r}"
        for statement, parameters in statements
        for step in plan(engine, statement, parameters)
        if scan.match(step)
    ]
