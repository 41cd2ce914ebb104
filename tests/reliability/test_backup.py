"""Backups taken while writers keep writing restore to exactly one committed moment; restores
check the file first and never overwrite data without --force."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from data_access.backup import BackupRefused, create_backup, restore_backup, user_row_count
from data_access.db import make_engine, session_scope
from data_access.models import AuditLog, CaseEvent, utc_now
from tests.conftest import small_seed
from tests.reliability.helpers import fingerprints, fresh_database, integrity_problems, run_module

WRITER = "backup-writer"
MARK = "bkw:"


def _write_pairs(engine, stop: threading.Event, written: list[int], case_id: int) -> None:
    """Append (case event, audit row) pairs, one pair per transaction, until told to stop."""
    sequence = 0
    while not stop.is_set() and sequence < 2000:
        sequence += 1
        with session_scope(engine) as session:
            session.add(
                CaseEvent(
                    case_id=case_id, at=utc_now(), kind="internal_note", note=f"{MARK}{sequence}"
                )
            )
            session.add(
                AuditLog(actor=WRITER, action="note", entity="case", entity_id=str(sequence))
            )
        written.append(sequence)


def _writer_rows_upto(last: int) -> dict[str, str]:
    """Filters that keep the writer's rows up to `last` and everything else."""
    kept = ", ".join(f"'{MARK}{n}'" for n in range(1, last + 1)) or "''"
    ids = ", ".join(f"'{n}'" for n in range(1, last + 1)) or "''"
    return {
        "audit_log": f"actor <> '{WRITER}' OR entity_id IN ({ids})",
        "case_event": f"note NOT LIKE '{MARK}%' OR note IN ({kept})",
    }


def test_backup_during_writes_restores_one_consistent_moment(seeded, tmp_path):
    kind = seeded.dialect.name
    with seeded.connect() as connection:
        case_id = connection.execute(text("SELECT MIN(id) FROM support_case")).scalar_one()
    stop = threading.Event()
    written: list[int] = []
    writer = threading.Thread(target=_write_pairs, args=(seeded, stop, written, case_id))
    writer.start()
    try:
        while len(written) < 20:
            threading.Event().wait(0.01)
        backup_file = tmp_path / "during.backup"
        create_backup(seeded, backup_file)
        count_at_end_of_backup = len(written)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert len(written) > count_at_end_of_backup or len(written) >= 20

    with fresh_database(kind, tmp_path, "restored") as url:
        restored = make_engine(url)
        restore_backup(restored, backup_file)
        with restored.connect() as connection:
            audits = connection.execute(
                text(f"SELECT COUNT(*) FROM audit_log WHERE actor = '{WRITER}'")
            ).scalar_one()
            events = connection.execute(
                text(f"SELECT COUNT(*) FROM case_event WHERE note LIKE '{MARK}%'")
            ).scalar_one()
        # Both halves of every writer transaction, or neither: one moment, not a mixture.
        assert audits == events
        assert 20 <= audits <= count_at_end_of_backup
        assert integrity_problems(restored) == []
        assert fingerprints(restored) == fingerprints(seeded, _writer_rows_upto(audits))
        restored.dispose()


def test_restore_refuses_a_database_with_rows_unless_forced(seeded, tmp_path):
    kind = seeded.dialect.name
    backup_file = tmp_path / "seeded.backup"
    create_backup(seeded, backup_file)
    moment = fingerprints(seeded)
    with fresh_database(kind, tmp_path, "target") as url:
        target = make_engine(url)
        from data_access.migrate import upgrade

        upgrade(target)
        with session_scope(target) as session:
            session.add(AuditLog(actor="someone", action="x", entity="y"))
        before = fingerprints(target)
        with pytest.raises(BackupRefused, match="--force"):
            restore_backup(target, backup_file)
        assert fingerprints(target) == before
        restore_backup(target, backup_file, force=True)
        assert fingerprints(target) == moment
        assert user_row_count(target) > 0
        target.dispose()


@pytest.mark.parametrize(
    "content", [b"", b"not a backup at all", b"SQLite format 3\x00" + b"\x00" * 200, b"PGDMP junk"]
)
def test_restore_checks_the_file_before_touching_anything(seeded, tmp_path, content):
    before = fingerprints(seeded)
    bad = tmp_path / "bad.backup"
    bad.write_bytes(content)
    with pytest.raises(BackupRefused):
        restore_backup(seeded, bad, force=True)
    assert fingerprints(seeded) == before


def test_truncated_backup_is_refused_and_data_kept(seeded, tmp_path):
    good = tmp_path / "good.backup"
    create_backup(seeded, good)
    cut = tmp_path / "cut.backup"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    before = fingerprints(seeded)
    with pytest.raises(BackupRefused):
        restore_backup(seeded, cut, force=True)
    assert fingerprints(seeded) == before


def test_command_line_create_and_restore(engine, tmp_path):
    small_seed(engine)
    url = engine.url.render_as_string(hide_password=False)
    backup_file = tmp_path / "cli.backup"
    created = run_module("data_access.backup", "create", str(backup_file), url=url)
    assert created.returncode == 0, created.stderr
    assert backup_file.stat().st_mode & 0o077 == 0, "a backup holds password hashes: owner only"
    refused = run_module("data_access.backup", "restore", str(backup_file), url=url)
    assert refused.returncode == 1
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    with fresh_database(engine.dialect.name, tmp_path, "cli") as fresh:
        done = run_module("data_access.backup", "restore", str(backup_file), url=fresh)
        assert done.returncode == 0, done.stderr
        restored = make_engine(fresh)
        assert fingerprints(restored) == fingerprints(engine)
        restored.dispose()
