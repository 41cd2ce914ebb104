"""Shared checks for the reliability tests: row fingerprints, integrity and fresh databases."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url

from data_access.db import make_engine

STAMP = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d)?$")
REPO = Path(__file__).resolve().parents[2]


def fingerprints(
    engine: Engine,
    where: dict[str, str] | None = None,
    *,
    stamped_after: datetime | None = None,
    drop_columns: set[str] = frozenset(),
) -> dict[str, tuple[int, str]]:
    """Every table's row count and a checksum of its rows (ordered by every column).

    `stamped_after` replaces timestamps at or after that moment with a marker (clock stamps a
    run wrote); `drop_columns` leaves columns out (e.g. surrogate ids).
    """
    where = where or {}
    result: dict[str, tuple[int, str]] = {}
    inspector = inspect(engine)
    preparer = engine.dialect.identifier_preparer
    with engine.connect() as connection:
        for name in sorted(inspector.get_table_names()):
            if name == "alembic_version":
                continue
            columns = [
                column["name"]
                for column in inspector.get_columns(name)
                if column["name"] not in drop_columns
            ]
            ordered = ", ".join(preparer.quote(column) for column in columns)
            clause = f" WHERE {where[name]}" if name in where else ""
            rows = connection.execute(
                text(f"SELECT {ordered} FROM {preparer.quote(name)}{clause} ORDER BY {ordered}")
            ).all()
            digest = hashlib.sha256()
            shown = sorted(
                repr(tuple(_plain(value, stamped_after) for value in row)) for row in rows
            )
            for row in shown:
                digest.update(row.encode())
            result[name] = (len(rows), digest.hexdigest())
    return result


def _plain(value, stamped_after: datetime | None = None):
    if stamped_after is not None and isinstance(value, str) and STAMP.match(value):
        value = datetime.fromisoformat(value)  # SQLite hands back text for raw SELECTs
    if stamped_after is not None and isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        if aware >= stamped_after:
            return "<stamped by the run>"
    if hasattr(value, "isoformat"):
        # SQLite hands back naive datetimes, PostgreSQL aware ones; compare the instant.
        return (
            value.replace(tzinfo=None).isoformat()
            if hasattr(value, "tzinfo")
            else value.isoformat()
        )
    return value


def integrity_problems(engine: Engine) -> list[str]:
    """Broken pages (SQLite), dangling foreign keys, ledger sums that disagree: empty when sound."""
    problems: list[str] = []
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            verdict = connection.exec_driver_sql("PRAGMA integrity_check").scalar()
            if verdict != "ok":
                problems.append(f"integrity_check: {verdict}")
            dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            problems += [f"foreign key: {row}" for row in dangling]
        else:
            problems += _postgres_dangling(engine, connection)
    problems += ledger_problems(engine)
    return problems


def _postgres_dangling(engine: Engine, connection) -> list[str]:
    """PostgreSQL enforces foreign keys itself; check them anyway by joining every one."""
    problems = []
    inspector = inspect(engine)
    for table in inspector.get_table_names():
        for fk in inspector.get_foreign_keys(table):
            (column,), (target,) = fk["constrained_columns"], fk["referred_columns"]
            count = connection.execute(
                text(
                    f'SELECT COUNT(*) FROM "{table}" t WHERE t."{column}" IS NOT NULL AND NOT '
                    f'EXISTS (SELECT 1 FROM "{fk["referred_table"]}" r WHERE r."{target}" = t."{column}")'
                )
            ).scalar_one()
            if count:
                problems.append(f"foreign key {table}.{column}: {count} dangling")
    return problems


def ledger_problems(engine: Engine) -> list[str]:
    """The ledger adds up: no request credited back more than it was debited, and every
    customer's yearly balance (data_access.entitlement_ledger, computed from the ledger) is whole."""
    from datetime import date

    from sqlmodel import Session

    from data_access.entitlement_ledger import entitlement_balances

    problems = []
    with engine.connect() as connection:
        over_credited = connection.execute(
            text(
                "SELECT request_id, kind, SUM(delta) FROM entitlement_ledger "
                "WHERE request_id IS NOT NULL GROUP BY request_id, kind HAVING SUM(delta) > 0"
            )
        ).all()
        customers = connection.execute(text("SELECT id FROM customer")).scalars().all()
    problems += [f"request {row[0]} {row[1]} credited more than debited" for row in over_credited]
    with Session(engine) as session:
        for customer_id in customers:
            frame = entitlement_balances(session=session, customer_id=customer_id, on=date.today())
            per_year = frame[frame["measure"] == "per_year"]
            expected = (per_year["allowance"] - per_year["used"] + per_year["extra"]).clip(lower=0)
            if (per_year["remaining"] != expected).any() or (per_year["remaining"] < 0).any():
                problems.append(f"customer {customer_id}: balance does not match its ledger")
    return problems


@contextmanager
def fresh_database(kind: str, tmp_path: Path, name: str = "fresh") -> Iterator[str]:
    """A new empty database URL of the given kind (PostgreSQL needs TEST_DATABASE_URL)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
        return
    server = os.environ["TEST_DATABASE_URL"]
    admin = make_engine(server).execution_options(isolation_level="AUTOCOMMIT")
    database = f"hypercare_rel_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield make_url(server).set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": database},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
        admin.dispose()


def run_module(
    module: str, *args: str, url: str, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run `python -m module args` against `url` and wait for it."""
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
