"""The admin's audit view reads any page of the log, filtered, not only the last 200 rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from data_access.audit import AuditFilters, audit_choices, audit_page
from data_access.db import session_scope
from data_access.models import AuditLog
from tests.data_access.query_plans import full_scans, recorded_statements

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def fill(engine, rows: int = 260) -> None:
    with session_scope(engine) as session:
        for n in range(rows):
            session.add(
                AuditLog(
                    at=START + timedelta(hours=n),
                    actor="alice" if n % 2 else "bob",
                    action="grant_extra" if n % 3 == 0 else "update_customer",
                    entity="customer",
                    entity_id=str(n),
                    detail=f'{{"note": "row {n}"}}',
                )
            )


def test_every_row_is_reachable_page_by_page_newest_first(engine):
    fill(engine)
    seen = []
    with Session(engine) as session:
        first = audit_page(session=session, filters=AuditFilters(), page=1, page_size=50)
        assert (first.total, first.pages) == (260, 6)
        for page in range(1, first.pages + 1):
            rows = audit_page(session=session, filters=AuditFilters(), page=page, page_size=50)
            seen += list(rows.rows["entity_id"].astype(int))
    assert seen == list(range(259, -1, -1))


def test_filters_narrow_by_who_what_when_and_detail(engine):
    fill(engine)
    filters = AuditFilters(
        actor="alice",
        action="grant_extra",
        since=START + timedelta(hours=100),
        until=START + timedelta(hours=200),
    )
    with Session(engine) as session:
        page = audit_page(session=session, filters=filters, page=1, page_size=500)
        found = audit_page(
            session=session, filters=AuditFilters(search="ROW 257"), page=1, page_size=50
        )
        choices = audit_choices(session=session)
    expected = [n for n in range(199, 99, -1) if n % 2 and n % 3 == 0]
    assert list(page.rows["entity_id"].astype(int)) == expected
    assert list(found.rows["entity_id"]) == ["257"]
    assert choices["actor"] == ["alice", "bob"]
    assert choices["action"] == ["grant_extra", "update_customer"]


def test_a_page_past_the_end_shows_the_last_page(engine):
    fill(engine, rows=7)
    with Session(engine) as session:
        page = audit_page(session=session, filters=AuditFilters(), page=99, page_size=5)
    assert (page.page, page.first_row, page.last_row) == (2, 6, 7)
    assert list(page.rows["entity_id"]) == ["1", "0"]


def test_the_filter_lists_seek_each_value_instead_of_reading_the_log(engine):
    """The choices are the distinct values, read one index seek per value (SQLite's plan)."""
    fill(engine, rows=40)
    with recorded_statements(engine) as statements, Session(engine) as session:
        choices = audit_choices(session=session)
    assert choices == {
        "actor": ["alice", "bob"],
        "action": ["grant_extra", "update_customer"],
        "entity": ["customer"],
    }
    assert full_scans(engine, statements, ["audit_log"]) == []


def test_the_filter_lists_of_an_empty_log_are_empty(engine):
    with Session(engine) as session:
        assert audit_choices(session=session) == {"actor": [], "action": [], "entity": []}
