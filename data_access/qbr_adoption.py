"""The QBR's usage and adoption sections: weekly usage of the reported models, and the
adoption survey's SUS, NPS and CSAT with the quarter's feedback sessions."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlmodel import Session, select

from data_access.feedback_sessions import feedback_sessions
from data_access.models import Customer, SurveyCampaign
from data_access.qbr_common import (
    PTS,
    SECTION_TITLES,
    Period,
    between,
    count_figure,
    customer_scope,
    rounded,
)
from data_access.scope import Scope
from data_access.survey_results import survey_results
from data_access.weekly_report import weekly_trend
from domain.dates import day_text
from domain.entitlements import subscription_year
from domain.qbr import Chart, Figure, Section, Table, change_text, plural
from domain.quarters import Quarter
from domain.weekly import week_start

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


# --- 6. Usage ----------------------------------------------------------------------------------


def usage_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """The weekly report's trends over the quarter's weeks (Monday in the quarter), all reported
    models together: model open time (mean of the models' weekly means), users (the models'
    weekly peaks, summed) and changes (total); each figure is the mean over the weeks."""
    period = Period.of(session, customer, quarter, now)
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
                change=change_text(rounded(value, digits), rounded(before, digits), unit=unit),
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


def _usage_weeks(session: Session, customer_id: int, period: Period) -> pd.DataFrame:
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
    period = Period.of(session, customer, quarter, now)
    scope = customer_scope(customer)
    year_start = subscription_year(customer.hypercare_start, period.last_day)[0]
    results = _survey(session, scope, customer.id, year_start)
    earlier = None
    if period.previous_reviewable:
        previous_year = subscription_year(customer.hypercare_start, period.previous_last_day)[0]
        if previous_year != year_start:
            earlier = _survey(session, scope, customer.id, previous_year)
    sessions = feedback_sessions(session=session, scope=scope, customer_id=customer.id)
    requested = between(sessions["requested_at"], period.start, period.end)
    held = (sessions["state"] == "done") & between(
        sessions["scheduled_for"], period.start, period.end
    )
    held_before = (sessions["state"] == "done") & between(
        sessions["scheduled_for"], period.previous_start, period.start
    )
    no_survey = "No survey in this subscription year."
    if results is None and not (requested | held).any():
        return Section(key="adoption", title=SECTION_TITLES["adoption"], empty=no_survey)
    figures: list[Figure] = []
    if results is not None:
        figures += _survey_figures(results, earlier)
    figures.append(
        count_figure(
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
                            day_text(t.astimezone(zone).date()) for t in listed["requested_at"]
                        ],
                        "Requested by": listed["requested_by"].to_numpy(),
                        "Scheduled": [
                            "—" if pd.isna(t) else day_text(t.astimezone(zone).date())
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
            change=change_text(rounded(results.sus_mean), rounded(before("sus_mean"))),
            value=results.sus_mean,
            previous=before("sus_mean"),
            help=f"System Usability Scale, 68 is average. {interval}",
        ),
        Figure(
            label="NPS",
            text=f"{results.nps:+.0f}",
            change=change_text(rounded(results.nps, 0), rounded(before("nps"), 0)),
            value=results.nps,
            previous=before("nps"),
            help="Net Promoter Score: % promoters (9–10) minus % detractors (0–6).",
        ),
        Figure(
            label="CSAT",
            text=f"{results.csat_pct:.0f}%",
            change=change_text(
                rounded(results.csat_pct, 0), rounded(before("csat_pct"), 0), unit=PTS
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
