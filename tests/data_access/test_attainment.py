"""SLA attainment on hand-computed cases, on SQLite and PostgreSQL.

Region: Europe/London, Monday-Friday 09:00-17:00, GB holidays (none in March 2026). All cases
open in March 2026 before the clocks change (29 March), so London time equals UTC and a business
day is 480 minutes. Tier numbers are read from the policy rows; the comments use the defaults
(first response 120/90/60 calendar minutes; resolution 10/6/3 business days; Sev 1 goal 15).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlmodel import Session, select

from data_access.attainment import (
    Attainment,
    attainment,
    attainment_by_tier,
    attainments,
    cases_at_opening,
)
from data_access.models import BusinessHours, Case, Customer, Region, TierChange, User
from data_access.policies import seed_default_policies, tier_policies
from data_access.queue import sla_summary
from data_access.scope import Scope
from tests.data_access.case_history import write_case

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


def on(day: int, hour: int, minute: int = 0) -> datetime:
    """A time on `day` March 2026 (2 March is a Monday)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


class Desk:
    """A tiny support desk: one region, a few customers, cases written through the commands."""

    def __init__(self, session: Session) -> None:
        self.session = session
        seed_default_policies(session=session)
        region = Region(code="UK", name="UK", timezone="Europe/London", holiday_country="GB")
        session.add(region)
        session.flush()
        self.region_id = region.id
        for weekday in range(5):
            session.add(
                BusinessHours(region_id=region.id, weekday=weekday, opens=time(9), closes=time(17))
            )
        self.agent = self.user("agent.one", roles="csm,manager")
        self.other_csm = self.user("csm.other")
        self.customers: dict[str, int] = {}

    def user(self, username: str, roles: str = "csm") -> int:
        user = User(
            username=username,
            name=username,
            email=f"{username}@x.io",
            password_hash="x",
            roles=roles,
        )
        self.session.add(user)
        self.session.flush()
        return user.id

    def customer(self, name: str, tier: str, csm_id: int | None = None, history=()) -> int:
        customer = Customer(
            name=name,
            tier=tier,
            region_id=self.region_id,
            csm_id=csm_id,
            hypercare_start=date(2025, 1, 1),
        )
        self.session.add(customer)
        self.session.flush()
        for effective_on, from_tier, to_tier in history:
            self.session.add(
                TierChange(
                    customer_id=customer.id,
                    effective_on=effective_on,
                    from_tier=from_tier,
                    to_tier=to_tier,
                )
            )
        self.customers[name] = customer.id
        return customer.id

    def case(self, customer: str, severity: int, opened: datetime, *steps) -> int:
        """Open a case, then take each (when, action) step in order."""
        return write_case(
            self.session,
            customer_id=self.customers[customer],
            severity=severity,
            opened=opened,
            steps=steps,
            actor_id=self.agent,
        )


@pytest.fixture
def desk(session) -> Desk:
    desk = Desk(session)
    desk.customer("Acme", "professional", history=[(date(2025, 1, 1), None, "professional")])
    desk.customer("Globex", "basic", csm_id=desk.other_csm)
    desk.customer(
        "Initech",
        "enterprise",
        csm_id=desk.other_csm,
        history=[(date(2025, 1, 1), None, "enterprise")],
    )
    # Upgraded from Basic to Enterprise on Monday 16 March.
    desk.customer(
        "Hooli",
        "enterprise",
        history=[(date(2025, 1, 1), None, "basic"), (date(2026, 3, 16), "basic", "enterprise")],
    )

    # Acme, professional (first response 90 min, guideline 6 days = 2880 business minutes).
    # A1 Sev3: reply after 30m (met); solved Tue 10:00 = 420 + 60 = 480 -> 1.0 day.
    desk.case("Acme", 3, on(2, 10), (on(2, 10, 30), "public_reply"), (on(3, 10), "solve"))
    # A2 Sev2: reply after 120m (breached); pending Mon 13:00-Wed 13:00 (240+480+240 = 960);
    # solved Wed 15:00: 420 + 480 + 360 = 1260 - 960 = 300 -> 0.625 day.
    desk.case(
        "Acme",
        2,
        on(2, 10),
        (on(2, 12), "public_reply"),
        (on(2, 13), "set_pending"),
        (on(4, 13), "resume"),
        (on(4, 15), "solve"),
    )
    # A3 Sev4 opened Fri 16:00: reply 17:00 (60m, met); solved Tue 17 Mar 12:00:
    # 60 + 5 x 480 + 480 + 180 = 3120 -> 6.5 days, past the guideline.
    desk.case("Acme", 4, on(6, 16), (on(6, 17), "public_reply"), (on(17, 12), "solve"))
    # A4 Sev1: reply after 10m (goal met); transferred to L2, so left out of resolution.
    desk.case(
        "Acme",
        1,
        on(3, 14),
        (on(3, 14, 10), "public_reply"),
        (on(3, 15), "transfer_l2"),
        (on(4, 10), "resume"),
        (on(4, 11), "solve"),
    )
    # A5 Sev1: reply after 20m (goal missed); solved after 120 business minutes -> 0.25 day.
    desk.case("Acme", 1, on(4, 14), (on(4, 14, 20), "public_reply"), (on(4, 16), "solve"))
    # A6 Sev3 opened an hour before NOW, no reply: still inside its target (pending).
    desk.case("Acme", 3, NOW - timedelta(hours=1))
    # A7 Sev2 never answered: first response breached.
    desk.case("Acme", 2, on(4, 9))
    # A9 Sev4: solved Mon 15:00, reopened Tue 09:00, solved Tue 11:00, closed Wed:
    # Mon 09:00 -> Tue 11:00 = 600, less the solved spell Mon 15-17 (120) -> 1.0 day.
    desk.case(
        "Acme",
        4,
        on(2, 9),
        (on(2, 9, 5), "public_reply"),
        (on(2, 15), "solve"),
        (on(3, 9), "reopen"),
        (on(3, 11), "solve"),
        (on(4, 9), "close"),
    )
    # Outside the period: opened just before it and exactly at its end.
    desk.case("Acme", 3, START - timedelta(minutes=1), (on(2, 9), "public_reply"))
    desk.case("Acme", 3, END)

    # Globex, basic (120 min, 10 days): reply after 90m (met); solved Fri 17:00:
    # 360 + 3 x 480 + 480 = 2280 -> 4.75 days.
    desk.case("Globex", 3, on(2, 11), (on(2, 12, 30), "public_reply"), (on(6, 17), "solve"))
    # Initech, enterprise (60 min, 3 days): reply after 90m (breached); solved Thu 12:00:
    # 60 + 480 + 480 + 180 = 1200 -> 2.5 days.
    desk.case("Initech", 2, on(2, 16), (on(2, 17, 30), "public_reply"), (on(5, 12), "solve"))
    # Hooli H1, still Basic when opened: reply after 105m (met under Basic); 480 -> 1.0 day.
    desk.case("Hooli", 3, on(10, 10), (on(10, 11, 45), "public_reply"), (on(11, 10), "solve"))
    # Hooli H2, opened on the upgrade day, Enterprise: 105m breaches 60; 120 -> 0.25 day.
    desk.case("Hooli", 3, on(16, 10), (on(16, 11, 45), "public_reply"), (on(16, 12), "solve"))
    session.commit()
    return desk


def check(result: Attainment, **expected) -> None:
    actual = asdict(result)
    for name, value in expected.items():
        if isinstance(value, float):
            assert actual[name] == pytest.approx(value), name
        else:
            assert actual[name] == value, name


def test_one_customer(session, desk):
    result = attainment(
        session=session, start=START, end=END, customer_id=desk.customers["Acme"], now=NOW
    )
    check(
        result,
        start=START,
        end=END,
        cases_opened=8,
        cases_by_severity={1: 2, 2: 2, 3: 2, 4: 2},
        first_response_measured=5,
        first_response_met=3,
        first_response_pending=1,
        first_response_met_pct=60.0,
        sev1_measured=2,
        sev1_goal_met=1,
        sev1_goal_met_pct=50.0,
        resolved=6,
        resolution_excluded_transferred=1,
        resolution_measured=5,
        resolution_median_days=1.0,
        # [0.25, 0.625, 1, 1, 6.5]: position 3.6 -> 1 + 0.6 x 5.5
        resolution_p90_days=4.3,
        resolution_within_guideline=4,
        resolution_within_guideline_pct=80.0,
        resolution_guideline_days=float(
            tier_policies(session=session)["professional"].resolution_business_days
        ),
    )


def test_every_customer(session, desk):
    result = attainment(session=session, start=START, end=END, now=NOW)
    check(
        result,
        cases_opened=12,
        cases_by_severity={1: 2, 2: 3, 3: 5, 4: 2},
        first_response_measured=9,
        first_response_met=5,
        first_response_pending=1,
        first_response_met_pct=500 / 9,
        sev1_goal_met_pct=50.0,
        resolved=10,
        resolution_excluded_transferred=1,
        resolution_measured=9,
        resolution_median_days=1.0,
        # [0.25, 0.25, 0.625, 1, 1, 1, 2.5, 4.75, 6.5]: position 7.2 -> 4.75 + 0.2 x 1.75
        resolution_p90_days=5.1,
        resolution_within_guideline=8,
        resolution_within_guideline_pct=800 / 9,
        resolution_guideline_days=None,
    )


def test_tier_is_the_one_in_force_when_the_case_opened(session, desk):
    enterprise = attainment(session=session, start=START, end=END, tier="enterprise", now=NOW)
    # Initech's case and Hooli's second case; Hooli's first was opened under Basic.
    check(
        enterprise,
        cases_opened=2,
        first_response_measured=2,
        first_response_met=0,
        first_response_met_pct=0.0,
        resolution_median_days=1.375,
        resolution_p90_days=0.25 + 0.9 * 2.25,
        resolution_within_guideline_pct=100.0,
        resolution_guideline_days=3.0,
    )
    basic = attainment(session=session, start=START, end=END, tier="basic", now=NOW)
    check(
        basic,
        cases_opened=2,
        first_response_met_pct=100.0,
        resolution_median_days=2.875,
        resolution_guideline_days=10.0,
    )
    hooli = attainment(
        session=session, start=START, end=END, customer_id=desk.customers["Hooli"], now=NOW
    )
    check(hooli, cases_opened=2, first_response_met=1, resolution_guideline_days=None)


def test_case_older_than_the_tier_history_takes_the_first_from_tier(session, desk):
    desk.customer("Umbrella", "professional", history=[(date(2026, 3, 4), "basic", "professional")])
    # Opened Monday under Basic: a 105-minute reply meets 120 but would breach 90.
    desk.case("Umbrella", 3, on(2, 10), (on(2, 11, 45), "public_reply"))
    session.commit()
    result = attainment(
        session=session, start=START, end=END, customer_id=desk.customers["Umbrella"], now=NOW
    )
    check(result, cases_opened=1, first_response_met=1, first_response_met_pct=100.0)
    assert (
        attainment(session=session, start=START, end=END, tier="basic", now=NOW).cases_opened == 3
    )


def test_scope_limits_to_the_viewers_customers(session, desk):
    scope = Scope(user_id=desk.other_csm, all_customers=False)
    result = attainment(session=session, start=START, end=END, scope=scope, now=NOW)
    # Globex (met, 4.75 days) and Initech (breached, 2.5 days).
    check(
        result,
        cases_opened=2,
        first_response_met_pct=50.0,
        resolution_median_days=3.625,
        resolution_within_guideline_pct=100.0,
    )
    narrowed = attainment(
        session=session,
        start=START,
        end=END,
        scope=scope,
        customer_id=desk.customers["Acme"],
        now=NOW,
    )
    assert narrowed.cases_opened == 0


def test_period_bounds_are_start_inclusive_end_exclusive(session, desk):
    acme = desk.customers["Acme"]
    first_week = attainment(
        session=session, start=on(2, 9), end=on(2, 10), customer_id=acme, now=NOW
    )
    assert first_week.cases_opened == 1  # A9 at 09:00; A1 and A2 at 10:00 are outside
    before = attainment(
        session=session, start=START - timedelta(days=1), end=START, customer_id=acme, now=NOW
    )
    assert before.cases_opened == 1


def test_empty_period_gives_no_percentages(session, desk):
    result = attainment(
        session=session,
        start=datetime(2025, 1, 1, tzinfo=UTC),
        end=START - timedelta(days=1),
        now=NOW,
    )
    check(
        result,
        cases_opened=0,
        cases_by_severity={1: 0, 2: 0, 3: 0, 4: 0},
        first_response_met_pct=None,
        sev1_goal_met_pct=None,
        resolution_median_days=None,
        resolution_p90_days=None,
        resolution_within_guideline_pct=None,
    )


def test_by_tier_has_a_row_per_tier(session, desk):
    frame = attainment_by_tier(session=session, start=START, end=END, now=NOW)
    policies = tier_policies(session=session)
    assert list(frame["tier"]) == sorted(
        policies, key=lambda t: -policies[t].first_response_minutes
    )
    rows = frame.set_index("tier")
    professional = rows.loc["professional"]
    assert professional["cases_opened"] == 8
    assert professional["first_response_met_pct"] == pytest.approx(60.0)
    assert professional["resolution_p90_days"] == pytest.approx(4.3)
    assert (
        professional["first_response_target_minutes"]
        == policies["professional"].first_response_minutes
    )
    assert [professional[f"sev{level}"] for level in (1, 2, 3, 4)] == [2, 2, 2, 2]
    assert rows.loc["basic", "cases_opened"] == 2
    assert (
        rows.loc["basic", "resolution_guideline_days"] == policies["basic"].resolution_business_days
    )
    assert rows.loc["enterprise", "first_response_met_pct"] == 0.0
    assert rows["sev1_goal_met_pct"].isna().sum() == 2  # only professional had Sev 1 cases
    assert (
        rows["cases_opened"].sum()
        == attainment(session=session, start=START, end=END, now=NOW).cases_opened
    )


def test_period_must_be_aware_and_ordered(session, desk):
    with pytest.raises(ValueError, match="aware"):
        attainment(session=session, start=datetime(2026, 3, 1), end=END)
    with pytest.raises(ValueError, match="start before it ends"):
        attainment(session=session, start=END, end=START)


def test_a_reply_at_exactly_the_target_is_met_on_both_engines(session, desk):
    target = tier_policies(session=session)["enterprise"].first_response_minutes
    # Microseconds in the opening instant are what made julianday arithmetic miss by a hair.
    opened = on(9, 10) + timedelta(microseconds=123_457)
    desk.case("Initech", 2, opened, (opened + timedelta(minutes=target), "public_reply"))
    late = on(9, 14) + timedelta(microseconds=999_999)
    desk.case(
        "Initech", 2, late, (late + timedelta(minutes=target, microseconds=1), "public_reply")
    )
    session.commit()
    result = attainment(
        session=session, start=on(9, 0), end=on(10, 0), customer_id=desk.customers["Initech"]
    )
    check(result, cases_opened=2, first_response_measured=2, first_response_met=1)


def test_an_upgrade_mid_week_judges_older_cases_by_the_old_tier_in_both_places(session, desk):
    wayne = desk.customer(
        "Wayne",
        "enterprise",
        history=[(date(2025, 1, 1), None, "basic"), (date(2026, 3, 18), "basic", "enterprise")],
    )
    policies = tier_policies(session=session)
    reply_after = (
        policies["enterprise"].first_response_minutes + policies["basic"].first_response_minutes
    ) // 2  # inside Basic's target, past Enterprise's
    desk.case("Wayne", 3, on(16, 10), (on(16, 10) + timedelta(minutes=reply_after), "public_reply"))
    session.commit()
    now = on(18, 12)
    result = attainment(session=session, start=on(16, 0), end=on(19, 0), customer_id=wayne, now=now)
    check(result, cases_opened=1, first_response_met=1, first_response_met_pct=100.0)
    scope = Scope(user_id=desk.agent, all_customers=True, customer_id=wayne)
    summary = sla_summary(session=session, scope=scope, now=now, timezone="UTC").set_index("tier")
    assert (summary.loc["basic", "fr_measured"], summary.loc["basic", "fr_met"]) == (1, 1)
    assert summary.loc["enterprise", "fr_measured"] == 0
    assert summary.loc["enterprise", "open"] == 1  # the open case is listed under today's tier


def test_severity_1_time_to_first_reply(session, desk):
    result = attainment(
        session=session, start=START, end=END, customer_id=desk.customers["Acme"], now=NOW
    )
    # A4 replied after 10 minutes, A5 after 20.
    check(result, sev1_replied=2, sev1_median_reply_minutes=15.0)


def test_several_periods_read_at_once_match_each_read_alone(session, desk):
    first, second = (on(1, 0), on(9, 0)), (on(9, 0), END)
    together = attainments(session=session, periods=[first, second], now=NOW)
    alone = [attainment(session=session, start=s, end=e, now=NOW) for s, e in (first, second)]
    assert together == alone
    assert [result.cases_opened for result in together] == [9, 3]


def test_two_tier_changes_on_one_day_the_later_applies(session, desk):
    desk.customer(
        "Stark",
        "enterprise",
        history=[
            (date(2025, 1, 1), None, "basic"),
            (date(2026, 3, 10), "basic", "professional"),
            (date(2026, 3, 10), "professional", "enterprise"),
        ],
    )
    desk.case("Stark", 3, on(10, 10), (on(10, 10, 45), "public_reply"))  # 45m: only Enterprise
    desk.case("Stark", 3, on(9, 10), (on(9, 11, 45), "public_reply"))  # the day before: Basic
    session.commit()
    by_tier = attainment_by_tier(
        session=session, start=START, end=END, customer_id=desk.customers["Stark"], now=NOW
    ).set_index("tier")
    assert by_tier["cases_opened"].to_dict() == {"basic": 1, "professional": 0, "enterprise": 1}
    assert by_tier.loc["basic", "first_response_met"] == 1


def test_one_customers_tier_history_read_alone_gives_the_tiers_of_everyones(session, desk):
    """The QBR reads only its customer's tier history: each case keeps the tier in force when it
    opened, among customers whose histories differ (Hooli's upgrade, Globex without any)."""
    desk.customer(
        "Stark",
        "enterprise",
        history=[(date(2025, 1, 1), None, "basic"), (date(2026, 3, 10), "basic", "enterprise")],
    )
    desk.case("Stark", 3, on(9, 10))
    desk.case("Stark", 3, on(10, 10))
    session.commit()

    def tiers(customer_id: int, *, alone: bool) -> dict[int, str]:
        statement = cases_at_opening(
            Case.id,
            where=Case.customer_id == customer_id,
            customer_id=customer_id if alone else None,
        )
        return dict(session.exec(statement).all())

    for name, customer_id in desk.customers.items():
        assert tiers(customer_id, alone=True) == tiers(customer_id, alone=False), name
    assert sorted(tiers(desk.customers["Stark"], alone=True).values()) == ["basic", "enterprise"]
    assert set(tiers(desk.customers["Hooli"], alone=True).values()) == {"basic", "enterprise"}
    everyone = session.exec(select(Case.id)).all()
    assert len(everyone) == sum(len(tiers(c, alone=True)) for c in desk.customers.values())
