"""The QBR's support sections: headline (tier, resource, subscription year, open cases),
cases (opened by severity and channel, solved, still open, weekly chart) and SLA attainment.

Counts are aggregated in SQL over the customer's cases in the quarter; SLA attainment is the one
rule of `data_access.attainment`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import case as sql_case
from sqlalchemy import func, or_
from sqlmodel import Session, select

from data_access.attainment import Attainment, attainments
from data_access.models import Case, Customer, User
from data_access.policies import tier_labels, tier_policies
from data_access.qbr_common import (
    PTS,
    SECTION_TITLES,
    Period,
    comparison_table,
    count_figure,
    rounded,
    tier_on,
)
from domain.contacts import CHANNEL_LABELS
from domain.dates import day_text
from domain.durations import duration_text
from domain.entitlements import subscription_year
from domain.lifecycle import SEVERITY_LABELS
from domain.qbr import Chart, Figure, Section, Table, change_text, days_text, plural, share_text
from domain.quarters import Quarter
from domain.weekly import week_start

# --- 1. Headline -------------------------------------------------------------------------------


def headline_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """Tier and HyperCare resource, subscription year and renewal, open cases (now for a running
    quarter, at the quarter's end otherwise)."""
    period = Period.of(session, customer, quarter, now)
    labels = tier_labels(session=session)
    policies = tier_policies(session=session)
    tier = tier_on(session, customer, period.last_day)
    tier_figure = Figure(label="Tier", text=labels.get(tier, tier))
    if period.previous_reviewable:
        before = tier_on(session, customer, period.previous_last_day)
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
        text=f"{day_text(year_start)} – {day_text(renews_on - timedelta(days=1))}",
    )
    renewal = Figure(
        label="Renewal",
        text=day_text(renews_on),
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
    period = Period.of(session, customer, quarter, now)
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
        count_figure("Cases opened", current["opened"], previous["opened"] if compare else None),
        count_figure("Solved", solved, solved_before if compare else None),
        count_figure(
            "Still open",
            current["still_open"],
            previous["still_open"] if compare else None,
            help="Cases opened in the quarter that are not solved now.",
        ),
    )
    tables = (
        comparison_table(
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
        comparison_table(
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


def _weekly_cases(session: Session, customer_id: int, period: Period) -> pd.DataFrame:
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
    period = Period.of(session, customer, quarter, now)
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

    def compared(
        name: str, *, label: str, text: str, unit: str, digits: int = 1, help: str = ""
    ) -> Figure:
        """The figure for `current.<name>`, its change against the previous quarter's as shown
        (both rounded to `digits`)."""
        value = getattr(current, name)
        earlier = None if previous is None else getattr(previous, name)
        change = change_text(rounded(value, digits), rounded(earlier, digits), unit=unit)
        return Figure(
            label=label, text=text, change=change, value=value, previous=earlier, help=help
        )

    figures = (
        compared(
            "first_response_met_pct",
            label="First response within target",
            text=share_text(current.first_response_met, current.first_response_measured),
            unit=PTS,
            digits=0,
            help="Severity 2-4, against the tier's first-response target in calendar minutes; "
            "a reply at exactly the target is met.",
        ),
        _sev1_figure(current, previous),
        compared(
            "resolution_within_guideline_pct",
            label="Resolved within guideline",
            text=share_text(current.resolution_within_guideline, current.resolution_measured),
            unit=PTS,
            digits=0,
            help=_guideline_help(current),
        ),
        compared(
            "resolution_median_days",
            label="Median resolution",
            text=days_text(current.resolution_median_days),
            unit=" days",
        ),
        compared(
            "resolution_p90_days",
            label="90th percentile resolution",
            text=days_text(current.resolution_p90_days),
            unit=" days",
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
        change=change_text(rounded(minutes, 0), rounded(earlier, 0), unit=" min"),
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
