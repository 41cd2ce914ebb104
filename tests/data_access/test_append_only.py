"""The audit log and the entitlement ledger are append-only in the database itself."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, select

from data_access.audit import record_audit
from data_access.db import session_scope
from data_access.models import AuditLog, EntitlementEntry, utc_now

REWRITES = {
    "audit_log": (
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ),
    "entitlement_ledger": (
        "UPDATE entitlement_ledger SET delta = delta + 10",
        "DELETE FROM entitlement_ledger",
    ),
}


@pytest.fixture
def history(seeded):
    with session_scope(seeded) as session:
        record_audit(session=session, actor="admin", action="test", entity="x", entity_id=1)
    with Session(seeded) as session:
        assert session.exec(select(EntitlementEntry)).first() is not None
    return seeded


def counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in REWRITES
        }


@pytest.mark.parametrize(
    "statement", [s for pair in REWRITES.values() for s in pair], ids=lambda s: s.split()[0:3]
)
def test_rewriting_history_is_refused(history, statement):
    before = counts(history)
    with history.connect() as connection, pytest.raises(DatabaseError, match="append-only"):
        connection.execute(text(statement))
        connection.commit()
    assert counts(history) == before


def test_appending_still_works(history):
    before = counts(history)
    with session_scope(history) as session:
        session.add(AuditLog(at=utc_now(), actor="admin", action="test", entity="x", entity_id="2"))
    assert counts(history)["audit_log"] == before["audit_log"] + 1
