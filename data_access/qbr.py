"""The QBR's figures: one function computes every number the QBR page and the QBR PDF show.

`qbr_report` checks the customer and the quarter, then builds each section with its own function
(`headline_section`, `cases_section`, … all with the same keyword signature, so a test can aim at
one). Quarters are calendar quarters counted in the customer's region time zone
(`Quarter.bounds`); every figure carries the quarter's value and the previous quarter's. A running
quarter is "to date" and is compared with the whole previous quarter. A section with nothing to
show says so in one sentence instead of zeros.

Counts are aggregated in SQL over the customer's cases in the quarter; SLA attainment is the one
rule of `data_access.attainment`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, or_
from sqlalchemy import case as sql_case
from sqlmodel import Session, select

from data_access.attainment import Attainment, attainments
from data_access.audit import CommandRefused
from data_access.calendars import region_timezone
from data_access.checks import utc_moment
from data_access.entitlement_ledger import entitlement_balances
from data_access.feedback_sessions import feedback_sessions
from data_access.models import (
    Alert,
    AlertContactLog,
    Case,
    Customer,
    EntitlementEntry,
    PlanningModel,
    SurveyCampaign,
    TierChange,
    User,
)
from data_access.optimisation_requests import optimisation_requests
from data_access.policies import tier_labels, tier_policies
from data_access.scope import Scope
from data_access.survey_results import survey_results
from data_access.weekly_report import weekly_trend
from domain.clocks import duration_text
from domain.contacts import CHANNEL_LABELS
from domain.dates import day_text
from domain.entitlements import (
    CAP_KINDS,
    OPEN_REQUEST_STATES,
    PER_YEAR_KINDS,
    LedgerEntry,
    RequestState,
    balance,
    sentence_case,
    subscription_year,
)
from domain.lifecycle import SEVERITY_LABELS
from domain.monitoring import (
    METRIC_LABELS,
    OPEN_ALERT_STATES,
    SEVERITY_LEVELS,
    deviation,
    severity,
)
from domain.monitoring import (
    SEVERITY_LABELS as ALERT_SEVERITY_LABELS,
)
from domain.qbr import (
    Chart,
    Figure,
    QbrReport,
    Section,
    Table,
    change_text,
    days_text,
    plural,
    share_text,
)
from domain.quarters import BadQuarter, Quarter, check_reviewable
from domain.weekly import week_start

SECTION_TITLES: dict[str, str] = {
    "headline": "Headline",
    "cases": "Cases",
    "sla": "SLA",
    "entitlements": "Entitlements used this subscription year",
    "monitoring": "Monitoring",
    "usage": "Usage",
    "adoption": "Adoption",
}
USAGE_MEASURES = {
    "open_time_s": "Model open time (s)",
    "users": "Users",
    "changes": "Changes",
}
USAGE_HELP = {
    "open_time_s": "The mean over the reported models of each week's mean open time.",
    "users": "Each reported model's highest daily user count of the week, summed over models.",
    "changes": "Changes made in the week, all reported models together.",
}
_PTS = " pts"


def qbr_report(
    *,
    session: Session,
    customer_id: int,
    quarter: Quarter,
    scope: Scope,
    now: datetime | None = None,
) -> QbrReport:
    """Every figure of one customer's QBR for `quarter`, against the previous quarter.

    Refused with one sentence: an unknown customer, one outside `scope`, and a quarter that
    ends before the customer's HyperCare start or starts after today in the region's time zone.
    """
    now = utc_moment(now, refusal="The time of a QBR must be a time-zone-aware date and time.")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CommandRefused(f"There is no customer with id {customer_id}.")
    visible = session.exec(
        select(Customer.id).where(Customer.id == customer_id, scope.customer_filter())
    ).first()
    if visible is None:
        raise CommandRefused("That customer is not in your portfolio, so its QBR is not shown.")
    timezone = region_timezone(session=session, customer=customer)
    today = now.astimezone(ZoneInfo(timezone)).date()
    try:
        check_reviewable(quarter, hypercare_start=customer.hypercare_start, today=today)
    except BadQuarter as exc:
        raise CommandRefused(str(exc)) from exc

    # Imported here: these sections' modules read the QBR's shapes and may in turn read this one.
    from data_access.coe import coe_section
    from data_access.events import events_section
    from data_access.qbr_notes import notes_section

    builders = (
        headline_section,
        cases_section,
        sla_section,
        entitlements_section,
        monitoring_section,
        usage_section,
        adoption_section,
        coe_section,
        events_section,
        notes_section,
    )
    sections = tuple(
        build(session=session, customer=customer, quarter=quarter, now=now) for build in builders
    )
    return QbrReport(
        customer_id=customer.id,
        customer_name=customer.name,
        quarter=quarter,
        previous=quarter.previous(),
        to_date=quarter.contains(today),
        timezone=timezone,
        generated_at=now,
        sections=sections,
    )


# --- 1. Headline -------------------------------------------------------------------------------


def headline_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """Tier and HyperCare resource, subscription year and renewal, open cases (now for a running
    quarter, at the quarter's end otherwise)."""
    period = _Period.of(session, customer, quarter, now)
    labels = tier_labels(session=session)
    policies = tier_policies(session=session)
    tier = _tier_on(session, customer, period.last_day)
    tier_figure = Figure(label="Tier", text=labels.get(tier, tier))
    if period.previous_reviewable:
        before = _tier_on(session, customer, period.previous_last_day)
        tier_figure = Figure(
            label="Tier",
            text=labels.get(tier, tier),
            change="no change" if before == tier else f"was {labels.get(before, before)}",
        )
    resource_name = session.exec(
        select(User.name).where(User.id == customer.hypercare_resource_id)
    ).first()
    kind = policies[tier].hypercare_resource if tier in policies else "none"
    article = "an" if kind[:1] in "aeiou" else "a"
    resource = Figure(
        label="HyperCare resource",
        text=resource_name or "None assigned",
        help=f"{labels.get(tier, tier)} includes {article} {kind} HyperCare resource."
        if kind != "none"
        else f"{labels.get(tier, tier)} includes no HyperCare resource.",
    )
    year_start, renews_on = subscription_year(customer.hypercare_start, period.last_day)
    year = Figure(
        label="Subscription year",
        text=f"{_day(year_start)} – {_day(renews_on - timedelta(days=1))}",
    )
    renewal = Figure(
        label="Renewal",
        text=_day(renews_on),
        help=f"{plural((renews_on - period.today).days, 'day')} from today."
        if renews_on >= period.today
        else "",
    )
    open_now = _open_cases_at(session, customer.id, period.snapshot)
    previous_open = (
        _open_cases_at(session, customer.id, period.previous_end)
        if period.previous_reviewable
        else None
    )
    open_figure = Figure(
        label="Open cases now" if period.to_date else "Open cases at quarter end",
        text=f"{open_now:,}",
        change=change_text(open_now, previous_open),
        value=open_now,
        previous=previous_open,
    )
    return Section(
        key="headline",
        title=SECTION_TITLES["headline"],
        figures=(tier_figure, resource, year, renewal, open_figure),
    )


# --- 2. Cases ----------------------------------------------------------------------------------


def cases_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """Cases opened by severity and by channel, solved, and still open, with a weekly chart.

    Solved counts the cases whose latest solve fell in the quarter; still open counts the cases
    opened in the quarter that are not solved now.
    """
    period = _Period.of(session, customer, quarter, now)
    current = _case_counts(session, customer.id, period.start, period.end)
    previous = _case_counts(session, customer.id, period.previous_start, period.start)
    solved = _solved_count(session, customer.id, period.start, period.end)
    solved_before = _solved_count(session, customer.id, period.previous_start, period.start)
    if current["opened"] == 0 and solved == 0:
        return Section(
            key="cases",
            title=SECTION_TITLES["cases"],
            empty=f"No cases were opened or solved in {quarter.label}.",
        )
    compare = period.previous_reviewable
    figures = (
        _count_figure("Cases opened", current["opened"], previous["opened"] if compare else None),
        _count_figure("Solved", solved, solved_before if compare else None),
        _count_figure(
            "Still open",
            current["still_open"],
            previous["still_open"] if compare else None,
            help="Cases opened in the quarter that are not solved now.",
        ),
    )
    tables = (
        _comparison_table(
            "Opened by severity",
            "Severity",
            {
                SEVERITY_LABELS[level]: current["severity"].get(level, 0)
                for level in SEVERITY_LABELS
            },
            {
                SEVERITY_LABELS[level]: previous["severity"].get(level, 0)
                for level in SEVERITY_LABELS
            },
            compare,
        ),
        _comparison_table(
            "Opened by channel",
            "Channel",
            {label: current["channel"].get(key, 0) for key, label in CHANNEL_LABELS.items()},
            {label: previous["channel"].get(key, 0) for key, label in CHANNEL_LABELS.items()},
            compare,
        ),
    )
    weekly = _weekly_cases(session, customer.id, period)
    return Section(
        key="cases",
        title=SECTION_TITLES["cases"],
        figures=figures,
        tables=tables,
        charts=(Chart(kind="cases_weekly", title="Cases opened per week", data=weekly),),
    )


def _case_counts(session: Session, customer_id: int, start: datetime, end: datetime) -> dict:
    statement = (
        select(
            Case.severity,
            Case.channel,
            func.count().label("opened"),
            func.sum(sql_case((Case.solved_at.is_(None), 1), else_=0)).label("still_open"),
        )
        .where(Case.customer_id == customer_id, Case.opened_at >= start, Case.opened_at < end)
        .group_by(Case.severity, Case.channel)
    )
    rows = pd.read_sql(statement, session.connection())
    return {
        "opened": int(rows["opened"].sum()),
        "still_open": int(rows["still_open"].sum()),
        "severity": rows.groupby("severity")["opened"].sum().astype(int).to_dict(),
        "channel": rows.groupby("channel")["opened"].sum().astype(int).to_dict(),
    }


def _solved_count(session: Session, customer_id: int, start: datetime, end: datetime) -> int:
    return session.exec(
        select(func.count()).where(
            Case.customer_id == customer_id, Case.solved_at >= start, Case.solved_at < end
        )
    ).one()


def _open_cases_at(session: Session, customer_id: int, moment: datetime) -> int:
    """Cases opened before `moment` and not solved by then (their latest solve is later)."""
    return session.exec(
        select(func.count()).where(
            Case.customer_id == customer_id,
            Case.opened_at < moment,
            or_(Case.solved_at.is_(None), Case.solved_at >= moment),
        )
    ).one()


def _weekly_cases(session: Session, customer_id: int, period: _Period) -> pd.DataFrame:
    """Cases opened per local Monday-Sunday week of the quarter (to today for a running one) and
    severity, zeros included."""
    opened = pd.read_sql(
        select(Case.opened_at, Case.severity).where(
            Case.customer_id == customer_id,
            Case.opened_at >= period.start,
            Case.opened_at < period.end,
        ),
        session.connection(),
    )
    local_days = (
        pd.to_datetime(opened["opened_at"], utc=True).dt.tz_convert(period.timezone).dt.date
    )
    opened["week_start"] = [week_start(day) for day in local_days]
    counts = opened.groupby(["week_start", "severity"]).size()
    weeks = _weeks(period.quarter.first_day, period.last_day)
    rows = [
        {
            "week_start": week,
            "severity": SEVERITY_LABELS[level],
            "cases": int(counts.get((week, level), 0)),
        }
        for week in weeks
        for level in SEVERITY_LABELS
    ]
    return pd.DataFrame(rows, columns=["week_start", "severity", "cases"])


def _weeks(first: date, last: date) -> list[date]:
    """Monday of every week with a day in [first, last]."""
    weeks, monday = [], week_start(first)
    while monday <= last:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


# --- 3. SLA ------------------------------------------------------------------------------------


def sla_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """First-response attainment, severity 1 "respond now" with time to first reply, and
    resolution against the guideline (median, p90) with SPEC's exclusions stated.

    Cases are those opened in the quarter, each judged by the tier in force when it opened.
    """
    period = _Period.of(session, customer, quarter, now)
    periods = [(period.start, period.end)]
    if period.previous_reviewable:
        periods.append((period.previous_start, period.start))
    current, *earlier = attainments(
        session=session, periods=periods, customer_id=customer.id, now=now
    )
    previous = earlier[0] if earlier else None
    if current.cases_opened == 0:
        return Section(
            key="sla",
            title=SECTION_TITLES["sla"],
            empty=f"No cases were opened in {quarter.label}, so there is no SLA attainment.",
        )

    def before(name: str) -> float | None:
        return None if previous is None else getattr(previous, name)

    figures = (
        Figure(
            label="First response within target",
            text=share_text(current.first_response_met, current.first_response_measured),
            change=change_text(
                _rounded(current.first_response_met_pct, 0),
                _rounded(before("first_response_met_pct"), 0),
                unit=_PTS,
            ),
            value=current.first_response_met_pct,
            previous=before("first_response_met_pct"),
            help="Severity 2-4, against the tier's first-response target in calendar minutes; "
            "a reply at exactly the target is met.",
        ),
        _sev1_figure(current, previous),
        Figure(
            label="Resolved within guideline",
            text=share_text(current.resolution_within_guideline, current.resolution_measured),
            change=change_text(
                _rounded(current.resolution_within_guideline_pct, 0),
                _rounded(before("resolution_within_guideline_pct"), 0),
                unit=_PTS,
            ),
            value=current.resolution_within_guideline_pct,
            previous=before("resolution_within_guideline_pct"),
            help=_guideline_help(current),
        ),
        Figure(
            label="Median resolution",
            text=days_text(current.resolution_median_days),
            change=change_text(
                _rounded(current.resolution_median_days),
                _rounded(before("resolution_median_days")),
                unit=" days",
            ),
            value=current.resolution_median_days,
            previous=before("resolution_median_days"),
        ),
        Figure(
            label="90th percentile resolution",
            text=days_text(current.resolution_p90_days),
            change=change_text(
                _rounded(current.resolution_p90_days),
                _rounded(before("resolution_p90_days")),
                unit=" days",
            ),
            value=current.resolution_p90_days,
            previous=before("resolution_p90_days"),
        ),
    )
    return Section(
        key="sla",
        title=SECTION_TITLES["sla"],
        figures=figures,
        tables=(_sla_table(current, previous),),
        notes=_sla_notes(current),
    )


def _sev1_figure(current: Attainment, previous: Attainment | None) -> Figure:
    """Severity 1 has no response target: "respond now", shown with the time to first reply."""
    minutes = current.sev1_median_reply_minutes
    earlier = None if previous is None else previous.sev1_median_reply_minutes
    if current.cases_by_severity[1] == 0:
        text = "No severity 1 cases"
    elif minutes is None:
        text = "Respond now · no reply yet"
    else:
        text = f"Respond now · median {duration_text(minutes)} to first reply"
    goal = (
        f"Internal goal met for {share_text(current.sev1_goal_met, current.sev1_measured)}."
        if current.sev1_measured
        else ""
    )
    return Figure(
        label="Severity 1",
        text=text,
        change=change_text(_rounded(minutes, 0), _rounded(earlier, 0), unit=" min"),
        value=minutes,
        previous=earlier,
        help=" ".join(
            part
            for part in (
                "Severity 1 has no response target: it is answered without delay.",
                f"{plural(current.sev1_replied, 'case')} answered.",
                goal,
            )
            if part
        ),
    )


def _guideline_help(current: Attainment) -> str:
    days = current.resolution_guideline_days
    guideline = (
        f"the tier's guideline of {days_text(days)}"
        if days is not None
        else "the guideline of the tier in force when each case opened"
    )
    return f"Business days of the region calendar against {guideline}; a guideline, not a promise."


def _sla_notes(current: Attainment) -> tuple[str, ...]:
    notes = ["Resolution time leaves out time pending the customer."]
    excluded = current.resolution_excluded_transferred
    if excluded:
        verb = "is" if excluded == 1 else "are"
        notes.append(
            f"{plural(excluded, 'case')} transferred to L2/L3 {verb} not counted in resolution "
            "times."
        )
    pending = current.first_response_pending
    if pending:
        verb = "is" if pending == 1 else "are"
        notes.append(
            f"{plural(pending, 'case')} still inside the first-response target {verb} not "
            "counted yet."
        )
    return tuple(notes)


def _sla_table(current: Attainment, previous: Attainment | None) -> Table:
    def column(result: Attainment | None) -> list[str]:
        if result is None:
            return ["—"] * 6
        return [
            f"{result.cases_opened:,}",
            share_text(result.first_response_met, result.first_response_measured),
            share_text(result.sev1_goal_met, result.sev1_measured),
            f"{result.resolution_measured:,}",
            f"{result.resolution_excluded_transferred:,}",
            days_text(result.resolution_median_days),
        ]

    return Table(
        title="SLA against the previous quarter",
        frame=pd.DataFrame(
            {
                "Measure": [
                    "Cases opened",
                    "First response within target",
                    "Severity 1 within internal goal",
                    "Resolutions measured",
                    "Left out (transferred to L2/L3)",
                    "Median resolution",
                ],
                "This quarter": column(current),
                "Previous quarter": column(previous),
            }
        ),
    )


def _rounded(value: float | None, digits: int = 1) -> float | None:
    """Round as shown before comparing, so the change agrees with the two numbers on screen."""
    return None if value is None else round(float(value), digits)


# --- 4. Entitlements ---------------------------------------------------------------------------


def entitlements_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """What the subscription year has used by the quarter's end (today for a running quarter):
    optimisations delivered in the quarter and open now, models monitored against the cap,
    surveys, CoE benchmarks and QBR inputs against their allowances.

    Allowances are used by the ledger lines written before the quarter's end (now for a running
    quarter), so a past quarter's QBR does not count later use. The change against the previous
    quarter is shown only within one subscription year (a new year starts its counts again).
    Caps count the models enrolled today.
    """
    period = _Period.of(session, customer, quarter, now)
    balances = entitlement_balances(session=session, customer_id=customer.id, on=period.last_day)
    year_start = subscription_year(customer.hypercare_start, period.last_day)[0]
    earlier_in_year = (
        period.previous_reviewable
        and subscription_year(customer.hypercare_start, period.previous_last_day)[0] == year_start
    )
    requests = optimisation_requests(
        session=session, scope=_customer_scope(customer), customer_id=customer.id
    )
    delivered = _between(requests["delivered_at"], period.start, period.end)
    delivered_before = _between(requests["delivered_at"], period.previous_start, period.start)
    open_now = requests["state"].isin({state.value for state in OPEN_REQUEST_STATES})
    shown = balances[
        balances["kind"].isin({*PER_YEAR_KINDS, *CAP_KINDS})
        & ((balances["allowance"] > 0) | (balances["used"] > 0))
    ]
    if shown.empty and not delivered.any() and not open_now.any():
        label = tier_labels(session=session).get(customer.tier, customer.tier)
        return Section(
            key="entitlements",
            title=SECTION_TITLES["entitlements"],
            empty=f"{label} includes no HyperCare entitlements to count.",
        )
    figures = [
        _count_figure(
            "Optimisations delivered",
            int(delivered.sum()),
            int(delivered_before.sum()) if period.previous_reviewable else None,
            help="Model optimisations delivered in the quarter.",
        ),
        Figure(
            label="Optimisations open",
            text=f"{int(open_now.sum()):,}",
            value=int(open_now.sum()),
            help="Requested, accepted or in progress now.",
        ),
    ]
    ledger = _ledger(session, customer.id, period.snapshot)
    year = subscription_year(customer.hypercare_start, period.last_day)
    for row in shown.itertuples(index=False):
        if row.kind in CAP_KINDS:
            figures.append(
                Figure(
                    label=sentence_case(row.label),
                    text=f"{int(row.used):,} of {int(row.allowance):,} enrolled",
                    value=int(row.used),
                    help=f"The tier's cap; {int(row.remaining):,} more can be enrolled. "
                    "Counted today.",
                )
            )
            continue
        used = balance(allowance=int(row.allowance), entries=ledger, year=year, kind=row.kind)
        used_before = (
            balance(
                allowance=int(row.allowance),
                entries=[entry for entry in ledger if entry.at < period.previous_end],
                year=year,
                kind=row.kind,
            ).net_used
            if earlier_in_year
            else None
        )
        figures.append(
            Figure(
                label=sentence_case(row.label),
                text=f"{used.net_used:,} of {int(row.allowance):,} used",
                change=change_text(used.net_used, used_before),
                value=used.net_used,
                previous=used_before,
                help=f"{used.remaining:,} left until {_day(row.renews_on)}.",
            )
        )
    listed = requests[delivered | open_now]
    tables = ()
    if not listed.empty:
        zone = ZoneInfo(period.timezone)
        tables = (
            Table(
                title="Optimisation requests delivered in the quarter or open",
                frame=pd.DataFrame(
                    {
                        "Model": listed["model"].fillna("—").to_numpy(),
                        "Requested by": listed["requested_by"].to_numpy(),
                        "Requested": [
                            _day(t.astimezone(zone).date()) for t in listed["requested_at"]
                        ],
                        "Target": [_day(d) for d in listed["target_date"]],
                        "State": [_request_state(s) for s in listed["state"]],
                        "Delivered": [
                            "—" if pd.isna(t) else _day(t.astimezone(zone).date())
                            for t in listed["delivered_at"]
                        ],
                    }
                ),
            ),
        )
    renews_on = subscription_year(customer.hypercare_start, period.last_day)[1]
    return Section(
        key="entitlements",
        title=SECTION_TITLES["entitlements"],
        figures=tuple(figures),
        tables=tables,
        notes=(
            f"Counted in the subscription year {_day(year_start)} – "
            f"{_day(renews_on - timedelta(days=1))}, as of {_day(period.last_day)}.",
        ),
    )


def _ledger(session: Session, customer_id: int, before: datetime) -> list[LedgerEntry]:
    """The customer's ledger lines written before `before`: what had been used by then."""
    rows = session.exec(
        select(EntitlementEntry).where(
            EntitlementEntry.customer_id == customer_id,
            EntitlementEntry.delta != 0,
            EntitlementEntry.at < before,
        )
    ).all()
    return [
        LedgerEntry(
            at=row.at,
            kind=row.kind,
            delta=row.delta,
            reason=row.reason,
            actor=str(row.actor_id or ""),
            request_id=row.request_id,
        )
        for row in rows
    ]


def _request_state(state: str) -> str:
    return sentence_case(RequestState(state).value.replace("_", " "))


def _between(instants: pd.Series, start: datetime, end: datetime) -> pd.Series:
    stamps = pd.to_datetime(instants, utc=True)
    return (stamps >= pd.Timestamp(start)) & (stamps < pd.Timestamp(end))


# --- 5. Monitoring -----------------------------------------------------------------------------


def monitoring_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """Alerts opened in the quarter by metric and severity, the median time from an alert to the
    first logged customer contact, and the alerts open now (at the quarter's end for a past one).
    """
    period = _Period.of(session, customer, quarter, now)
    alerts = _alerts(session, customer.id, period.previous_start, period.end)
    in_quarter = alerts[_between(alerts["opened_at"], period.start, period.end)]
    in_previous = alerts[_between(alerts["opened_at"], period.previous_start, period.start)]
    open_at = _open_alerts_at(session, customer.id, period.snapshot)
    if in_quarter.empty and open_at == 0:
        monitored = session.exec(
            select(func.count()).where(
                PlanningModel.customer_id == customer.id, PlanningModel.in_monitoring
            )
        ).one()
        return Section(
            key="monitoring",
            title=SECTION_TITLES["monitoring"],
            empty=f"No monitoring alerts in {quarter.label}."
            if monitored
            else "No models are in daily monitoring.",
        )
    compare = period.previous_reviewable
    contact = _median_hours(in_quarter)
    contact_before = _median_hours(in_previous) if compare else None
    open_before = _open_alerts_at(session, customer.id, period.previous_end) if compare else None
    figures = (
        _count_figure("Alerts opened", len(in_quarter), len(in_previous) if compare else None),
        Figure(
            label="Median time to customer contact",
            text="—" if contact is None else duration_text(contact * 60),
            change=change_text(_rounded(contact), _rounded(contact_before), unit=" h"),
            value=contact,
            previous=contact_before,
            help="From the alert opening to the first contact logged with the customer, over "
            "the quarter's alerts with a contact.",
        ),
        Figure(
            label="Open alerts now" if period.to_date else "Open alerts at quarter end",
            text=f"{open_at:,}",
            change=change_text(open_at, open_before),
            value=open_at,
            previous=open_before,
        ),
    )
    by_metric = _alerts_by_metric(in_quarter)
    table = by_metric.pivot_table(
        index="metric", columns="severity", values="alerts", aggfunc="sum", fill_value=0
    )
    severity_columns = [ALERT_SEVERITY_LABELS[name] for name, _ in SEVERITY_LEVELS]
    table = table.reindex(columns=severity_columns, fill_value=0)
    table["Total"] = table.sum(axis=1)
    table = table[table["Total"] > 0].reset_index().rename(columns={"metric": "Metric"})
    tables = (
        (Table(title="Alerts opened by metric and severity", frame=table),) if len(table) else ()
    )
    charts = (
        (Chart(kind="alerts_by_metric", title="Alerts opened by metric", data=by_metric),)
        if by_metric["alerts"].sum()
        else ()
    )
    return Section(
        key="monitoring",
        title=SECTION_TITLES["monitoring"],
        figures=figures,
        tables=tables,
        charts=charts,
    )


def _alerts(session: Session, customer_id: int, start: datetime, end: datetime) -> pd.DataFrame:
    first_contact = (
        select(AlertContactLog.alert_id, func.min(AlertContactLog.at).label("contacted_at"))
        .group_by(AlertContactLog.alert_id)
        .subquery()
    )
    frame = pd.read_sql(
        select(
            Alert.id,
            Alert.metric,
            Alert.direction,
            Alert.value,
            Alert.baseline,
            Alert.lower,
            Alert.upper,
            Alert.opened_at,
            first_contact.c.contacted_at,
        )
        .outerjoin(first_contact, first_contact.c.alert_id == Alert.id)
        .where(Alert.customer_id == customer_id, Alert.opened_at >= start, Alert.opened_at < end),
        session.connection(),
    )
    for column in ("opened_at", "contacted_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["severity"] = [
        severity(deviation(row.value, row.baseline, row.lower, row.upper, row.direction))
        for row in frame.itertuples(index=False)
    ]
    return frame


def _open_alerts_at(session: Session, customer_id: int, moment: datetime) -> int:
    """Alerts opened before `moment` and not closed by then."""
    return session.exec(
        select(func.count()).where(
            Alert.customer_id == customer_id,
            Alert.opened_at < moment,
            or_(
                and_(Alert.closed_at.is_(None), Alert.state.in_(OPEN_ALERT_STATES)),
                Alert.closed_at >= moment,
            ),
        )
    ).one()


def _median_hours(alerts: pd.DataFrame) -> float | None:
    waits = (alerts["contacted_at"] - alerts["opened_at"]).dropna().dt.total_seconds()
    return float(np.median(waits)) / 3600 if len(waits) else None


def _alerts_by_metric(alerts: pd.DataFrame) -> pd.DataFrame:
    """Every metric and severity with its count of alerts (zeros included, for the chart)."""
    counts = alerts.groupby(["metric", "severity"]).size()
    rows = [
        {
            "metric": METRIC_LABELS[metric],
            "severity": ALERT_SEVERITY_LABELS[level],
            "alerts": int(counts.get((metric, level), 0)),
        }
        for metric in METRIC_LABELS
        for level, _ in SEVERITY_LEVELS
    ]
    return pd.DataFrame(rows, columns=["metric", "severity", "alerts"])


# --- 6. Usage ----------------------------------------------------------------------------------


def usage_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """The weekly report's trends over the quarter's weeks (Monday in the quarter), all reported
    models together: model open time (mean of the models' weekly means), users (the models'
    weekly peaks, summed) and changes (total); each figure is the mean over the weeks."""
    period = _Period.of(session, customer, quarter, now)
    weeks = _usage_weeks(session, customer.id, period)
    current = weeks[weeks["quarter"] == quarter.key]
    if current.empty:
        return Section(
            key="usage",
            title=SECTION_TITLES["usage"],
            empty=f"No weekly-report figures for {quarter.label}.",
        )
    previous = weeks[weeks["quarter"] == quarter.previous().key]
    figures = []
    for measure, label in USAGE_MEASURES.items():
        value = float(current[measure].mean())
        before = float(previous[measure].mean()) if len(previous) else None
        digits, unit = (1, " s") if measure == "open_time_s" else (0, "")
        figures.append(
            Figure(
                label=f"{label.removesuffix(' (s)')} a week",
                text=f"{value:,.{digits}f}{unit}",
                change=change_text(_rounded(value, digits), _rounded(before, digits), unit=unit),
                value=value,
                previous=before,
                help=f"{USAGE_HELP[measure]} Averaged over the quarter's weeks.",
            )
        )
    chart = current.melt(
        id_vars=["week_start"], value_vars=list(USAGE_MEASURES), var_name="measure"
    )
    chart["measure"] = chart["measure"].map(USAGE_MEASURES)
    return Section(
        key="usage",
        title=SECTION_TITLES["usage"],
        figures=tuple(figures),
        charts=(
            Chart(
                kind="usage_small_multiples",
                title="Weekly usage",
                data=chart[["week_start", "measure", "value"]].reset_index(drop=True),
            ),
        ),
        notes=(f"{plural(len(current), 'week')} of the weekly report in {quarter.label}.",),
    )


def _usage_weeks(session: Session, customer_id: int, period: _Period) -> pd.DataFrame:
    """One row per week with a Monday in this quarter or the previous one: the measures, summed
    or averaged over the reported models, and the week's quarter key."""
    first = week_start(period.quarter.previous().first_day)
    last = week_start(period.last_day)
    count = (last - first).days // 7 + 1
    trend = weekly_trend(
        session=session, customer_id=customer_id, granularity="model", end_week=last, weeks=count
    )
    columns = ["week_start", *USAGE_MEASURES, "quarter"]
    if trend.empty:
        return pd.DataFrame(columns=columns)
    trend = trend[trend["week_start"] >= period.quarter.previous().first_day]
    weekly = trend.groupby("week_start").agg(
        open_time_s=("open_time_s", "mean"), users=("users", "sum"), changes=("changes", "sum")
    )
    weekly = weekly.reset_index()
    weekly["quarter"] = [Quarter.containing(day).key for day in weekly["week_start"]]
    return weekly[columns]


# --- 7. Adoption -------------------------------------------------------------------------------


def adoption_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """The survey of the subscription year the quarter ends in (SUS with grade and 95 %
    confidence interval, NPS, CSAT, responses) and the feedback sessions of the quarter.

    A survey is compared with the previous quarter's only when that falls in another
    subscription year (and so another survey); within one year it is the same survey.
    """
    period = _Period.of(session, customer, quarter, now)
    scope = _customer_scope(customer)
    year_start = subscription_year(customer.hypercare_start, period.last_day)[0]
    results = _survey(session, scope, customer.id, year_start)
    earlier = None
    if period.previous_reviewable:
        previous_year = subscription_year(customer.hypercare_start, period.previous_last_day)[0]
        if previous_year != year_start:
            earlier = _survey(session, scope, customer.id, previous_year)
    sessions = feedback_sessions(session=session, scope=scope, customer_id=customer.id)
    requested = _between(sessions["requested_at"], period.start, period.end)
    held = (sessions["state"] == "done") & _between(
        sessions["scheduled_for"], period.start, period.end
    )
    held_before = (sessions["state"] == "done") & _between(
        sessions["scheduled_for"], period.previous_start, period.start
    )
    no_survey = "No survey in this subscription year."
    if results is None and not (requested | held).any():
        return Section(key="adoption", title=SECTION_TITLES["adoption"], empty=no_survey)
    figures: list[Figure] = []
    if results is not None:
        figures += _survey_figures(results, earlier)
    figures.append(
        _count_figure(
            "Feedback sessions held",
            int(held.sum()),
            int(held_before.sum()) if period.previous_reviewable else None,
            help="Remote end-user interviews with findings recorded in the quarter.",
        )
    )
    listed = sessions[requested | held]
    tables = ()
    if len(listed):
        zone = ZoneInfo(period.timezone)
        tables = (
            Table(
                title="Feedback sessions requested or held in the quarter",
                frame=pd.DataFrame(
                    {
                        "Requested": [
                            _day(t.astimezone(zone).date()) for t in listed["requested_at"]
                        ],
                        "Requested by": listed["requested_by"].to_numpy(),
                        "Scheduled": [
                            "—" if pd.isna(t) else _day(t.astimezone(zone).date())
                            for t in listed["scheduled_for"]
                        ],
                        "State": listed["state_label"].to_numpy(),
                        "Findings": listed["findings"].fillna("").to_numpy(),
                    }
                ),
            ),
        )
    return Section(
        key="adoption",
        title=SECTION_TITLES["adoption"],
        figures=tuple(figures),
        tables=tables,
        notes=() if results is not None else (no_survey,),
    )


def _survey(session: Session, scope: Scope, customer_id: int, year_start: date):
    """The survey results of the campaign of one subscription year; None without responses."""
    campaign_id = session.exec(
        select(SurveyCampaign.id).where(
            SurveyCampaign.customer_id == customer_id, SurveyCampaign.year_start == year_start
        )
    ).first()
    if campaign_id is None:
        return None
    results = survey_results(session=session, scope=scope, campaign_id=campaign_id)
    return results if results.responses else None


def _survey_figures(results, earlier) -> list[Figure]:
    def before(name: str) -> float | None:
        return None if earlier is None else getattr(earlier, name)

    low, high = results.sus_ci or (float("nan"), float("nan"))
    interval = (
        f"95% confidence interval {low:.1f}–{high:.1f}."
        if not (np.isnan(low) or np.isnan(high))
        else "One response: no confidence interval."
    )
    return [
        Figure(
            label="SUS",
            text=f"{results.sus_mean:.1f} · grade {results.sus_grade}",
            change=change_text(_rounded(results.sus_mean), _rounded(before("sus_mean"))),
            value=results.sus_mean,
            previous=before("sus_mean"),
            help=f"System Usability Scale, 68 is average. {interval}",
        ),
        Figure(
            label="NPS",
            text=f"{results.nps:+.0f}",
            change=change_text(_rounded(results.nps, 0), _rounded(before("nps"), 0)),
            value=results.nps,
            previous=before("nps"),
            help="Net Promoter Score: % promoters (9–10) minus % detractors (0–6).",
        ),
        Figure(
            label="CSAT",
            text=f"{results.csat_pct:.0f}%",
            change=change_text(
                _rounded(results.csat_pct, 0), _rounded(before("csat_pct"), 0), unit=_PTS
            ),
            value=results.csat_pct,
            previous=before("csat_pct"),
            help="Share of respondents satisfied with the HyperCare service (4 or 5 of 5).",
        ),
        Figure(
            label="Survey responses",
            text=f"{results.responses:,} of {results.invited:,} invited"
            if results.invited
            else f"{results.responses:,}",
            value=results.responses,
        ),
    ]


# --- shared ------------------------------------------------------------------------------------


class _Period:
    """The quarter's instants and days in the customer's region time zone."""

    def __init__(self, customer: Customer, quarter: Quarter, timezone: str, now: datetime):
        self.quarter = quarter
        self.timezone = timezone
        self.start, self.end = quarter.bounds(timezone)
        self.previous_start = quarter.previous().bounds(timezone)[0]
        self.previous_end = self.start
        self.today = now.astimezone(ZoneInfo(timezone)).date()
        self.to_date = quarter.contains(self.today)
        # The day the quarter's balances are read on, and the instant of its "now" figures.
        self.last_day = min(quarter.last_day, self.today)
        self.snapshot = min(self.end, now)
        self.previous_last_day = quarter.previous().last_day
        self.previous_reviewable = quarter.previous().end_day > customer.hypercare_start

    @classmethod
    def of(cls, session: Session, customer: Customer, quarter: Quarter, now: datetime) -> _Period:
        return cls(customer, quarter, region_timezone(session=session, customer=customer), now)


def _customer_scope(customer: Customer) -> Scope:
    """A view of one customer for the shared reads (`qbr_report` has checked the viewer's)."""
    return Scope(user_id=0, all_customers=True, customer_id=customer.id)


def _tier_on(session: Session, customer: Customer, day: date) -> str:
    """The tier in force on `day` from the customer's tier history (today's tier without one)."""
    in_force = session.exec(
        select(TierChange.to_tier)
        .where(TierChange.customer_id == customer.id, TierChange.effective_on <= day)
        .order_by(TierChange.effective_on.desc(), TierChange.id.desc())
    ).first()
    return in_force or customer.tier


def _count_figure(label: str, count: int, previous: int | None, help: str = "") -> Figure:
    return Figure(
        label=label,
        text=f"{count:,}",
        change=change_text(count, previous),
        value=count,
        previous=previous,
        help=help,
    )


def _comparison_table(
    title: str, name: str, current: dict[str, int], previous: dict[str, int], compare: bool
) -> Table:
    frame = pd.DataFrame(
        {
            name: list(current),
            "This quarter": [f"{count:,}" for count in current.values()],
            "Previous quarter": [f"{previous[key]:,}" if compare else "—" for key in current],
        }
    )
    return Table(title=title, frame=frame)


def _day(day: date) -> str:
    """A date as shown in the QBR: 1 Apr 2026."""
    return day_text(day)
