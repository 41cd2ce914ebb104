"""Apply Alembic migrations from code: the app upgrades its database to head at start-up.

Two guards keep data safe: the app refuses a database whose schema is newer than its code (an
older release would misread it), and a downgrade that would drop a table or column holding data,
or delete rows, stops with one sentence unless it is forced.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from data_access.db import REPO_ROOT, DatabaseUnavailable

_UPGRADE_LOCK_KEY = 5_318_008_000  # PostgreSQL advisory lock: one schema upgrade at a time


class DowngradeWouldLoseData(RuntimeError):
    """A downgrade would destroy data; the message is one sentence naming what would be lost."""


def alembic_config() -> Config:
    return Config(str(REPO_ROOT / "alembic.ini"))


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def revisions_oldest_first() -> list[str]:
    """Every revision this code knows, from the first migration to head."""
    return [script.revision for script in reversed(list(script_directory().walk_revisions()))]


def current_revisions(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


def check_schema_not_newer(connection: Connection) -> None:
    """Refuse a database stamped with a revision this code does not know (made by a newer release)."""
    scripts = script_directory()
    for revision in current_revisions(connection):
        try:
            known = scripts.get_revision(revision)
        except CommandError:
            known = None
        if known is None:
            raise DatabaseUnavailable(
                f"The database's schema (revision {revision}) is newer than this version of "
                "HyperCare Desk knows; run the newer release, or restore a backup made with this one."
            )


@contextmanager
def _migration_transaction(engine: Engine, *, commit: bool = True) -> Iterator[Connection]:
    """One transaction for schema changes: committed when the block ends (or rolled back when
    `commit` is False, for a rehearsal), rolled back on any error.

    On SQLite, foreign-key enforcement is switched off for the connection while tables are
    rebuilt (Alembic's batch mode copies a table, drops it and renames the copy, which a
    referenced table such as app_user cannot survive with enforcement on), and every foreign
    key is checked before committing: SQLite's own recipe for altering tables.
    """
    with engine.connect() as connection:
        raw = connection.connection.driver_connection if engine.dialect.name == "sqlite" else None
        if raw is not None:
            connection.rollback()
            raw.execute("PRAGMA foreign_keys = OFF")
            # SQLite's write lock from the start (BEGIN IMMEDIATE): processes upgrading one file
            # at once (replicas on one machine) wait for each other, then the later one finds
            # the schema at head; a deferred start would fail with "database is locked".
            connection.execution_options(for_write=True)
        try:
            transaction = connection.begin()
            try:
                yield connection
                if not commit:
                    transaction.rollback()
                    return
                if raw is not None:
                    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if dangling:
                        raise DatabaseUnavailable(
                            f"The migration would leave {len(dangling)} rows pointing at rows "
                            f"that do not exist (first: {tuple(dangling[0])}); nothing was changed."
                        )
                transaction.commit()
            except BaseException:
                if transaction.is_active:
                    transaction.rollback()
                raise
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys = ON")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` in one transaction per migration step.

    A database whose schema is newer than this code is refused with one sentence
    (`DatabaseUnavailable`) before anything is changed.
    """
    config = alembic_config()
    if revision == "head" and _at_head(engine):
        # The usual start of a replica or a job: one read, no lock. A migration's transaction
        # takes the write lock and, on SQLite, checks every foreign key of the database, which
        # on millions of rows held every other writer off for many seconds.
        return
    with _migration_transaction(engine) as connection:
        if engine.dialect.name == "postgresql":
            # Replicas starting together upgrade one at a time: the others wait here, then find
            # the schema at head and change nothing.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY}
            )
        check_schema_not_newer(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _at_head(engine: Engine) -> bool:
    """The schema is exactly at this code's head (a newer or older one is not)."""
    with engine.connect() as connection:
        current = current_revisions(connection)
    return current == tuple(script_directory().get_heads())


def _shape(connection: Connection) -> dict[str, dict[str, object]]:
    """Tables → {column: server default} as the database has them now."""
    inspector = inspect(connection)
    return {
        table: {column["name"]: column.get("default") for column in inspector.get_columns(table)}
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


def _count(connection: Connection, table: str, where: str = "") -> int:
    quote = connection.dialect.identifier_preparer.quote
    return connection.execute(text(f"SELECT COUNT(*) FROM {quote(table)}{where}")).scalar_one()


def _plain_default(default: object) -> str | None:
    """'0', '(0)', 'false', "'x'::character varying" → the bare literal text."""
    if default is None:
        return None
    value = str(default).strip()
    while value.startswith("(") and value.endswith(")"):
        value = value[1:-1].strip()
    value = value.split("::", 1)[0]
    if len(value) >= 2 and value[0] == value[-1] == "'":
        value = value[1:-1]
    return value


def _column_holds_data(connection: Connection, table: str, column: str, default: object) -> bool:
    quote = connection.dialect.identifier_preparer.quote
    where = f" WHERE {quote(column)} IS NOT NULL"
    plain = _plain_default(default)
    if plain is not None:
        cast = f"CAST({quote(column)} AS TEXT)"
        literals = {plain, plain.lower()}
        if plain.lower() in {"true", "1"}:
            literals |= {"true", "1"}
        elif plain.lower() in {"false", "0"}:
            literals |= {"false", "0"}
        listed = ", ".join("'" + item.replace("'", "''") + "'" for item in sorted(literals))
        where += f" AND LOWER({cast}) NOT IN ({listed})"
    return _count(connection, table, where) > 0


DERIVED_TABLES = frozenset({"survey_tally"})
"""Tables that only sum other tables (kept by triggers, filled again by the upgrade that
creates them): dropping them destroys nothing."""


def data_lost_by_downgrade(engine: Engine, revision: str) -> list[str]:
    """What downgrading to `revision` would destroy: tables, columns and rows that hold data.

    The downgrade is rehearsed inside a transaction that is rolled back (both engines run DDL
    transactionally), the schema and row counts before and after are compared, and every table
    or column that disappears is checked for rows or values other than NULL and its default.
    The `DERIVED_TABLES` are not data of their own.
    """
    config = alembic_config()
    with engine.connect() as connection:
        before = _shape(connection)
        counts = {table: _count(connection, table) for table in before}
        connection.commit()
    with _migration_transaction(engine, commit=False) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        after = _shape(connection)
        counts_after = {table: _count(connection, table) for table in after}
    with engine.connect() as connection:
        losses: list[str] = []
        for table, columns in before.items():
            if table in DERIVED_TABLES:
                continue
            if table not in after:
                if counts[table]:
                    losses.append(f"table {table} ({counts[table]} rows)")
                continue
            if counts_after.get(table, 0) < counts[table]:
                losses.append(f"{counts[table] - counts_after[table]} rows of {table}")
            for column, default in columns.items():
                if column not in after[table] and _column_holds_data(
                    connection, table, column, default
                ):
                    losses.append(f"column {table}.{column}")
    return losses


def downgrade(engine: Engine, revision: str, *, force: bool = False) -> None:
    """Take the schema back to `revision`; refuses (one sentence) if that would destroy data.

    `force=True` downgrades anyway; take a backup first (`python -m data_access.backup create`).
    """
    if not force:
        losses = data_lost_by_downgrade(engine, revision)
        if losses:
            raise DowngradeWouldLoseData(
                f"Downgrading to {revision} would delete data ({'; '.join(losses)}); take a "
                "backup and pass force=True (--force) if that is what you want."
            )
    config = alembic_config()
    with _migration_transaction(engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from data_access.db import make_engine

    parser = argparse.ArgumentParser(
        prog="python -m data_access.migrate",
        description="Upgrade the configured database (DATABASE_URL or data/), or downgrade it.",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    up = actions.add_parser("upgrade", help="bring the schema to REVISION (default head)")
    up.add_argument("revision", nargs="?", default="head")
    down = actions.add_parser("downgrade", help="take the schema back to REVISION")
    down.add_argument("revision")
    down.add_argument("--force", action="store_true", help="even if data would be deleted")
    args = parser.parse_args(argv)
    try:
        engine = make_engine()
        if args.action == "upgrade":
            upgrade(engine, args.revision)
        else:
            downgrade(engine, args.revision, force=args.force)
    except (DatabaseUnavailable, DowngradeWouldLoseData) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"The schema is at {args.revision}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
