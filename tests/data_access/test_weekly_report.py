"""Weekly aggregation against hand-computed fixtures, on SQLite and PostgreSQL.

The customer has workspace Finance with enrolled production models A and B, plus C (production,
not enrolled); workspace Sales holds D (in_weekly_report but not production). Another customer
has an enrolled model E. Figures span the previous week (Mon 9 – Sun 15 Nov 2026), the reported
week (Mon 16 – Sun 22 Nov) and the Monday after, so the Sunday/Monday boundaries are exercised.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from sqlalchemy import Date, event, literal, update
from sqlmodel import Session, select

from data_access.models import (
    Customer,
    Dashboard,
    DashboardActivityDaily,
    EndUser,
    ModelMetricDaily,
    PlanningModel,
    Region,
    TierPolicyRow,
    UserActivityDaily,
    Workspace,
)
from data_access.policies import seed_default_policies
from data_access.weekly_report import (
    enrolled_models,
    model_totals,
    week_start_of,
    weekly_report,
    weekly_report_cap,
    weekly_trend,
)
from domain.weekly import reconciliation_note

WEEK = date(2026, 11, 16)
PREVIOUS = date(2026, 11, 9)
METRIC_COLUMNS = ("open_time_s", "import_s", "export_s", "processing_s")
COUNT_COLUMNS = ("times_accessed", "users", "changes")


def day(number: int) -> date:
    return date(2026, 11, number)


def metric(model_id, number, durations, counts) -> ModelMetricDaily:
    return ModelMetricDaily(
        model_id=model_id,
        day=day(number),
        **dict(zip(METRIC_COLUMNS, durations, strict=True)),
        **dict(zip(COUNT_COLUMNS, counts, strict=True)),
    )


@pytest.fixture
def estate(session: Session) -> dict[str, int]:
    seed_default_policies(session=session)
    region = Region(code="EMEA", name="EMEA", timezone="Europe/London", holiday_country="GB")
    session.add(region)
    session.flush()
    ours = Customer(
        name="Acme", tier="professional", region_id=region.id, hypercare_start=date(2025, 1, 1)
    )
    theirs = Customer(
        name="Other", tier="enterprise", region_id=region.id, hypercare_start=date(2025, 1, 1)
    )
    session.add_all([ours, theirs])
    session.flush()
    finance = Workspace(customer_id=ours.id, name="Finance")
    sales = Workspace(customer_id=ours.id, name="Sales")
    elsewhere = Workspace(customer_id=theirs.id, name="Finance")
    session.add_all([finance, sales, elsewhere])
    session.flush()

    def model(name, workspace, production, enrolled, customer=ours):
        row = PlanningModel(
            workspace_id=workspace.id,
            customer_id=customer.id,
            name=name,
            is_production=production,
            in_monitoring=enrolled,
            in_weekly_report=enrolled,
        )
        session.add(row)
        session.flush()
        return row.id

    a = model("A", finance, True, True)
    b = model("B", finance, True, True)
    c = model("C", finance, True, False)
    d = model("D", sales, False, True)
    e = model("E", elsewhere, True, True, theirs)
    session.add_all(
        [
            # Model A: previous week Sat 14, Sun 15; reported week Mon 16, Tue 17, Sun 22.
            metric(a, 14, (10, 20, 30, 40), (5, 3, 7)),
            metric(a, 15, (14, 22, 30, 44), (3, 2, 1)),
            metric(a, 16, (12, 30, 33, 50), (10, 6, 20)),
            metric(a, 17, (18, None, 27, 70), (8, 9, 0)),
            metric(a, 22, (15, 36, 30, 60), (2, 1, 4)),
            metric(a, 23, (99, 99, 99, 99), (100, 100, 100)),  # the next week
            # Model B: previous week only Fri 13, with zero activity.
            metric(b, 13, (25, 10, 10, 90), (0, 0, 0)),
            metric(b, 16, (40, 10, 10, 100), (4, 4, 0)),
            metric(b, 20, (20, 10, 20, 80), (6, 2, 0)),
            # Never reported: C is not enrolled, D is not production, E is another customer's.
            metric(c, 16, (500, 500, 500, 500), (1000, 1000, 1000)),
            metric(d, 16, (500, 500, 500, 500), (1000, 1000, 1000)),
            metric(e, 16, (500, 500, 500, 500), (1000, 1000, 1000)),
        ]
    )
    dashboards = {}
    for name, model_id in (("Exec", a), ("Input", a), ("Variance", b), ("Hidden", c)):
        dashboard = Dashboard(model_id=model_id, name=name)
        session.add(dashboard)
        session.flush()
        dashboards[name] = dashboard.id

    def activity(name, number, accessed, users, changes, open_time):
        return DashboardActivityDaily(
            dashboard_id=dashboards[name],
            day=day(number),
            times_accessed=accessed,
            users=users,
            changes=changes,
            open_time_s=open_time,
        )

    session.add_all(
        [
            activity("Exec", 15, 4, 2, 1, 2.0),
            activity("Exec", 16, 6, 3, 2, 3.0),
            activity("Exec", 22, 10, 5, 0, 5.0),
            activity("Exec", 23, 50, 50, 50, 50.0),
            activity("Variance", 17, 0, 0, 0, None),
            activity("Hidden", 16, 99, 99, 99, 99.0),
        ]
    )
    people = {}
    for name, customer in (("Ada", ours), ("Bo", ours), ("Cy", ours), ("Di", theirs)):
        person = EndUser(customer_id=customer.id, name=name, email=f"{name.lower()}@example.com")
        session.add(person)
        session.flush()
        people[name] = person.id

    def used(name, model_id, number, accessed, changes):
        return UserActivityDaily(
            end_user_id=people[name],
            model_id=model_id,
            day=day(number),
            times_accessed=accessed,
            changes=changes,
        )

    session.add_all(
        [
            used("Ada", a, 15, 2, 3),
            used("Ada", a, 16, 4, 5),
            used("Ada", b, 16, 1, 0),
            used("Ada", b, 22, 3, 2),
            used("Ada", c, 16, 50, 50),  # C is not enrolled
            used("Bo", a, 14, 5, 1),  # only active the week before
            used("Cy", c, 17, 9, 9),  # only on a model outside the report
            used("Di", e, 16, 7, 7),  # another customer's user
        ]
    )
    session.commit()
    return {
        "customer": ours.id,
        "other": theirs.id,
        "a": a,
        "b": b,
        "finance": finance.id,
        **dashboards,
        **people,
    }


def by_entity(frame: pd.DataFrame) -> dict[str, dict]:
    return {row["entity"]: row for row in frame.to_dict("records")}


def close(actual, expected) -> bool:
    if expected is None:
        return pd.isna(actual)
    return actual == pytest.approx(expected)


def check(row: dict, expected: dict) -> None:
    wrong = {k: (row[k], v) for k, v in expected.items() if not close(row[k], v)}
    assert not wrong, wrong


@pytest.mark.parametrize(
    "day_", [date(2026, 12, 20) + timedelta(days=n) for n in range(18)], ids=str
)
def test_the_database_finds_the_monday_of_every_day(session, day_):
    found = session.exec(select(week_start_of(literal(day_, Date)))).one()
    assert found == day_ - timedelta(days=day_.weekday())


def test_enrolled_production_models_only(session, estate):
    models = enrolled_models(session=session, customer_id=estate["customer"])
    assert list(models["name"]) == ["A", "B"]
    assert models["reported"].all()
    assert weekly_report_cap(session=session, customer_id=estate["customer"]) == 10


def test_model_week_with_previous_week_and_change(session, estate):
    frame = weekly_report(
        session=session, customer_id=estate["customer"], week_start=WEEK, granularity="model"
    )
    rows = by_entity(frame)
    assert set(rows) == {"A", "B"}
    check(
        rows["A"],
        {
            "context": "Finance",
            "days": 3,
            "days_prev": 2,
            "open_time_s": 15,  # (12 + 18 + 15) / 3
            "open_time_s_prev": 12,
            "open_time_s_change_pct": 25,
            "import_s": 33,  # the missing Tuesday is skipped: (30 + 36) / 2
            "import_s_prev": 21,
            "import_s_change_pct": 1200 / 21,
            "export_s": 30,
            "export_s_change_pct": 0,
            "processing_s": 60,
            "processing_s_prev": 42,
            "processing_s_change_pct": 1800 / 42,
            "times_accessed": 20,  # Monday 23 is the next week
            "times_accessed_prev": 8,
            "times_accessed_change_pct": 150,
            "users": 9,  # the highest day
            "users_prev": 3,
            "users_change_pct": 200,
            "changes": 24,
            "changes_prev": 8,
            "changes_change_pct": 200,
        },
    )
    check(
        rows["B"],
        {
            "days": 2,
            "days_prev": 1,
            "open_time_s": 30,
            "open_time_s_prev": 25,
            "open_time_s_change_pct": 20,
            "times_accessed": 10,
            "times_accessed_prev": 0,
            "times_accessed_change_pct": None,  # from zero
            "changes": 0,
            "changes_change_pct": None,
            "users": 4,
            "users_change_pct": None,
        },
    )


def test_the_previous_week_is_reported_against_the_one_before(session, estate):
    frame = weekly_report(
        session=session, customer_id=estate["customer"], week_start=PREVIOUS, granularity="model"
    )
    rows = by_entity(frame)
    check(
        rows["A"],
        {"times_accessed": 8, "times_accessed_prev": None, "times_accessed_change_pct": None},
    )
    # A mid-week date means its week.
    midweek = weekly_report(
        session=session,
        customer_id=estate["customer"],
        week_start=date(2026, 11, 19),
        granularity="model",
    )
    pd.testing.assert_frame_equal(
        midweek,
        weekly_report(
            session=session, customer_id=estate["customer"], week_start=WEEK, granularity="model"
        ),
    )


def test_workspace_aggregates_only_its_enrolled_production_models(session, estate):
    frame = weekly_report(
        session=session,
        customer_id=estate["customer"],
        week_start=WEEK,
        granularity="workspace",
    )
    assert list(frame["entity"]) == ["Finance"]  # Sales holds only a non-production model
    check(
        by_entity(frame)["Finance"],
        {
            "models": 2,
            "days": 4,  # 16, 17, 20 and 22 Nov
            "days_prev": 3,
            "open_time_s": 21,  # (12 + 18 + 15 + 40 + 20) / 5
            "open_time_s_prev": 49 / 3,
            "open_time_s_change_pct": 14 / 49 * 100,
            "import_s": 21.5,  # (30 + 36 + 10 + 10) / 4
            "export_s": 24,
            "processing_s": 72,
            "processing_s_prev": 58,
            "times_accessed": 30,
            "times_accessed_prev": 8,
            "times_accessed_change_pct": 275,
            "users": 9,
            "users_prev": 3,
            "changes": 24,
            "changes_prev": 8,
            "changes_change_pct": 200,
        },
    )


def test_containers_are_the_reported_models_dashboards(session, estate):
    frame = weekly_report(
        session=session,
        customer_id=estate["customer"],
        week_start=WEEK,
        granularity="container",
    )
    rows = by_entity(frame)
    assert set(rows) == {"Exec", "Input", "Variance"}  # not C's "Hidden"
    check(
        rows["Exec"],
        {
            "context": "A",
            "days": 2,
            "times_accessed": 16,
            "times_accessed_prev": 4,
            "times_accessed_change_pct": 300,
            "users": 5,
            "users_prev": 2,
            "users_change_pct": 150,
            "changes": 2,
            "changes_prev": 1,
            "changes_change_pct": 100,
            "open_time_s": 4,
            "open_time_s_prev": 2,
            "open_time_s_change_pct": 100,
        },
    )
    check(rows["Input"], {"days": None, "times_accessed": None, "times_accessed_change_pct": None})
    check(rows["Variance"], {"times_accessed": 0, "open_time_s": None, "users_prev": None})


def test_users_across_the_customers_reported_models(session, estate):
    frame = weekly_report(
        session=session, customer_id=estate["customer"], week_start=WEEK, granularity="user"
    )
    rows = by_entity(frame)
    assert set(rows) == {"Ada", "Bo"}  # Cy only used C; Di is another customer's
    check(
        rows["Ada"],
        {
            "context": "ada@example.com",
            "days": 2,
            "days_prev": 1,
            "models": 2,
            "times_accessed": 8,  # 4 + 1 + 3, not C's 50
            "times_accessed_prev": 2,
            "times_accessed_change_pct": 300,
            "changes": 7,
            "changes_prev": 3,
            "changes_change_pct": 400 / 3,
        },
    )
    check(
        rows["Bo"],
        {
            "days": 0,
            "times_accessed": 0,
            "times_accessed_prev": 5,
            "times_accessed_change_pct": -100,
            "changes_change_pct": -100,
        },
    )


def test_trend_is_one_aggregated_row_per_entity_and_week(session, estate):
    trend = weekly_trend(
        session=session,
        customer_id=estate["customer"],
        granularity="model",
        end_week=WEEK,
        weeks=2,
    )
    assert len(trend) == 2 * 2  # entities × weeks, not the 8 daily rows
    assert list(zip(trend["entity"], trend["week_start"], strict=True)) == [
        ("A", PREVIOUS),
        ("A", WEEK),
        ("B", PREVIOUS),
        ("B", WEEK),
    ]
    report = weekly_report(
        session=session, customer_id=estate["customer"], week_start=WEEK, granularity="model"
    )
    this_week = trend[trend["week_start"] == WEEK].set_index("entity")
    for column in ("open_time_s", "import_s", "times_accessed", "users", "changes"):
        assert list(this_week[column]) == pytest.approx(list(report[column]))
    wide = weekly_trend(
        session=session,
        customer_id=estate["customer"],
        granularity="workspace",
        end_week=WEEK + timedelta(days=7),
        weeks=12,
    )
    assert list(wide["week_start"]) == [PREVIOUS, WEEK, WEEK + timedelta(days=7)]
    assert list(wide["times_accessed"]) == [8, 30, 100]


@pytest.mark.parametrize("granularity", ["workspace", "model", "container", "user"])
def test_only_grouped_queries_touch_the_daily_tables(session, estate, granularity):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        weekly_report(
            session=session,
            customer_id=estate["customer"],
            week_start=WEEK,
            granularity=granularity,
        )
        weekly_trend(
            session=session, customer_id=estate["customer"], granularity=granularity, end_week=WEEK
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    daily = [s for s in statements if any(t in s for t in ("model_metric_daily", "activity_daily"))]
    assert len(daily) == 2
    assert all("GROUP BY" in s for s in daily)


def test_the_tier_cap_limits_the_models_reported(session, estate):
    session.exec(
        update(TierPolicyRow)
        .where(TierPolicyRow.tier == "professional")
        .values(weekly_report_models_cap=1)
    )
    session.commit()
    models = enrolled_models(session=session, customer_id=estate["customer"])
    assert list(models["reported"]) == [True, False]
    frame = weekly_report(
        session=session, customer_id=estate["customer"], week_start=WEEK, granularity="workspace"
    )
    check(by_entity(frame)["Finance"], {"models": 1, "times_accessed": 20, "open_time_s": 15})


def test_basic_tier_has_no_weekly_report(session, estate):
    session.exec(update(Customer).where(Customer.id == estate["customer"]).values(tier="basic"))
    session.commit()
    assert weekly_report_cap(session=session, customer_id=estate["customer"]) == 0
    for granularity in ("workspace", "model", "container", "user"):
        assert weekly_report(
            session=session,
            customer_id=estate["customer"],
            week_start=WEEK,
            granularity=granularity,
        ).empty
        assert weekly_trend(
            session=session, customer_id=estate["customer"], granularity=granularity, end_week=WEEK
        ).empty


def test_unknown_granularity_is_refused(session, estate):
    with pytest.raises(ValueError, match="Granularity must be one of"):
        weekly_report(
            session=session, customer_id=estate["customer"], week_start=WEEK, granularity="team"
        )


def test_a_week_in_progress_is_compared_with_the_same_days_of_the_week_before(session, estate):
    sunday = date(2026, 11, 22)  # Monday to Saturday are over; Sunday's figures are not in yet
    frame = weekly_report(
        session=session,
        customer_id=estate["customer"],
        week_start=WEEK,
        granularity="model",
        today=sunday,
    )
    rows = by_entity(frame)
    check(
        rows["A"],
        {
            "days": 2,  # Mon 16, Tue 17; Sun 22 is not over
            "times_accessed": 18,
            "days_prev": 1,  # Sat 14 only: Sun 15 is not one of the days compared
            "times_accessed_prev": 5,
            "times_accessed_change_pct": 260,
        },
    )
    check(rows["B"], {"times_accessed": 10, "times_accessed_prev": 0})
    complete = weekly_report(
        session=session,
        customer_id=estate["customer"],
        week_start=WEEK,
        granularity="model",
        today=date(2026, 11, 23),
    )
    check(by_entity(complete)["A"], {"times_accessed": 20, "times_accessed_prev": 8})


@pytest.mark.parametrize("granularity", ["workspace", "model", "container", "user"])
def test_each_granularity_reconciles_with_the_models_or_says_why(session, estate, granularity):
    totals = model_totals(session=session, customer_id=estate["customer"], week_start=WEEK)
    assert totals == {"times_accessed": 30, "changes": 24}
    frame = weekly_report(
        session=session,
        customer_id=estate["customer"],
        week_start=WEEK,
        granularity=granularity,
    )
    rows_total = frame["times_accessed"].sum(min_count=1)
    note = reconciliation_note(granularity, "Times accessed", rows_total, totals["times_accessed"])
    expected_rows = {"workspace": 30, "model": 30, "container": 16, "user": 8}[granularity]
    assert rows_total == expected_rows
    if expected_rows == 30:
        assert note is None
    else:
        assert f"account for {expected_rows} of the enrolled models' 30" in note


def test_the_container_view_names_each_dashboards_workspace(session, estate):
    frame = weekly_report(
        session=session, customer_id=estate["customer"], week_start=WEEK, granularity="container"
    )
    assert dict(zip(frame["entity"], frame["workspace"], strict=True)) == {
        "Exec": "Finance",
        "Input": "Finance",
        "Variance": "Finance",
    }
