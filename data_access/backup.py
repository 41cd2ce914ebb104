"""Backups an operator can take while the app runs, and restores that check before they touch.

`python -m data_access.backup create FILE` copies the configured database (DATABASE_URL, else the
embedded SQLite file) to FILE: SQLite's online backup API (a consistent copy of one committed
moment, taken while other connections keep writing), or `pg_dump` on PostgreSQL (one snapshot
transaction). The copy is written beside FILE and renamed into place only when complete and
checked, so FILE is never half-written; it is readable by its owner only (it holds password
hashes).

`python -m data_access.backup restore FILE [--force]` checks FILE first (a SQLite file that passes
`PRAGMA integrity_check`, or a pg_dump archive `pg_restore --list` can read, in both cases with an
Alembic version) and refuses to overwrite a database holding rows unless `--force` is given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from data_access.db import (
    DatabaseUnavailable,
    check_connection,
    database_url,
    make_engine,
    private_files,
)

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
PG_CLIENT_NEEDED = (
    "Backups of a PostgreSQL database need the PostgreSQL client tools (pg_dump, pg_restore, "
    "psql) on the PATH; install postgresql-client."
)


class BackupRefused(RuntimeError):
    """The backup or restore cannot go ahead; the message is one sentence saying why."""


@dataclass(frozen=True)
class BackupInfo:
    kind: str  # "sqlite" or "postgresql"
    revision: str | None


# --------------------------------------------------------------------------- helpers


def _libpq(engine: Engine) -> tuple[str, dict[str, str]]:
    """A libpq address without the password (which goes in PGPASSWORD, not on the command line)."""
    url = engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
        url = url.set(password=None)
    return url.render_as_string(hide_password=False), env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupRefused(PG_CLIENT_NEEDED)
    return found


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, check=False)


def _first_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no details"


def user_row_count(engine: Engine) -> int:
    """Rows in every table except Alembic's own bookkeeping (0 means the database is empty)."""
    names = [name for name in inspect(engine).get_table_names() if name != "alembic_version"]
    preparer = engine.dialect.identifier_preparer
    total = 0
    with engine.connect() as connection:
        for name in names:
            quoted = preparer.quote(name)
            total += connection.execute(text(f"SELECT COUNT(*) FROM {quoted}")).scalar_one()
    return total


# --------------------------------------------------------------------------- checking a file


def inspect_backup(path: Path) -> BackupInfo:
    """Say what kind of backup `path` is, or refuse with one sentence if it is not a usable one."""
    if not path.is_file():
        raise BackupRefused(f"The backup file {path} does not exist.")
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(SQLITE_MAGIC):
        return BackupInfo("sqlite", _check_sqlite_file(path))
    if head.startswith(PGDUMP_MAGIC):
        return BackupInfo("postgresql", _check_pg_archive(path))
    raise BackupRefused(
        f"{path} is not a HyperCare Desk backup (neither a SQLite file nor a pg_dump archive)."
    )


def _check_sqlite_file(path: Path) -> str | None:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise BackupRefused(f"The backup file {path} is damaged ({verdict}).")
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "alembic_version" not in tables:
                raise BackupRefused(f"{path} is a SQLite file but not a HyperCare Desk database.")
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            return row[0] if row else None
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupRefused(f"The backup file {path} cannot be read as SQLite ({exc}).") from exc


def _check_pg_archive(path: Path) -> str | None:
    listing = _run([_pg_tool("pg_restore"), "--list", str(path)])
    if listing.returncode != 0:
        raise BackupRefused(
            f"The backup file {path} is not a readable pg_dump archive "
            f"({_first_line(listing.stderr)})."
        )
    if "TABLE DATA public alembic_version" not in listing.stdout:
        raise BackupRefused(f"{path} is a pg_dump archive but not of a HyperCare Desk database.")
    return None


# --------------------------------------------------------------------------- create


def create_backup(engine: Engine, destination: Path) -> BackupInfo:
    """Write a consistent copy of the database to `destination` (complete, or not at all)."""
    check_connection(engine)
    destination = destination.resolve()
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, partial_name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent
    )
    os.close(handle)
    partial = Path(partial_name)
    try:
        if engine.dialect.name == "sqlite":
            _sqlite_backup(engine, partial)
        else:
            _pg_dump(engine, partial)
        info = inspect_backup(partial)
        os.replace(partial, destination)
        _fsync_dir(destination.parent)
        return info
    finally:
        partial.unlink(missing_ok=True)


def _sqlite_backup(engine: Engine, partial: Path) -> None:
    source_path = engine.url.database
    if not source_path or source_path == ":memory:":
        raise BackupRefused("An in-memory SQLite database cannot be backed up.")
    source = sqlite3.connect(source_path, timeout=30)
    target = sqlite3.connect(partial)
    try:
        # One step copies every page under a read transaction: one committed moment, while
        # writers in WAL mode carry on.
        source.backup(target)
        target.execute("PRAGMA journal_mode = DELETE")
        target.commit()
    finally:
        target.close()
        source.close()
    with partial.open("rb+") as handle:
        os.fsync(handle.fileno())


def _pg_dump(engine: Engine, partial: Path) -> None:
    address, env = _libpq(engine)
    result = _run(
        [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(partial), address],
        env,
    )
    if result.returncode != 0:
        raise BackupRefused(f"pg_dump failed: {_first_line(result.stderr)}.")


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# --------------------------------------------------------------------------- restore


def restore_backup(engine: Engine, source: Path, *, force: bool = False) -> BackupInfo:
    """Replace the database's contents with the backup in `source`.

    The file is checked before anything is touched; a database that holds rows is only
    overwritten with `force=True`.
    """
    info = inspect_backup(source)
    if info.kind != engine.dialect.name:
        raise BackupRefused(
            f"{source} is a {info.kind} backup but the database is {engine.dialect.name}; "
            "restore it into the same kind of database."
        )
    check_connection(engine)
    rows = user_row_count(engine)
    if rows and not force:
        raise BackupRefused(
            f"The database already holds {rows} rows; restoring would replace them, so add "
            "--force if that is what you want."
        )
    if info.kind == "sqlite":
        _sqlite_restore(engine, source)
    else:
        _pg_restore(engine, source)
    return info


def _sqlite_restore(engine: Engine, source: Path) -> None:
    engine.dispose()
    target_path = engine.url.database
    backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    with private_files():  # a new database file (it holds password hashes) is owner-only
        target = sqlite3.connect(target_path, timeout=30)
    try:
        # The backup API replaces the target's pages in one write transaction: readers see the
        # old database or the restored one, never a mixture.
        backup.backup(target)
        target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        target.close()
        backup.close()
    engine.dispose()


def _pg_restore(engine: Engine, source: Path) -> None:
    address, env = _libpq(engine)
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "restore.sql"
        rendered = _run(
            [
                _pg_tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--schema=public",
                "--file",
                str(script),
                str(source),
            ]
        )
        if rendered.returncode != 0:
            raise BackupRefused(f"pg_restore failed: {_first_line(rendered.stderr)}.")
        engine.dispose()
        # Dropping the old schema and loading the backup happen in one transaction: on any
        # error PostgreSQL rolls everything back and the old data stays.
        result = _run(
            [
                _pg_tool("psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "-d",
                address,
                "-c",
                "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;",
                "-f",
                str(script),
            ],
            env,
        )
    if result.returncode != 0:
        raise BackupRefused(
            f"The restore failed and was rolled back: {_first_line(result.stderr)}."
        )


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data_access.backup",
        description="Back up or restore the configured database (DATABASE_URL or data/).",
    )
    parser.add_argument("--database-url", default=None, help="default: DATABASE_URL or data/")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="write a consistent copy to FILE")
    create.add_argument("file", type=Path)
    restore = actions.add_parser("restore", help="replace the database with the copy in FILE")
    restore.add_argument("file", type=Path)
    restore.add_argument(
        "--force", action="store_true", help="overwrite a database that already holds rows"
    )
    args = parser.parse_args(argv)
    try:
        engine = make_engine(args.database_url or database_url())
        if args.action == "create":
            create_backup(engine, args.file)
            print(f"Backed up to {args.file}.")
        else:
            restore_backup(engine, args.file, force=args.force)
            print(f"Restored from {args.file}.")
    except (BackupRefused, DatabaseUnavailable) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
