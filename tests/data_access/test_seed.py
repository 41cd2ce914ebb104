from datetime import UTC, date, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, text
from sqlmodel import select

from data_access.bulk import bulk_insert
from data_access.models import (
    AuditLog,
    Case,
    CaseEvent,
    EntitlementEntry,
    OptimisationRequest,
    SurveyResponse,
)
from domain.lifecycle import STATUSES
from seed.demo import SeedOptions, seed_database
from seed.metrics import MONITORED_DAYS
from seed.programmes import campaign_year_start
from tests.conftest import SEED_TODAY, small_seed


def snapshot(engine):
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT id, customer_id, severity, status, opened_at FROM support_case ORDER BY id"
            )
        ).all()


def test_seed_is_deterministic_and_covers_every_state(engine):
    counts = small_seed(engine)
    first = snapshot(engine)
    assert counts["cases"] == len(first) == 400
    with engine.connect() as connection:
        statuses = {
            row[0] for row in connection.execute(text("SELECT DISTINCT status FROM support_case"))
        }
        severities = {
            row[0] for row in connection.execute(text("SELECT DISTINCT severity FROM support_case"))
        }
        tiers = {row[0] for row in connection.execute(text("SELECT DISTINCT tier FROM customer"))}
        metrics = connection.execute(text("SELECT count(*) FROM model_metric_daily")).scalar()
        responses = connection.execute(text("SELECT count(*) FROM survey_response")).scalar()
        snapshots = connection.execute(text("SELECT count(*) FROM coe_snapshot")).scalar()
    assert statuses == set(STATUSES)
    assert severities == {1, 2, 3, 4}
    assert tiers == {"basic", "professional", "enterprise"}
    assert metrics > 0 and responses > 0 and snapshots > 0
    from tests.conftest import empty_all_tables

    empty_all_tables(engine)
    small_seed(engine)
    assert snapshot(engine) == first


def test_seeded_times_read_back_aware_and_events_ordered(engine):
    small_seed(engine)
    from sqlmodel import Session

    with Session(engine) as session:
        case = session.exec(select(Case).where(Case.status == "closed")).first()
        assert case.opened_at.tzinfo is not None and case.opened_at.utcoffset().total_seconds() == 0
        events = session.exec(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at)
        ).all()
        assert events[0].to_status == "new" and events[-1].to_status == "closed"
        assert case.opened_at <= case.first_response_at <= case.solved_at <= case.closed_at


def test_a_seeded_case_was_last_written_by_its_latest_event(engine):
    """Not when the seed ran: a fresh database must not look to the live queue's poll as if
    every case had just changed."""
    small_seed(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Case.id, Case.updated_at, func.max(CaseEvent.at))
            .join(CaseEvent, CaseEvent.case_id == Case.id)
            .group_by(Case.id, Case.updated_at)
        ).all()
    assert len(rows) == 400
    assert [
        (case_id, pd.Timestamp(updated), pd.Timestamp(latest))
        for case_id, updated, latest in rows
        if pd.Timestamp(updated) != pd.Timestamp(latest)
    ] == []
    assert len({updated for _, updated, _ in rows}) > 300


def test_seed_refuses_a_database_with_data(engine):
    small_seed(engine)
    with pytest.raises(RuntimeError, match="already holds data"):
        seed_database(engine, SeedOptions(customers=3, cases=10, days=5))


def test_bulk_insert_round_trips_aware_times_and_text(engine):
    frame = pd.DataFrame(
        {
            "id": [1, 2],
            "at": pd.to_datetime(
                ["2026-03-08 06:59:59.123456", "2026-11-28 12:00:00.5"]
            ).tz_localize("America/New_York"),
            "actor": ["tab\there", 'quote"back\\slash'],
            "action": ["a", "b"],
            "entity": ["e", "e"],
            "entity_id": [None, "7"],
            "detail": ["line\nbreak", ""],
        }
    )
    with engine.begin() as connection:
        bulk_insert(connection, AuditLog.__table__, frame)
    from sqlmodel import Session

    with Session(engine) as session:
        rows = session.exec(select(AuditLog).order_by(AuditLog.id)).all()
    assert [r.actor for r in rows] == ["tab\there", 'quote"back\\slash']
    assert rows[0].detail == "line\nbreak" and rows[0].entity_id is None
    assert rows[0].at == frame["at"][0].tz_convert(UTC).to_pydatetime()


def _seed_as_of(engine, now):
    options = SeedOptions(seed=11, customers=9, cases=400, days=60, today=now.date(), now=now)
    seed_database(engine, options)


def test_a_morning_seed_opens_no_case_and_writes_no_event_after_its_now(engine):
    from datetime import datetime

    from sqlmodel import Session

    morning = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    _seed_as_of(engine, morning)
    columns = (
        Case.opened_at,
        CaseEvent.at,
        EntitlementEntry.at,
        OptimisationRequest.requested_at,
        OptimisationRequest.delivered_at,
        SurveyResponse.submitted_at,
    )
    with Session(engine) as session:
        latest = {str(column): session.exec(select(func.max(column))).one() for column in columns}
    assert latest[str(Case.opened_at)] is not None
    assert {name: at for name, at in latest.items() if at is not None and at > morning} == {}


def test_a_seed_for_today_opens_no_case_after_the_real_clock(engine):
    from datetime import datetime

    from sqlmodel import Session

    seed_database(
        engine, SeedOptions(seed=3, customers=6, cases=200, days=30, demo_password="x-Password-1")
    )
    with Session(engine) as session:
        latest = session.exec(select(func.max(Case.opened_at))).one()
    assert latest <= datetime.now(UTC)


def test_no_survey_response_is_submitted_before_its_interview_date(seeded):
    with seeded.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT interview_date, submitted_at FROM survey_response "
                "WHERE submitted_at IS NOT NULL"
            )
        ).all()
    assert rows
    early = [row for row in rows if pd.Timestamp(row[1]).date() < pd.Timestamp(row[0]).date()]
    assert early == []


def test_no_entitlement_is_debited_or_credited_before_the_hypercare_start(seeded):
    with seeded.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT c.name, c.hypercare_start, e.at, e.reason FROM entitlement_ledger e "
                "JOIN customer c ON c.id = e.customer_id"
            )
        ).all()
    assert rows
    early = [row for row in rows if pd.Timestamp(row[2]).date() < pd.Timestamp(row[1]).date()]
    assert early == []


def test_cases_are_assigned_to_their_customers_csm_or_resource(seeded):
    with seeded.connect() as connection:
        strangers = connection.execute(
            text(
                "SELECT count(*) FROM support_case s JOIN customer c ON c.id = s.customer_id "
                "WHERE s.assignee_id IS NOT NULL AND s.assignee_id <> c.csm_id "
                "AND (c.hypercare_resource_id IS NULL OR s.assignee_id <> c.hypercare_resource_id)"
            )
        ).scalar()
        assigned = connection.execute(
            text("SELECT count(*) FROM support_case WHERE assignee_id IS NOT NULL")
        ).scalar()
    assert assigned > 0 and strangers == 0


def test_dashboard_and_user_activity_add_up_to_each_models_figures(seeded):
    query = """
        SELECT m.model_id, m.day, m.times_accessed, m.changes,
               (SELECT sum(a.times_accessed) FROM dashboard_activity_daily a
                  JOIN dashboard d ON d.id = a.dashboard_id
                 WHERE d.model_id = m.model_id AND a.day = m.day),
               (SELECT sum(a.changes) FROM dashboard_activity_daily a
                  JOIN dashboard d ON d.id = a.dashboard_id
                 WHERE d.model_id = m.model_id AND a.day = m.day),
               (SELECT coalesce(sum(u.times_accessed), 0) FROM user_activity_daily u
                 WHERE u.model_id = m.model_id AND u.day = m.day),
               (SELECT coalesce(sum(u.changes), 0) FROM user_activity_daily u
                 WHERE u.model_id = m.model_id AND u.day = m.day)
        FROM model_metric_daily m
        WHERE EXISTS (SELECT 1 FROM dashboard_activity_daily a JOIN dashboard d
                       ON d.id = a.dashboard_id WHERE d.model_id = m.model_id AND a.day = m.day)
    """
    with seeded.connect() as connection:
        rows = connection.execute(text(query)).all()
    assert rows
    wrong = [row for row in rows if not (row[2] == row[4] == row[6] and row[3] == row[5] == row[7])]
    assert wrong == []


def test_the_seeds_monitor_runs_store_the_band_of_every_night_they_score(seeded):
    """The seed runs the job over the last fortnight: each night's bands are stored, one row per
    enrolled model, so the chart shows those nights as the job judged them."""
    with seeded.connect() as connection:
        days = connection.execute(
            text("SELECT DISTINCT day FROM model_metric_band ORDER BY day")
        ).scalars()
        per_day = connection.execute(
            text("SELECT count(*) FROM model_metric_band GROUP BY day")
        ).scalars()
        enrolled = connection.execute(
            text(
                "SELECT count(*) FROM planning_model JOIN customer ON customer.id = customer_id "
                "WHERE is_production AND in_monitoring AND customer.is_active"
            )
        ).scalar()
        days, per_day = [str(day)[:10] for day in days], set(per_day)
    first = SEED_TODAY - timedelta(days=MONITORED_DAYS)
    assert days == [(first + timedelta(days=n)).isoformat() for n in range(MONITORED_DAYS)]
    assert per_day == {enrolled} and enrolled > 0


def test_a_demo_survey_campaign_covers_the_subscription_year_containing_today():
    # A 29 February start renews on 28 February in common years (this failed the large seed).
    assert campaign_year_start(date(2024, 2, 29), date(2026, 12, 1)) == date(2026, 2, 28)
    # Counting 365-day years put this one back at its first year, 2023.
    assert campaign_year_start(date(2023, 12, 1), date(2026, 11, 30)) == date(2025, 12, 1)
    assert campaign_year_start(date(2026, 12, 1), date(2026, 12, 1)) == date(2026, 12, 1)
    assert campaign_year_start(date(2027, 1, 10), date(2026, 12, 1)) == date(2027, 1, 10)
