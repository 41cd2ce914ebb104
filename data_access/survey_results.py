"""Adoption-survey results: response rate, SUS with its 95 % interval and grade, NPS, CSAT and the
answer distributions, over the submitted responses of the campaigns in scope.

The figures are scored by the rules in `domain.surveys`; a response counts once it is submitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import func, literal, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from data_access.models import Customer, EndUser, Region, SurveyCampaign, SurveyResponse, User
from data_access.scope import Scope
from data_access.survey_campaigns import RESPONDENT_STATUS_LABELS, SUS_KEYS, campaign_frame
from domain.surveys import (
    SUS_ITEMS,
    csat_percent,
    mean_ci95,
    nps,
    nps_split,
    sus_grade,
    sus_score,
)


def campaigns_in_scope(*, session: Session, scope: Scope) -> pd.DataFrame:
    """Every campaign of the customers this scope sees, newest year first."""
    return campaign_frame(session, [scope.customer_filter()])


def with_sus_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds `sus_score` for rows whose ten items are all answered (NaN otherwise)."""
    items = frame[list(SUS_KEYS)]
    complete = items.notna().all(axis=1)
    frame["sus_score"] = [
        sus_score([int(v) for v in row]) if ok else math.nan
        for row, ok in zip(items.itertuples(index=False), complete, strict=True)
    ]
    return frame


def my_responses(*, session: Session, staff_id: int) -> pd.DataFrame:
    """The drafts and submitted responses of one staff member, newest first."""
    statement = (
        select(
            SurveyResponse.id,
            SurveyResponse.campaign_id,
            SurveyResponse.end_user_id,
            Customer.name.label("customer"),
            SurveyCampaign.title.label("campaign"),
            EndUser.name.label("respondent"),
            SurveyResponse.status,
            SurveyResponse.interview_date,
            *(getattr(SurveyResponse, key) for key in SUS_KEYS),
            SurveyResponse.nps,
            SurveyResponse.csat,
            SurveyResponse.comments,
            SurveyResponse.submitted_at,
            SurveyResponse.updated_at,
        )
        .join(SurveyCampaign, SurveyCampaign.id == SurveyResponse.campaign_id)
        .join(Customer, Customer.id == SurveyCampaign.customer_id)
        .join(EndUser, EndUser.id == SurveyResponse.end_user_id)
        .where(SurveyResponse.staff_id == staff_id)
        .order_by(SurveyResponse.updated_at.desc())
    )
    frame = pd.read_sql(statement, session.connection())
    for column in ("submitted_at", "updated_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["status_label"] = frame["status"].map(RESPONDENT_STATUS_LABELS)
    return with_sus_scores(frame)


# --- Results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultFilters:
    """Which campaigns the results cover; None means no restriction."""

    customer_id: int | None = None
    tier: str | None = None
    region: str | None = None
    campaign_id: int | None = None
    year: int | None = None

    def clauses(self, scope: Scope) -> list[ColumnElement[bool]]:
        """WHERE clauses on SurveyCampaign, Customer and Region."""
        clauses = [scope.customer_filter()]
        if self.customer_id is not None:
            clauses.append(Customer.id == self.customer_id)
        if self.tier is not None:
            clauses.append(Customer.tier == self.tier)
        if self.region is not None:
            clauses.append(Region.code == self.region)
        if self.campaign_id is not None:
            clauses.append(SurveyCampaign.id == self.campaign_id)
        if self.year is not None:
            clauses += [
                SurveyCampaign.year_start >= date(self.year, 1, 1),
                SurveyCampaign.year_start < date(self.year + 1, 1, 1),
            ]
        return clauses


@dataclass(frozen=True)
class SurveyResults:
    """Adoption-survey results over some campaigns (None where there are no responses)."""

    responses: int
    invited: int
    response_rate: float | None  # percent of invited
    sus_mean: float | None
    sus_ci: tuple[float, float] | None  # 95 % (low, high); NaN bounds with one response
    sus_grade: str | None
    nps: float | None
    nps_split: dict[str, int | float] | None
    csat_pct: float | None
    item_distribution: pd.DataFrame  # item (1–10), statement, answer (1–5), count
    comments: pd.DataFrame


def _with_campaign_joins(statement, filters: ResultFilters, scope: Scope):
    return (
        statement.join(Customer, Customer.id == SurveyCampaign.customer_id)
        .join(Region, Region.id == Customer.region_id)
        .where(*filters.clauses(scope))
    )


def _submitted_rows(session: Session, scope: Scope, filters: ResultFilters) -> pd.DataFrame:
    statement = _with_campaign_joins(
        select(
            SurveyResponse.id.label("response_id"),
            SurveyCampaign.id.label("campaign_id"),
            SurveyCampaign.title.label("campaign"),
            SurveyCampaign.year_start,
            Customer.id.label("customer_id"),
            Customer.name.label("customer"),
            Customer.tier,
            Region.code.label("region"),
            EndUser.name.label("respondent"),
            User.name.label("interviewer"),
            SurveyResponse.interview_date,
            *(getattr(SurveyResponse, key) for key in SUS_KEYS),
            SurveyResponse.nps,
            SurveyResponse.csat,
            SurveyResponse.comments,
            SurveyResponse.submitted_at,
        )
        .select_from(SurveyResponse)
        .join(SurveyCampaign, SurveyCampaign.id == SurveyResponse.campaign_id)
        .join(EndUser, EndUser.id == SurveyResponse.end_user_id)
        .join(User, User.id == SurveyResponse.staff_id),
        filters,
        scope,
    ).where(SurveyResponse.status == "submitted")
    frame = pd.read_sql(
        statement.order_by(SurveyResponse.submitted_at.desc()), session.connection()
    )
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"], utc=True)
    frame["year_start"] = pd.to_datetime(frame["year_start"]).dt.date
    frame["interview_date"] = pd.to_datetime(frame["interview_date"]).dt.date
    frame["year"] = [year_start.year for year_start in frame["year_start"]]
    return with_sus_scores(frame)


def _invited(session: Session, scope: Scope, filters: ResultFilters) -> pd.DataFrame:
    """Invited end users per campaign (fixed when the campaign opened)."""
    statement = _with_campaign_joins(
        select(
            SurveyCampaign.id.label("campaign_id"),
            SurveyCampaign.year_start,
            SurveyCampaign.invited_count.label("invited"),
        ).select_from(SurveyCampaign),
        filters,
        scope,
    )
    frame = pd.read_sql(statement, session.connection())
    frame["year"] = pd.to_datetime(frame["year_start"]).dt.year
    return frame


def _item_distribution(session: Session, scope: Scope, filters: ResultFilters) -> pd.DataFrame:
    """Counts of each answer 1–5 to each SUS item, counted in the database; zeros filled in."""
    parts = []
    for number, key in enumerate(SUS_KEYS, start=1):
        column = getattr(SurveyResponse, key)
        parts.append(
            _with_campaign_joins(
                select(
                    literal(number).label("item"),
                    column.label("answer"),
                    func.count().label("count"),
                )
                .select_from(SurveyResponse)
                .join(SurveyCampaign, SurveyCampaign.id == SurveyResponse.campaign_id),
                filters,
                scope,
            )
            .where(SurveyResponse.status == "submitted", column.is_not(None))
            .group_by(column)
        )
    counted = pd.read_sql(union_all(*parts), session.connection())
    grid = pd.MultiIndex.from_product(
        [range(1, len(SUS_ITEMS) + 1), range(1, 6)], names=["item", "answer"]
    )
    frame = (
        counted.astype({"item": int, "answer": int, "count": int})
        .set_index(["item", "answer"])["count"]
        .reindex(grid, fill_value=0)
        .reset_index()
    )
    frame["statement"] = [SUS_ITEMS[item - 1] for item in frame["item"]]
    return frame[["item", "statement", "answer", "count"]]


def _summary(rows: pd.DataFrame, invited: int) -> dict[str, Any]:
    """The headline figures of some submitted responses, scored by the domain rules."""
    count = len(rows)
    summary: dict[str, Any] = {
        "responses": count,
        "invited": int(invited),
        "response_rate": 100 * count / invited if invited else None,
        "sus_mean": None,
        "sus_low": None,
        "sus_high": None,
        "sus_grade": None,
        "nps": None,
        "csat_pct": None,
    }
    if count == 0:
        return summary
    mean, low, high = mean_ci95([float(score) for score in rows["sus_score"]])
    summary.update(
        sus_mean=mean,
        sus_low=low,
        sus_high=high,
        sus_grade=sus_grade(mean),
        nps=nps(int(v) for v in rows["nps"]),
        csat_pct=csat_percent(int(v) for v in rows["csat"]),
    )
    return summary


def survey_results(
    *,
    session: Session,
    scope: Scope,
    customer_id: int | None = None,
    tier: str | None = None,
    region: str | None = None,
    campaign_id: int | None = None,
    year: int | None = None,
) -> SurveyResults:
    """Response rate, SUS mean with 95 % CI and grade, NPS and split, CSAT %, distributions."""
    filters = ResultFilters(customer_id, tier, region, campaign_id, year)
    rows = _submitted_rows(session, scope, filters)
    invited = int(_invited(session, scope, filters)["invited"].sum())
    summary = _summary(rows, invited)
    comments = rows.loc[
        rows["comments"].fillna("").str.strip() != "",
        ["customer", "campaign", "interview_date", "nps", "csat", "comments"],
    ].reset_index(drop=True)
    return SurveyResults(
        responses=summary["responses"],
        invited=summary["invited"],
        response_rate=summary["response_rate"],
        sus_mean=summary["sus_mean"],
        sus_ci=None if rows.empty else (summary["sus_low"], summary["sus_high"]),
        sus_grade=summary["sus_grade"],
        nps=summary["nps"],
        nps_split=nps_split(int(v) for v in rows["nps"]) if len(rows) else None,
        csat_pct=summary["csat_pct"],
        item_distribution=_item_distribution(session, scope, filters),
        comments=comments,
    )


_SUMMARY_COLUMNS = [
    "responses",
    "invited",
    "response_rate",
    "sus_mean",
    "sus_low",
    "sus_high",
    "sus_grade",
    "nps",
    "csat_pct",
]


def results_by_campaign(
    *,
    session: Session,
    scope: Scope,
    customer_id: int | None = None,
    tier: str | None = None,
    region: str | None = None,
    campaign_id: int | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """One row per campaign: customer, year and the headline figures."""
    filters = ResultFilters(customer_id, tier, region, campaign_id, year)
    campaigns = campaign_frame(session, filters.clauses(scope))
    rows = _submitted_rows(session, scope, filters)
    by_campaign = dict(tuple(rows.groupby("campaign_id")))  # one pass, not a scan per campaign
    none = rows.iloc[0:0]
    figures = [
        _summary(by_campaign.get(campaign, none), invited)
        for campaign, invited in zip(campaigns["id"], campaigns["invited"], strict=True)
    ]
    summary = pd.DataFrame(figures, columns=_SUMMARY_COLUMNS)
    return pd.concat(
        [
            campaigns[["id", "customer", "tier", "region", "title", "year"]].reset_index(drop=True),
            summary,
        ],
        axis=1,
    )


def results_by_year(
    *,
    session: Session,
    scope: Scope,
    customer_id: int | None = None,
    tier: str | None = None,
    region: str | None = None,
    campaign_id: int | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """The trend: one row per campaign year (the year its subscription year starts in)."""
    filters = ResultFilters(customer_id, tier, region, campaign_id, year)
    invited = _invited(session, scope, filters)
    rows = _submitted_rows(session, scope, filters)
    per_year = invited.groupby("year").agg(
        campaigns=("campaign_id", "count"), invited=("invited", "sum")
    )
    records = [
        {
            "year": int(year),
            "campaigns": int(row.campaigns),
            **_summary(rows[rows["year"] == year], int(row.invited)),
        }
        for year, row in per_year.iterrows()
    ]
    return pd.DataFrame(records, columns=["year", "campaigns", *_SUMMARY_COLUMNS])


def responses_export(
    *,
    session: Session,
    scope: Scope,
    customer_id: int | None = None,
    tier: str | None = None,
    region: str | None = None,
    campaign_id: int | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """The submitted responses behind the results, one row each, for a CSV download.

    The text is as typed; the download (`domain.csv_safe.csv_bytes`) quotes formula-like cells.
    """
    filters = ResultFilters(customer_id, tier, region, campaign_id, year)
    rows = _submitted_rows(session, scope, filters)
    columns = [
        "customer",
        "tier",
        "region",
        "campaign",
        "year_start",
        "respondent",
        "interviewer",
        "interview_date",
        *SUS_KEYS,
        "sus_score",
        "nps",
        "csat",
        "comments",
        "submitted_at",
    ]
    return rows[columns].copy()
