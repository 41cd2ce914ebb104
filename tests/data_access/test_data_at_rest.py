"""Data at rest: the SQLite files and the demo logins are private from the moment they exist."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

import seed.__main__ as seed_cli
from data_access.db import DatabaseUnavailable, make_engine, masked_url


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask():
    """A umask that would leave new files world-readable (022), as on most machines."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def no_chmod(monkeypatch):
    """Fail the test if anything tightens a mode after creating a file."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the mode must be right at creation, not chmod-ed afterwards")

    monkeypatch.setattr(os, "chmod", refuse)
    monkeypatch.setattr(Path, "chmod", refuse)


def test_sqlite_file_wal_and_shm_are_created_mode_600(tmp_path, permissive_umask, no_chmod):
    path = tmp_path / "data" / "hypercare.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
        connection.commit()
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert wal.exists() and shm.exists()
        assert {p.name: mode(p) for p in (path, wal, shm)} == {
            path.name: 0o600,
            wal.name: 0o600,
            shm.name: 0o600,
        }
    engine.dispose()


def test_demo_logins_file_is_created_mode_600(tmp_path, permissive_umask, no_chmod):
    target = tmp_path / "data" / "demo-logins.txt"
    target.parent.mkdir()
    target.write_text("an old, world-readable copy\n")
    assert mode(target) == 0o644
    seed_cli.write_logins(target, {"admin": ("admin", "Secret-Password-1")})
    assert mode(target) == 0o600
    assert "Secret-Password-1" in target.read_text()


def test_passwords_are_printed_once_and_later_runs_point_to_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setattr(seed_cli, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(seed_cli, "LOGINS_FILE", tmp_path / "data" / "demo-logins.txt")
    password = "Only-Once-Password-7"
    first = ["--customers", "3", "--cases", "10", "--days", "5", "--demo-password", password]
    assert seed_cli.main(first) == 0
    assert password in capsys.readouterr().out
    assert seed_cli.main(["--if-empty"]) == 0
    later = capsys.readouterr().out
    assert password not in later
    assert "demo-logins.txt" in later


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:s3cret-pw@db.internal:notaport/hypercare",
        "app:s3cret-pw@db.internal/hypercare",
        "postgresql://app:s3cret-pw@with@db.internal:nope/hypercare",
    ],
)
def test_a_malformed_database_url_is_shown_with_its_password_masked(url):
    with pytest.raises(DatabaseUnavailable) as refused:
        make_engine(url)
    assert "s3cret-pw" not in str(refused.value)
    assert "***" in str(refused.value)


def test_masked_url_keeps_everything_but_the_password():
    assert masked_url("postgresql://app:pw@host:5432/db") == "postgresql://app:***@host:5432/db"
    assert masked_url("postgresql://app@host/db") == "postgresql://app@host/db"
    assert masked_url("sqlite:///data/hypercare.db") == "sqlite:///data/hypercare.db"
