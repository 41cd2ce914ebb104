"""Crash safety: SIGKILL a real process in the middle of its work; afterwards the database opens,
is sound (integrity, foreign keys, ledger), the run left all of its work or none, and a re-run
gives what an uninterrupted run gives. A server process killed while 20 sessions write keeps
every write whose success reached its user."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import text
from sqlalchemy.engine import make_url

from data_access.backup import create_backup, restore_backup
from data_access.db import make_engine
from data_access.migrate import upgrade
from tests.conftest import SEED_TODAY, small_seed
from tests.reliability.helpers import REPO, fingerprints, fresh_database, integrity_problems

DEADLINE_S = 180


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def base_backup(request, tmp_path_factory):
    """A seeded database, kept as a backup file that each test restores into fresh databases."""
    kind = request.param
    if kind == "postgresql":
        request.getfixturevalue("postgres_database")  # skips without TEST_DATABASE_URL
    folder = tmp_path_factory.mktemp(f"crash_{kind}")
    with fresh_database(kind, folder, "base") as url:
        engine = make_engine(url)
        upgrade(engine)
        small_seed(engine)
        create_backup(engine, folder / "base.backup")
        engine.dispose()
    return kind, folder / "base.backup"


def _restored(kind: str, backup: Path, tmp_path: Path, name: str):
    context = fresh_database(kind, tmp_path, name)
    url = context.__enter__()
    engine = make_engine(url)
    restore_backup(engine, backup)
    return context, url, engine


def _in_write_transaction(url: str) -> bool:
    """Does another connection hold a write transaction on this database right now?"""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        probe = sqlite3.connect(parsed.database, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return bool(
                connection.execute(
                    text(
                        # Inside the job's transaction: it has written, or it is past the
                        # connection checks (SELECT 1, version and catalogue probes).
                        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND (backend_xid IS NOT NULL OR "
                        "(xact_start IS NOT NULL AND query NOT ILIKE 'select 1%' "
                        "AND query NOT ILIKE '%pg_catalog%' AND query NOT ILIKE 'show %'))"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _count(url: str, table: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()
    finally:
        engine.dispose()


def _staged_cases(url: str) -> int:
    """Cases the seed has committed so far in its staging copy (see seed/staging.py)."""
    from seed.staging import STAGING_SCHEMA

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        staging = Path(parsed.database).with_name(f".{Path(parsed.database).name}.seeding")
        if not staging.exists():
            return 0
        probe = sqlite3.connect(f"file:{staging}?mode=ro", uri=True, timeout=5)
        try:
            return probe.execute("SELECT COUNT(*) FROM support_case").fetchone()[0]
        except sqlite3.OperationalError:
            return 0
        finally:
            probe.close()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            table = f"{STAGING_SCHEMA}.support_case"
            if connection.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
                return 0
            return connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def _start(args: list[str], url: str) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=url, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_mid_run(args: list[str], url: str, ready=None, hold_table: str | None = None) -> None:
    """Start the command and SIGKILL it once `ready()` says it is mid-work (default: it holds a
    write transaction); fails if it finished first, so a passing test really killed something.

    `hold_table` (PostgreSQL): the test holds that table's write lock while the command runs, so
    a job whose transaction lasts a few milliseconds waits inside it to be killed instead of
    racing the poll; the lock is released after the kill, and nothing of the job is committed.
    """
    ready = ready or (lambda: _in_write_transaction(url))
    blocker = None
    if hold_table is not None and not make_url(url).drivername.startswith("sqlite"):
        blocker = make_engine(url).connect()
        blocker.begin()
        blocker.execute(text(f'LOCK TABLE "{hold_table}" IN EXCLUSIVE MODE'))
    process = _start(args, url)
    started = time.monotonic()
    try:
        while process.poll() is None and time.monotonic() - started < DEADLINE_S:
            if ready():
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if blocker is not None:
            blocker.rollback()
            blocker.engine.dispose()
    assert process.returncode == -signal.SIGKILL, (
        f"{args} finished (exit {process.returncode}) before it could be killed: {output[-500:]}"
    )


def run_to_end(args: list[str], url: str) -> str:
    process = _start(args, url)
    output = process.communicate(timeout=DEADLINE_S)[0]
    assert process.returncode == 0, output[-2000:]
    return output


def comparable(engine, since: datetime) -> dict:
    """Fingerprints without what differs between two equal runs: surrogate ids (sequences are
    not transactional), clock stamps written by the run itself, the audit row's timings and
    bcrypt hashes (salted afresh each run)."""
    prints = fingerprints(engine, stamped_after=since, drop_columns={"id", "password_hash"})
    with engine.connect() as connection:
        prints["audit_log"] = sorted(
            connection.execute(text("SELECT actor, action, entity, entity_id FROM audit_log")).all()
        )
    return prints


def _assert_sound(engine) -> None:
    assert integrity_problems(engine) == []


def _check_job(
    base_backup, tmp_path, args: list[str], ready=None, hold_table: str | None = None
) -> None:
    kind, backup = base_backup
    since = datetime.now(UTC) - timedelta(seconds=1)
    straight_ctx, straight_url, straight = _restored(kind, backup, tmp_path, "straight")
    killed_ctx, killed_url, killed = _restored(kind, backup, tmp_path, "killed")
    try:
        before = comparable(killed, since)
        run_to_end(args, straight_url)
        after = comparable(straight, since)
        assert after != before, "the job must change something for this test to mean anything"
        kill_mid_run(args, killed_url, ready, hold_table)
        killed.dispose()
        _assert_sound(killed)
        assert comparable(killed, since) in (before, after), "the killed run left half its work"
        run_to_end(args, killed_url)
        _assert_sound(killed)
        assert comparable(killed, since) == after
    finally:
        for engine in (straight, killed):
            engine.dispose()
        killed_ctx.__exit__(None, None, None)
        straight_ctx.__exit__(None, None, None)


def _metric_csv(base_backup, tmp_path) -> Path:
    kind, backup = base_backup
    context, _url, engine = _restored(kind, backup, tmp_path, "models")
    try:
        with engine.connect() as connection:
            models = (
                connection.execute(
                    text("SELECT id FROM planning_model WHERE is_production ORDER BY id")
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
        context.__exit__(None, None, None)
    path = tmp_path / "metrics.csv"
    lines = ["model_id,day,open_time_s,import_s,export_s,processing_s,times_accessed,users,changes"]
    for offset in range(1, 181):
        day = SEED_TODAY - timedelta(days=offset)
        for model in models:
            value = (model * 31 + offset * 7) % 97
            lines.append(
                f"{model},{day},{10 + value},{2 + value / 10},{3},{4.5},{value},{1 + value % 9},{value % 5}"
            )
    path.write_text("\n".join(lines) + "\n")
    assert len(lines) > 2000
    return path


def test_metric_load_killed_mid_write(base_backup, tmp_path):
    csv_file = _metric_csv(base_backup, tmp_path)
    _check_job(base_backup, tmp_path, ["-m", "data_access.metric_loader", str(csv_file)])


def test_monitoring_job_killed_mid_write(base_backup, tmp_path):
    # Score a day no nightly run has scored yet, with the alerts of the last days cleared so the
    # job has alerts to open again.
    _check_job(
        base_backup,
        tmp_path,
        ["-m", "data_access.monitor", "--day", str(SEED_TODAY - timedelta(days=1))],
        # The job writes for a few milliseconds; its audit row is flushed last, at commit.
        hold_table="audit_log",
    )


def test_seed_killed_mid_write(base_backup, tmp_path):
    kind, _backup = base_backup
    args = [
        "-m",
        "seed",
        "--customers",
        "6",
        "--cases",
        "300",
        "--days",
        "40",
        "--today",
        str(SEED_TODAY),
        "--demo-password",
        "demo-Password-1",
    ]
    with (
        fresh_database(kind, tmp_path, "seed_straight") as straight_url,
        fresh_database(kind, tmp_path, "seed_killed") as killed_url,
    ):
        since = datetime.now(UTC) - timedelta(seconds=1)
        # --database-url, so the seed does not write the developer's data/demo-logins.txt.
        run_to_end([*args, "--database-url", straight_url], straight_url)
        straight = make_engine(straight_url)
        killed = make_engine(killed_url)
        try:
            upgrade(killed)
            empty = comparable(killed, since)
            # Mid-seed: cases are being written (into the staging copy), so earlier steps of
            # seed_database have committed there.
            kill_mid_run(
                [*args, "--database-url", killed_url],
                killed_url,
                ready=lambda: _staged_cases(killed_url) > 0,
            )
            killed.dispose()
            _assert_sound(killed)
            assert comparable(killed, since) == empty, "the killed seed left part of its data"
            run_to_end([*args, "--database-url", killed_url], killed_url)
            assert comparable(killed, since) == comparable(straight, since)
        finally:
            straight.dispose()
            killed.dispose()


def _pdfs(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.pdf"))}


def _complete(pdf: bytes) -> bool:
    return pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")


def _text(pdf: bytes) -> list[str]:
    """Each page's text without the 'Generated <when>' line."""
    pages = PdfReader(io.BytesIO(pdf)).pages
    return [
        "\n".join(
            line for line in page.extract_text().splitlines() if not line.startswith("Generated ")
        )
        for page in pages
    ]


def test_qbr_export_killed_mid_run_leaves_no_half_written_pdf(base_backup, tmp_path):
    kind, backup = base_backup
    context, url, engine = _restored(kind, backup, tmp_path, "qbr")
    try:
        straight_dir, killed_dir = tmp_path / "straight", tmp_path / "killed"
        args = ["-m", "data_access.qbr_export", "--all", "--quarter", "2026Q3", "--out-dir"]
        run_to_end([*args, str(straight_dir)], url)
        expected = _pdfs(straight_dir)
        assert len(expected) >= 3 and all(_complete(pdf) for pdf in expected.values())
        kill_mid_run(
            [*args, str(killed_dir)],
            url,
            ready=lambda: 1 <= len(list(killed_dir.glob("*.pdf"))) < len(expected),
        )
        partial = _pdfs(killed_dir)
        assert set(partial) < set(expected)
        assert all(_complete(pdf) for pdf in partial.values()), "a half-written PDF was left"
        run_to_end([*args, str(killed_dir)], url)
        again = _pdfs(killed_dir)
        assert set(again) == set(expected)
        assert all(_complete(pdf) for pdf in again.values())
        # The same documents: every page's text, but for the minute each was generated (the
        # sizes differed by a few compressed bytes across a kilobyte once, from that line alone).
        assert {name: _text(pdf) for name, pdf in again.items()} == {
            name: _text(pdf) for name, pdf in expected.items()
        }
    finally:
        engine.dispose()
        context.__exit__(None, None, None)


def test_writes_acknowledged_before_the_server_died_are_kept(base_backup, tmp_path):
    kind, backup = base_backup
    context, url, engine = _restored(kind, backup, tmp_path, "server")
    try:
        process = _start(["-m", "tests.reliability.write_worker", url, "--threads", "20"], url)
        acknowledged: list[str] = []
        started = time.monotonic()
        try:
            while len(acknowledged) < 100 and time.monotonic() - started < DEADLINE_S:
                line = process.stdout.readline()
                if not line:
                    break
                if line.startswith("ACK "):
                    acknowledged.append(line[4:].strip())
            process.send_signal(signal.SIGKILL)
            rest = process.communicate(timeout=60)[0]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == -signal.SIGKILL, rest[-2000:]
        acknowledged += [line[4:].strip() for line in rest.splitlines() if line.startswith("ACK ")]
        assert len(acknowledged) >= 100
        engine.dispose()
        _assert_sound(engine)
        with engine.connect() as connection:
            stored = set(
                connection.execute(
                    text("SELECT note FROM case_event WHERE note LIKE 'crash-note %'")
                ).scalars()
            )
            stored |= {
                f"survey {row.campaign_id}-{row.end_user_id}"
                for row in connection.execute(
                    text(
                        "SELECT campaign_id, end_user_id FROM survey_response "
                        "WHERE status = 'submitted'"
                    )
                )
            }
            notes_audited = connection.execute(
                text("SELECT COUNT(*) FROM audit_log WHERE action = 'case_internal_note'")
            ).scalar_one()
        kinds = {what.split(" ")[0] for what in acknowledged}
        assert kinds == {"crash-note", "survey"}, "both kinds of write were acknowledged"
        missing = set(acknowledged) - stored
        assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"
        # Nothing half-written either: every stored note has its audit row.
        notes = sum(1 for what in stored if what.startswith("crash-note"))
        assert notes_audited >= notes
    finally:
        engine.dispose()
        context.__exit__(None, None, None)
