"""QBR figures against hand-computed fixtures, on SQLite and PostgreSQL.

Region: APAC in Australia/Sydney, Monday-Friday 09:00-17:00 local, AU holidays (none on the days
used; Good Friday is 3 April). Local time is UTC+11 until 5 April 2026 and UTC+10 after, so the
second quarter runs from 31 March 13:00 UTC to 30 June 14:00 UTC. A business day is 480 minutes.
Koala is on HyperCare Enterprise (first response 60 minutes, guideline 3 business days, from the
policy rows) since 15 January 2026; NOW is in the third quarter, so the second is complete.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from data_access.audit import CommandRefused
from data_access.models import (
    Alert,
    AlertContactLog,
    BusinessHours,
    Contact,
    Customer,
    EndUser,
    EntitlementEntry,
    FeedbackSession,
    ModelMetricDaily,
    OptimisationRequest,
    PlanningModel,
    Region,
    SurveyCampaign,
    SurveyResponse,
    TierChange,
    User,
    Workspace,
)
from data_access.policies import seed_default_policies, tier_labels, tier_policies
from data_access.qbr import (
    adoption_section,
    cases_section,
    entitlements_section,
    headline_section,
    monitoring_section,
    qbr_report,
    sla_section,
    usage_section,
)
from data_access.scope import Scope
from domain.quarters import Quarter
from domain.surveys import mean_ci95, sus_grade
from tests.data_access.case_history import write_case
from tests.data_access.query_plans import full_scans, recorded_statements

SYDNEY = ZoneInfo("Australia/Sydney")
NOW = datetime(2026, 8, 1, 2, tzinfo=UTC)  # Saturday 1 August, 12:00 in Sydney
Q1, Q2, Q3 = Quarter(2026, 1), Quarter(2026, 2), Quarter(2026, 3)
SECTION_KEYS = [
    "headline",
    "cases",
    "sla",
    "entitlements",
    "monitoring",
    "usage",
    "adoption",
    "coe",
    "events",
    "notes",
]


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Sydney wall-clock time in 2026, as a UTC instant."""
    return datetime(2026, month, day, hour, minute, tzinfo=SYDNEY).astimezone(UTC)


class Desk:
    def __init__(self, session: Session) -> None:
        self.session = session
        seed_default_policies(session=session)
        region = Region(
            code="APAC", name="Asia Pacific", timezone="Australia/Sydney", holiday_country="AU"
        )
        session.add(region)
        session.flush()
        for weekday in range(5):
            session.add(
                BusinessHours(region_id=region.id, weekday=weekday, opens=time(9), closes=time(17))
            )
        self.region_id = region.id
        self.agent = self.user("agent.one", "Agent One")
        self.csm = self.user("csm.apac", "Casey Apac")
        self.other_csm = self.user("csm.other", "Other Csm")
        self.resource = self.user("resource.apac", "Robin Resource")

    def user(self, username: str, name: str) -> int:
        user = User(
            username=username, name=name, email=f"{username}@x.io", password_hash="x", roles="csm"
        )
        self.session.add(user)
        self.session.flush()
        return user.id

    def customer(self, name: str, tier: str, start: date) -> Customer:
        customer = Customer(
            name=name,
            tier=tier,
            region_id=self.region_id,
            csm_id=self.csm,
            hypercare_resource_id=self.resource,
            hypercare_start=start,
        )
        self.session.add(customer)
        self.session.flush()
        self.session.add(
            TierChange(customer_id=customer.id, effective_on=start, from_tier=None, to_tier=tier)
        )
        return customer

    def case(self, customer: Customer, severity: int, opened: datetime, *steps, channel="portal"):
        return write_case(
            self.session,
            customer_id=customer.id,
            severity=severity,
            opened=opened,
            steps=steps,
            channel=channel,
            actor_id=self.agent,
        )


@pytest.fixture
def desk(session) -> Desk:
    desk = Desk(session)
    koala = desk.customer("Koala Mining", "enterprise", date(2026, 1, 15))
    quiet = desk.customer("Quiet Co", "enterprise", date(2026, 1, 15))
    m = minutes = timedelta(minutes=1)
    # B0, first quarter: 31 March 23:30 in Sydney (12:30 UTC). Reply after 90 minutes (breached).
    desk.case(koala, 2, local(3, 31, 23, 30), (local(3, 31, 23, 30) + 90 * m, "public_reply"))
    # B1, second quarter although 31 March in UTC: 1 April 00:30 in Sydney (13:30 UTC). Reply
    # after 30 minutes (met); solved Thu 2 April 10:00: the clock starts Wed 09:00, so
    # 480 + 60 = 540 business minutes = 1.125 days.
    desk.case(
        koala,
        3,
        local(4, 1, 0, 30),
        (local(4, 1, 1), "public_reply"),
        (local(4, 2, 10), "solve"),
        channel="email",
    )
    # R1 Tue 12 May 10:00: reply 10:30 (met); pending 11:00-13:00; solved 15:00:
    # 300 - 120 = 180 business minutes = 0.375 days.
    desk.case(
        koala,
        3,
        local(5, 12, 10),
        (local(5, 12, 10, 30), "public_reply"),
        (local(5, 12, 11), "set_pending"),
        (local(5, 12, 13), "resume"),
        (local(5, 12, 15), "solve"),
    )
    # R2 Wed 13 May 09:00: reply at exactly 60 minutes (met); solved 17:00: 1.0 day.
    desk.case(
        koala,
        2,
        local(5, 13, 9),
        (local(5, 13, 9) + 60 * minutes, "public_reply"),
        (local(5, 13, 17), "solve"),
        channel="phone",
    )
    # R3 Thu 14 May 09:00: reply after 61 minutes (breached); transferred to L2, solved:
    # left out of resolution times.
    desk.case(
        koala,
        4,
        local(5, 14, 9),
        (local(5, 14, 10, 1), "public_reply"),
        (local(5, 14, 10, 30), "transfer_l2"),
        (local(5, 14, 12), "resume"),
        (local(5, 14, 13), "solve"),
    )
    # S1 Mon 18 May 10:00, severity 1: first reply after 12 minutes; solved 11:00: 0.125 day.
    desk.case(
        koala,
        1,
        local(5, 18, 10),
        (local(5, 18, 10, 12), "public_reply"),
        (local(5, 18, 11), "solve"),
        channel="phone",
    )
    # B_last Tue 30 June 23:30 in Sydney (13:30 UTC), still second quarter: reply after 20
    # minutes (met), never solved.
    desk.case(koala, 4, local(6, 30, 23, 30), (local(6, 30, 23, 50), "public_reply"))
    # B_end Wed 1 July 00:30 in Sydney (30 June 14:30 UTC): third quarter.
    desk.case(koala, 3, local(7, 1, 0, 30))
    session.commit()
    desk.koala, desk.quiet = koala, quiet
    return desk


def manager(desk: Desk) -> Scope:
    return Scope(user_id=desk.agent, all_customers=True)


def figures(section) -> dict:
    return {figure.label: figure for figure in section.figures}


def test_report_has_every_section_in_order(session, desk):
    report = qbr_report(
        session=session, customer_id=desk.koala.id, quarter=Q2, scope=manager(desk), now=NOW
    )
    assert [section.key for section in report.sections] == SECTION_KEYS
    assert report.previous == Q1 and report.timezone == "Australia/Sydney"
    assert not report.to_date and report.title == "Koala Mining · Q2 2026"
    running = qbr_report(
        session=session, customer_id=desk.koala.id, quarter=Q3, scope=manager(desk), now=NOW
    )
    assert running.to_date and running.title.endswith("(to date)")


def test_cases_are_counted_by_the_local_quarter(session, desk):
    cases = cases_section(session=session, customer=desk.koala, quarter=Q2, now=NOW)
    shown = figures(cases)
    # B1, R1, R2, R3, S1, B_last; B0 belongs to Q1 and B_end to Q3 in Sydney.
    assert shown["Cases opened"].value == 6
    assert shown["Cases opened"].previous == 1
    assert shown["Cases opened"].change == "+5 vs previous quarter"
    assert shown["Solved"].value == 5
    assert shown["Still open"].value == 1
    by_severity = cases.tables[0].frame.set_index("Severity")["This quarter"].tolist()
    assert by_severity == ["1", "1", "2", "2"]
    by_channel = cases.tables[1].frame.set_index("Channel")["This quarter"].to_dict()
    assert by_channel == {"E-mail": "1", "Phone": "2", "Chat": "0", "Portal": "3"}
    weekly = cases.charts[0].data
    assert cases.charts[0].kind == "cases_weekly"
    assert weekly["cases"].sum() == 6
    # B1 opened on Wednesday 1 April in Sydney: the week of Monday 30 March.
    first_week = weekly[weekly["week_start"] == date(2026, 3, 30)]
    assert first_week["cases"].sum() == 1
    # B_last opened on Tuesday 30 June in Sydney: the week of Monday 29 June.
    assert weekly[weekly["week_start"] == date(2026, 6, 29)]["cases"].sum() == 1
    third = cases_section(session=session, customer=desk.koala, quarter=Q3, now=NOW)
    assert figures(third)["Cases opened"].value == 1


def test_sla_applies_the_exclusions_and_shows_severity_1_as_respond_now(session, desk):
    sla = sla_section(session=session, customer=desk.koala, quarter=Q2, now=NOW)
    shown = figures(sla)
    # First response, severity 2-4: B1, R1, R2 (exactly 60 minutes), B_last met; R3 breached.
    first = shown["First response within target"]
    assert first.text == "80% (4 of 5)"
    assert first.previous == pytest.approx(0.0)  # B0 breached
    assert first.change == "+80 pts vs previous quarter"
    severity_1 = shown["Severity 1"]
    assert severity_1.text == "Respond now · median 12m to first reply"
    assert severity_1.value == pytest.approx(12.0)
    assert "no response target" in severity_1.help
    # Resolution: [0.125, 0.375, 1.0, 1.125] business days; R3 (L2) left out.
    assert shown["Resolved within guideline"].text == "100% (4 of 4)"
    assert shown["Median resolution"].value == pytest.approx(0.6875)
    assert shown["Median resolution"].text == "0.7 business days"
    # p90: position 2.7 -> 1.0 + 0.7 x 0.125
    assert shown["90th percentile resolution"].value == pytest.approx(1.0875)
    assert "1 case transferred to L2/L3 is not counted in resolution times." in sla.notes
    assert "Resolution time leaves out time pending the customer." in sla.notes
    guideline = tier_policies(session=session)["enterprise"].resolution_business_days
    assert f"{guideline:.1f} business days" in shown["Resolved within guideline"].help


def test_headline(session, desk):
    headline = headline_section(session=session, customer=desk.koala, quarter=Q2, now=NOW)
    shown = figures(headline)
    assert shown["Tier"].text == tier_labels(session=session)["enterprise"]
    assert shown["HyperCare resource"].text == "Robin Resource"
    assert shown["Subscription year"].text == "15 Jan 2026 – 14 Jan 2027"
    assert shown["Renewal"].text == "15 Jan 2027"
    # At the end of Q2: B_last still open and B0 never solved; at the end of Q1 only B0.
    open_cases = shown["Open cases at quarter end"]
    assert (open_cases.value, open_cases.previous) == (2, 1)
    running = headline_section(session=session, customer=desk.koala, quarter=Q3, now=NOW)
    assert figures(running)["Open cases now"].value == 3


def test_empty_sections_say_so_in_one_sentence(session, desk):
    report = qbr_report(
        session=session, customer_id=desk.quiet.id, quarter=Q2, scope=manager(desk), now=NOW
    )
    assert report.section("cases").empty == "No cases were opened or solved in Q2 2026."
    assert report.section("sla").empty.startswith("No cases were opened in Q2 2026")
    assert report.section("monitoring").empty == "No models are in daily monitoring."
    assert report.section("usage").empty == "No weekly-report figures for Q2 2026."
    assert report.section("adoption").empty == "No survey in this subscription year."
    for section in report.sections:
        if section.is_empty:
            assert not section.figures and section.empty.endswith(".")
    for build in (monitoring_section, usage_section, adoption_section):
        assert build(session=session, customer=desk.koala, quarter=Q2, now=NOW).is_empty


def test_first_quarter_has_nothing_to_compare_with(session, desk):
    cases = cases_section(session=session, customer=desk.koala, quarter=Q1, now=NOW)
    opened = figures(cases)["Cases opened"]
    # Q4 2025 ends before the HyperCare start: no previous quarter, so no change either.
    assert (opened.value, opened.previous, opened.change) == (1, None, "")


@pytest.mark.parametrize(
    ("quarter", "message"),
    [
        (Quarter(2025, 4), "before the customer's HyperCare start on 2026-01-15"),
        (Quarter(2026, 4), "has not started yet; the latest quarter is 2026Q3"),
    ],
)
def test_refuses_quarters_outside_the_customers_hypercare(session, desk, quarter, message):
    with pytest.raises(CommandRefused, match=message):
        qbr_report(
            session=session,
            customer_id=desk.koala.id,
            quarter=quarter,
            scope=manager(desk),
            now=NOW,
        )


def test_today_is_read_in_the_region_time_zone(session, desk):
    # 30 September 14:30 UTC is already 1 October in Sydney: Q4 has started there.
    report = qbr_report(
        session=session,
        customer_id=desk.koala.id,
        quarter=Quarter(2026, 4),
        scope=manager(desk),
        now=datetime(2026, 9, 30, 14, 30, tzinfo=UTC),
    )
    assert report.to_date


def test_refuses_unknown_and_out_of_scope_customers(session, desk):
    with pytest.raises(CommandRefused, match="There is no customer with id 999999."):
        qbr_report(session=session, customer_id=999999, quarter=Q2, scope=manager(desk), now=NOW)
    outsider = Scope(user_id=desk.other_csm, all_customers=False)
    with pytest.raises(CommandRefused, match="not in your portfolio"):
        qbr_report(session=session, customer_id=desk.koala.id, quarter=Q2, scope=outsider, now=NOW)
    own = Scope(user_id=desk.csm, all_customers=False)
    report = qbr_report(session=session, customer_id=desk.koala.id, quarter=Q2, scope=own, now=NOW)
    assert report.customer_name == "Koala Mining"


# --- Entitlements, monitoring, usage and adoption -----------------------------------------------


@pytest.fixture
def estate(session, desk) -> dict[str, int]:
    """Koala's models, metrics, alerts, survey, feedback session and one optimisation."""
    koala = desk.koala.id
    workspace = Workspace(customer_id=koala, name="Planning")
    session.add(workspace)
    session.flush()
    models = {}
    for name in ("Forecast", "Supply"):
        model = PlanningModel(
            workspace_id=workspace.id,
            customer_id=koala,
            name=name,
            is_production=True,
            in_monitoring=True,
            in_weekly_report=True,
        )
        session.add(model)
        session.flush()
        models[name] = model.id
    contact = Contact(customer_id=koala, name="Kim Contact", email="kim@koala.example")
    session.add(contact)
    session.flush()

    # Usage, one day per model and week. Q2: week of 6 April: open time mean(10, 30) = 20,
    # users 5 + 3 = 8, changes 100 + 10 = 110; week of 13 April (Forecast only): 20, 10, 50.
    # Q1: week of 2 March: 16, 4, 40.
    for model, day, open_time, users, changes in (
        ("Forecast", date(2026, 4, 7), 10.0, 5, 100),
        ("Supply", date(2026, 4, 7), 30.0, 3, 10),
        ("Forecast", date(2026, 4, 14), 20.0, 10, 50),
        ("Forecast", date(2026, 3, 3), 16.0, 4, 40),
    ):
        session.add(
            ModelMetricDaily(
                model_id=models[model],
                day=day,
                open_time_s=open_time,
                users=users,
                changes=changes,
            )
        )

    # Alerts. Q2: open time 1.0 band half-widths above (major), contacted after 2 hours, still
    # open; users 3.5 below (critical), contacted after 4 hours, resolved; open time 0.1 above
    # (minor), new. Q1: changes (minor), contacted after 1 hour, resolved.
    for metric, direction, value, band, opened, contact_after, closed in (
        ("open_time_s", "above", 30.0, (10, 5, 20), local(5, 4, 8), 2, None),
        ("users", "below", 1.0, (10, 8, 14), local(5, 20, 8), 4, local(5, 21, 8)),
        ("open_time_s", "above", 21.0, (10, 5, 20), local(6, 29, 9), None, None),
        ("changes", "below", 5.0, (50, 40, 60), local(2, 10, 8), 1, local(2, 11, 8)),
    ):
        baseline, lower, upper = band
        alert = Alert(
            model_id=models["Forecast"],
            customer_id=koala,
            metric=metric,
            direction=direction,
            opened_on=opened.astimezone(SYDNEY).date(),
            opened_at=opened,
            value=value,
            baseline=baseline,
            lower=lower,
            upper=upper,
            state="new" if contact_after is None else ("resolved" if closed else "contacted"),
            closed_at=closed,
        )
        session.add(alert)
        session.flush()
        if contact_after is not None:
            for hours in (contact_after, contact_after + 5):  # the first contact counts
                session.add(
                    AlertContactLog(
                        alert_id=alert.id,
                        at=opened + timedelta(hours=hours),
                        channel="email",
                        contact_name="Kim Contact",
                        by_user_id=desk.csm,
                        outcome="Told them.",
                    )
                )

    # Survey of the subscription year starting 15 January 2026: SUS 100 and 50, NPS 10 and 6,
    # CSAT 5 and 3, four invited.
    campaign = SurveyCampaign(
        customer_id=koala, year_start=date(2026, 1, 15), title="Survey 2026", invited_count=4
    )
    session.add(campaign)
    session.flush()
    for number, (odd, even, nps, csat) in enumerate(((5, 1, 10, 5), (3, 3, 6, 3))):
        user = EndUser(customer_id=koala, name=f"User {number}", email=f"u{number}@koala.example")
        session.add(user)
        session.flush()
        answers = {f"sus_{item}": odd if item % 2 else even for item in range(1, 11)}
        session.add(
            SurveyResponse(
                campaign_id=campaign.id,
                end_user_id=user.id,
                staff_id=desk.csm,
                status="submitted",
                nps=nps,
                csat=csat,
                interview_date=date(2026, 5, 5),
                submitted_at=local(5, 5, 12),
                **answers,
            )
        )
    session.add(
        FeedbackSession(
            customer_id=koala,
            requested_by_contact_id=contact.id,
            requested_at=local(4, 20, 10),
            request_text="Please interview our planners.",
            state="done",
            scheduled_for=local(5, 6, 10),
            resource_id=desk.resource,
            findings="Navigation is slow.",
        )
    )

    # One model optimisation, requested and debited in April, delivered in June.
    request = OptimisationRequest(
        customer_id=koala,
        model_id=models["Forecast"],
        requested_by_contact_id=contact.id,
        requested_at=local(4, 21, 10),
        request_text="Speed up opening.",
        target_date=date(2026, 6, 1),
        state="delivered",
        delivered_at=local(6, 2, 10),
    )
    session.add(request)
    session.flush()
    session.add(
        EntitlementEntry(
            customer_id=koala,
            kind="model_optimisation",
            at=local(4, 21, 10),
            delta=-1,
            reason="Accepted.",
            request_id=request.id,
        )
    )
    session.commit()
    return models


def test_monitoring(session, desk, estate):
    monitoring = monitoring_section(session=session, customer=desk.koala, quarter=Q2, now=NOW)
    shown = figures(monitoring)
    opened = shown["Alerts opened"]
    assert (opened.value, opened.previous, opened.change) == (3, 1, "+2 vs previous quarter")
    contact = shown["Median time to customer contact"]
    assert contact.text == "3h"  # median of 2 and 4 hours; Q1's single alert took 1 hour
    assert (contact.value, contact.previous) == (pytest.approx(3.0), pytest.approx(1.0))
    open_alerts = shown["Open alerts at quarter end"]
    assert (open_alerts.value, open_alerts.previous) == (2, 0)
    table = monitoring.tables[0].frame.set_index("Metric")
    assert table.loc["Model open time"].to_dict() == {
        "Minor": 1,
        "Major": 1,
        "Critical": 0,
        "Total": 2,
    }
    assert table.loc["Users"].to_dict() == {"Minor": 0, "Major": 0, "Critical": 1, "Total": 1}
    assert monitoring.charts[0].kind == "alerts_by_metric"
    assert monitoring.charts[0].data["alerts"].sum() == 3


def test_monitoring_reads_only_the_customers_alerts_and_their_contacts(session, desk, estate):
    """The first contact per alert is looked up for the quarter's alerts of the customer, not
    grouped over the whole contact log (SQLite's plan of every statement)."""
    engine = session.get_bind()
    with recorded_statements(engine) as statements:
        monitoring_section(session=session, customer=desk.koala, quarter=Q2, now=NOW)
    assert statements
    assert full_scans(engine, statements, ["alert", "alert_contact_log"]) == []


def test_usage(session, desk, estate):
    usage = usage_section(session=session, customer=desk.koala, quarter=Q2, now=NOW)
    shown = figures(usage)
    open_time = shown["Model open time a week"]
    assert (open_time.value, open_time.previous) == (pytest.approx(20.0), pytest.approx(16.0))
    assert open_time.text == "20.0 s" and open_time.change == "+4 s vs previous quarter"
    users = shown["Users a week"]
    assert (users.value, users.previous, users.change) == (9.0, 4.0, "+5 vs previous quarter")
    assert shown["Changes a week"].value == pytest.approx(80.0)
    chart = usage.charts[0]
    assert chart.kind == "usage_small_multiples"
    assert len(chart.data) == 2 * 3  # two weeks, three measures
    assert "2 weeks of the weekly report in Q2 2026." in usage.notes


def test_adoption(session, desk, estate):
    adoption = adoption_section(session=session, customer=desk.koala, quarter=Q2, now=NOW)
    shown = figures(adoption)
    mean, low, high = mean_ci95([100.0, 50.0])
    assert shown["SUS"].text == f"75.0 · grade {sus_grade(mean)}"
    assert f"95% confidence interval {low:.1f}–{high:.1f}." in shown["SUS"].help
    assert shown["NPS"].text == "+0"
    assert shown["CSAT"].text == "50%"
    assert shown["Survey responses"].text == "2 of 4 invited"
    # Q1 is in the same subscription year, so the same survey: no change to show.
    assert shown["SUS"].change == ""
    held = shown["Feedback sessions held"]
    assert (held.value, held.previous, held.change) == (1, 0, "+1 vs previous quarter")
    sessions = adoption.tables[0].frame
    assert sessions["Findings"].tolist() == ["Navigation is slow."]


def test_entitlements(session, desk, estate):
    section = entitlements_section(session=session, customer=desk.koala, quarter=Q2, now=NOW)
    shown = figures(section)
    policy = tier_policies(session=session)["enterprise"]
    optimisations = shown["Model optimisations"]
    assert optimisations.text == f"1 of {policy.model_optimisations_per_year} used"
    assert optimisations.change == "+1 vs previous quarter"
    assert shown["Optimisations delivered"].value == 1
    assert shown["Optimisations open"].value == 0
    monitored = shown["Models in daily monitoring"]
    assert monitored.text == f"2 of {policy.monitored_models_cap} enrolled"
    assert section.tables[0].frame["State"].tolist() == ["Delivered"]
    assert section.notes == (
        "Counted in the subscription year 15 Jan 2026 – 14 Jan 2027, as of 30 Jun 2026.",
    )


def test_a_past_quarter_does_not_count_later_use(session, desk, estate):
    session.add(
        EntitlementEntry(
            customer_id=desk.koala.id, kind="qbr_input", at=local(7, 10, 10), delta=-1, reason="Q3"
        )
    )
    session.commit()
    allowed = tier_policies(session=session)["enterprise"].qbr_inputs_per_year
    second = entitlements_section(session=session, customer=desk.koala, quarter=Q2, now=NOW)
    assert figures(second)["QBR inputs"].text == f"0 of {allowed} used"
    third = entitlements_section(session=session, customer=desk.koala, quarter=Q3, now=NOW)
    assert figures(third)["QBR inputs"].text == f"1 of {allowed} used"
    assert figures(third)["QBR inputs"].change == "+1 vs previous quarter"
