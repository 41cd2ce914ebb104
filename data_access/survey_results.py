"""Adoption-survey results: response rate, SUS with its 95 % interval and grade, NPS, CSAT and the
answer distributions, over the submitted responses of the campaigns in scope.

The figures are scored by the rules in `domain.surveys`; a response counts once it is submitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, literal, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from data_access.models import (
    SURVEY_TALLY_COUNTS,
    Customer,
    EndUser,
    Region,
    SurveyCampaign,
    SurveyResponse,
    User,
    survey_tally,
)
from data_access.scope import Scope
from data_access.survey_campaigns import (
    RESPONDENT_STATUS_LABELS,
    SUS_KEYS,
    campaign_frame,
    plain_frame,
)
from domain.paging import page_count, span
from domain.surveys import (
    NPS_SPLIT_COLUMNS,
    SCORE_COLUMNS,
    SUM_COLUMNS,
    SUS_ITEMS,
    SUS_OFFSET,
    SUS_SIGNS,
    group_totals,
    scores_from_sums,
    sus_scores,
)


def campaigns_in_scope(*, session: Session, scope: Scope) -> pd.DataFrame:
    """Every campaign of the customers this scope sees, newest year first."""
    return campaign_frame(session, [scope.customer_filter()])


def with_sus_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds `sus_score` for rows whose ten items are all answered (NaN otherwise), scored for
    all rows at once (`domain.surveys.sus_scores`)."""
    frame["sus_score"] = sus_scores(frame[list(SUS_KEYS)].to_numpy(dtype=float, na_value=np.nan))
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

    def across_years(self) -> ResultFilters:
        """The same customers, every campaign of theirs: what the trend across years covers."""
        return ResultFilters(customer_id=self.customer_id, tier=self.tier, region=self.region)


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
        statement.order_by(SurveyResponse.submitted_at.desc(), SurveyResponse.id.desc()),
        session.connection(),
    )
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"], utc=True)
    frame["year_start"] = pd.to_datetime(frame["year_start"]).dt.date
    frame["interview_date"] = pd.to_datetime(frame["interview_date"]).dt.date
    frame["year"] = [year_start.year for year_start in frame["year_start"]]
    return with_sus_scores(frame)


ANSWER_COUNT_COLUMNS: tuple[str, ...] = tuple(
    f"{key}_{answer}" for key in SUS_KEYS for answer in range(1, 6)
)
"""`sus_3_5`: how many responses answered 5 to SUS item 3; what the answer distribution is
counted from."""

_COMPLETE = (survey_tally.c.csat_answers == survey_tally.c.responses) & (
    sum(survey_tally.c[name] for name in ANSWER_COUNT_COLUMNS) == 10 * survey_tally.c.responses
)
"""A campaign's submitted responses answer every SUS item and CSAT within range: each response
counts once in at most one bucket of each item, so the 50 buckets add up to ten per response
only if every item of every response is counted."""


_HAS_COMMENT = SurveyResponse.comments.is_not(None) & (func.trim(SurveyResponse.comments) != "")
"""A response with a comment: blank ones are left out (the survey commands store comments
stripped)."""


def _sus_points() -> ColumnElement[int]:
    """A response's SUS points (its score / 2.5) in SQL, by the signs and offset of
    `domain.surveys`."""
    points: ColumnElement[int] = literal(SUS_OFFSET)
    for sign, key in zip(SUS_SIGNS, SUS_KEYS, strict=True):
        answer = getattr(SurveyResponse, key)
        points = points + answer if sign > 0 else points - answer
    return points


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows of the group meet `condition`: `count(*) FILTER (WHERE …)`."""
    return func.count().filter(condition)


def recounted_tallies(*, session: Session) -> pd.DataFrame:
    """`survey_tally` as the stored responses give it, summed again from every response by the
    rules of `domain.surveys`: one row per campaign with a response (index `campaign_id`), the
    columns of `SURVEY_TALLY_COUNTS`. What the triggers keep must equal this (the tests check
    it); an operator can compare the two after writing responses behind the app's back."""
    points = _sus_points()
    submitted = SurveyResponse.status == "submitted"
    nps, csat = SurveyResponse.nps, SurveyResponse.csat
    counted = {
        "drafts": _count_where(SurveyResponse.status == "draft"),
        "responses": _count_where(submitted),
        "sus_points": func.coalesce(func.sum(points).filter(submitted), 0),
        "sus_squares": func.coalesce(func.sum(points * points).filter(submitted), 0),
        "promoters": _count_where(submitted & (nps >= 9)),
        "passives": _count_where(submitted & nps.between(7, 8)),
        "detractors": _count_where(submitted & nps.between(0, 6)),
        "satisfied": _count_where(submitted & (csat >= 4)),
        "csat_answers": _count_where(submitted & csat.between(1, 5)),
        "comments": _count_where(submitted & _HAS_COMMENT),
        **{
            f"{key}_{answer}": _count_where(submitted & (getattr(SurveyResponse, key) == answer))
            for key in SUS_KEYS
            for answer in range(1, 6)
        },
    }
    statement = (
        select(
            SurveyResponse.campaign_id,
            *(counted[name].label(name) for name in SURVEY_TALLY_COUNTS),
        )
        .group_by(SurveyResponse.campaign_id)
        .order_by(SurveyResponse.campaign_id)
    )
    rows = session.connection().execute(statement).all()
    return pd.DataFrame(
        [row[1:] for row in rows],
        columns=list(SURVEY_TALLY_COUNTS),
        index=pd.Index([row[0] for row in rows], name="campaign_id"),
        dtype=np.int64,
    )


def _campaign_sums(session: Session, scope: Scope, filters: ResultFilters) -> pd.DataFrame:
    """What the figures need of the submitted responses of each campaign under `filters`: one
    row per campaign with responses (index `campaign_id`), the `domain.surveys.SUM_COLUMNS`.

    They are read from `survey_tally`, one row per campaign, which triggers keep as responses
    are written: summing 2,000 customers' 14,000 responses here on every run was most of the
    results page's time, and grew with every year of responses (the answers themselves are
    read only for the comments shown, `comment_page`, or downloaded, `responses_export`; the
    answer distribution is summed by `_answer_counts`). Tricky edge: a submitted response with
    an answer missing or out of range counts in no bucket of its item; such sums are refused
    with ValueError naming the campaign."""
    statement = _with_campaign_joins(
        select(
            SurveyCampaign.id.label("campaign_id"),
            *(survey_tally.c[name] for name in SUM_COLUMNS),
            _COMPLETE.label("complete"),
        )
        .select_from(survey_tally)
        .join(SurveyCampaign, SurveyCampaign.id == survey_tally.c.campaign_id),
        filters,
        scope,
    ).where(survey_tally.c.responses > 0)
    result = session.connection().execute(statement.order_by(SurveyCampaign.id))
    columns = list(result.keys())
    table = np.array(result.cursor.fetchall(), dtype=np.int64).reshape(-1, len(columns))
    result.close()
    complete = table[:, -1].astype(bool)
    if not complete.all():
        campaign = int(table[np.flatnonzero(~complete)[0], 0])
        raise ValueError(
            f"Campaign {campaign} has a submitted response with an answer missing or out of range."
        )
    return pd.DataFrame(
        table[:, 1:-1], columns=list(SUM_COLUMNS), index=pd.Index(table[:, 0], name="campaign_id")
    )


_ANSWER_SUMS = tuple(
    func.coalesce(func.sum(survey_tally.c[name]), 0) for name in ANSWER_COUNT_COLUMNS
)
"""`_answer_counts`' columns, built once (making the 50 sums took 7 ms a call)."""


def _answer_counts(session: Session, scope: Scope, filters: ResultFilters) -> np.ndarray:
    """How many submitted responses of the campaigns under `filters` gave each answer to each
    SUS item: the `ANSWER_COUNT_COLUMNS` summed by the database over their `survey_tally` rows
    (reading the 50 counts of a thousand campaigns cost ten times their sum)."""
    statement = _with_campaign_joins(
        select(*_ANSWER_SUMS)
        .select_from(survey_tally)
        .join(SurveyCampaign, SurveyCampaign.id == survey_tally.c.campaign_id),
        filters,
        scope,
    )
    return np.array(session.connection().execute(statement).one(), dtype=np.int64)


COMMENTS_PAGE = 50
"""Comments the results page shows at a time, newest first."""


def _comment_statement(scope: Scope, filters: ResultFilters, search: str = ""):
    """The submitted responses under `filters` with a comment (blank ones are left out: the
    survey commands store comments stripped), and, when `search` is not blank, whose comment or
    customer name contains it, ignoring case."""
    statement = _with_campaign_joins(
        select(
            Customer.name.label("customer"),
            SurveyCampaign.title.label("campaign"),
            SurveyResponse.interview_date,
            SurveyResponse.nps,
            SurveyResponse.csat,
            SurveyResponse.comments,
        )
        .select_from(SurveyResponse)
        .join(SurveyCampaign, SurveyCampaign.id == SurveyResponse.campaign_id),
        filters,
        scope,
    ).where(SurveyResponse.status == "submitted", _HAS_COMMENT)
    needle = search.strip().lower()
    if needle:
        statement = statement.where(
            or_(
                func.lower(SurveyResponse.comments).contains(needle, autoescape=True),
                func.lower(Customer.name).contains(needle, autoescape=True),
            )
        )
    return statement


def _comment_frame(session: Session | None, statement) -> pd.DataFrame:
    """The comments `statement` (`_comment_statement`) lists, newest first; with no session,
    none of them: the same columns, read from the statement, with no round trip."""
    if session is None:
        frame = pd.DataFrame(columns=list(statement.selected_columns.keys()))
    else:
        frame = plain_frame(
            session,
            statement.order_by(SurveyResponse.submitted_at.desc(), SurveyResponse.id.desc()),
        )
    frame["interview_date"] = pd.to_datetime(frame["interview_date"]).dt.date
    return frame


@dataclass(frozen=True)
class CommentPage:
    """One page of comments (`comment_page`): `rows`, page `page` (from 0) of `pages`, out of
    `total` comments in all."""

    rows: pd.DataFrame
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.page_size)

    def span(self, page: int) -> tuple[int, int]:
        """The positions of page `page`'s first and last rows in all the comments, from 1
        ((0, 0) when there are none)."""
        return span(page, self.page_size, self.total)

    @property
    def first(self) -> int:
        """The first row's position in all the comments, from 1 (0 when there are none)."""
        return self.span(self.page)[0]

    @property
    def last(self) -> int:
        return self.span(self.page)[1]


def comment_page(
    *,
    session: Session,
    scope: Scope,
    filters: ResultFilters,
    search: str = "",
    page: int = 0,
    page_size: int | None = None,
) -> CommentPage:
    """Page `page` (from 0; past the end, the last page) of the comments `survey_results` lists
    under `filters`, newest first, narrowed to those whose comment or customer name contains
    `search` (ignoring case), and how many there are in all; `page_size` is `COMMENTS_PAGE`
    unless given. Only the page's rows are read (2,000 customers have about 8,500 comments).
    The rows' columns are those of `SurveyResults.comments`: customer, campaign,
    interview_date, nps, csat, comments.
    """
    page_size = page_size or COMMENTS_PAGE
    statement = _comment_statement(scope, filters, search)
    if search.strip():
        total = int(session.exec(select(func.count()).select_from(statement.subquery())).one())
    else:  # the campaigns' tallies: counting 8,500 comments again was most of this read
        total = int(
            session.exec(
                _with_campaign_joins(
                    select(func.coalesce(func.sum(survey_tally.c.comments), 0))
                    .select_from(survey_tally)
                    .join(SurveyCampaign, SurveyCampaign.id == survey_tally.c.campaign_id),
                    filters,
                    scope,
                )
            ).one()
        )
    page = min(max(page, 0), max(0, (total - 1) // page_size))
    rows = _comment_frame(session, statement.limit(page_size).offset(page * page_size))
    return CommentPage(rows, total, page, page_size)


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


def _item_distribution(counts: np.ndarray) -> pd.DataFrame:
    """Counts of each answer 1–5 to each SUS item (`_answer_counts`); zeros included."""
    grid = [(item, answer) for item in range(1, len(SUS_ITEMS) + 1) for answer in range(1, 6)]
    frame = pd.DataFrame(grid, columns=["item", "answer"])
    frame["count"] = counts
    frame["statement"] = [SUS_ITEMS[item - 1] for item in frame["item"]]
    return frame[["item", "statement", "answer", "count"]]


_SUMMARY_COLUMNS = [
    "responses",
    "invited",
    "response_rate",
    *(c for c in SCORE_COLUMNS if c != "responses" and c not in NPS_SPLIT_COLUMNS),
]
"""Responses and the response rate, then the scores of `domain.surveys` without the NPS split."""


def _scores(sums: pd.DataFrame, groups: pd.Series | np.ndarray) -> pd.DataFrame:
    """The figures of each group of campaigns (`groups`: one key per row of `sums`,
    `_campaign_sums`), by `domain.surveys`; indexed by group, sorted."""
    columns = list(SUM_COLUMNS)
    keys, totals = group_totals(sums[columns].to_numpy(dtype=np.int64), np.asarray(groups))
    return scores_from_sums(pd.DataFrame(totals, columns=columns, index=keys))


def _summaries(scores: pd.DataFrame, groups: pd.Series, invited: pd.Series) -> pd.DataFrame:
    """The _SUMMARY_COLUMNS of each of `groups` (keys of `scores`, `_scores`) with its
    `invited` end users: None for the figures of a group without responses (no groups: no
    rows, every column of type object, as a frame of no records)."""
    if groups.empty:
        return pd.DataFrame(columns=_SUMMARY_COLUMNS)
    found = scores.reindex(groups.to_numpy())
    answered = found["responses"].notna().to_numpy()
    responses = found["responses"].fillna(0).to_numpy(dtype=np.int64)
    invited = invited.to_numpy(dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = 100 * responses / invited

    def shown(values: list[Any], where: np.ndarray) -> list[Any]:
        return [value if ok else None for value, ok in zip(values, where, strict=True)]

    return pd.DataFrame(
        {
            "responses": responses,
            "invited": invited,
            "response_rate": shown(rates.tolist(), invited > 0),
            **{
                column: shown(found[column].tolist(), answered)
                for column in ("sus_mean", "sus_low", "sus_high", "sus_grade", "nps", "csat_pct")
            },
        },
        columns=_SUMMARY_COLUMNS,
    )


def _results(
    sums: pd.DataFrame, invited: int, answer_counts: np.ndarray, comments: pd.DataFrame
) -> SurveyResults:
    """The results of the campaigns' sums (`_campaign_sums`) with `invited` end users and
    their answer counts (`_answer_counts`)."""
    responses = int(sums["responses"].sum())
    figures = (
        {
            # math.nan itself for a bound that does not exist, as `domain.surveys.mean_ci95`
            name: math.nan if isinstance(value, float) and math.isnan(value) else value
            for name, value in _scores(sums, np.zeros(len(sums), dtype=np.int64))
            .iloc[0]
            .to_dict()
            .items()
        }
        if responses
        else None
    )

    def figure(name: str) -> Any:
        return None if figures is None else figures[name]

    return SurveyResults(
        responses=responses,
        invited=int(invited),
        response_rate=100 * responses / invited if invited else None,
        sus_mean=figure("sus_mean"),
        sus_ci=None if figures is None else (figures["sus_low"], figures["sus_high"]),
        sus_grade=figure("sus_grade"),
        nps=figure("nps"),
        nps_split=None
        if figures is None
        else {
            "responses": responses,
            **{key: figures[key] for key in NPS_SPLIT_COLUMNS},
        },
        csat_pct=figure("csat_pct"),
        item_distribution=_item_distribution(answer_counts),
        comments=comments,
    )


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
    return _results(
        _campaign_sums(session, scope, filters),
        int(_invited(session, scope, filters)["invited"].sum()),
        _answer_counts(session, scope, filters),
        _comment_frame(session, _comment_statement(scope, filters)),
    )


def _by_campaign(campaigns: pd.DataFrame, sums: pd.DataFrame) -> pd.DataFrame:
    """One row per campaign of `campaign_frame`, with the figures of its sums
    (`_campaign_sums`)."""
    summary = _summaries(scores_from_sums(sums), campaigns["id"], campaigns["invited"])
    return pd.concat(
        [
            campaigns[["id", "customer", "tier", "region", "title", "year"]].reset_index(drop=True),
            summary,
        ],
        axis=1,
    )


def _by_year(invited: pd.DataFrame, sums: pd.DataFrame) -> pd.DataFrame:
    """One row per campaign year of `invited` (campaign_id, year, invited per campaign), with
    the figures of the sums (`_campaign_sums`) of that year's campaigns."""
    if invited.empty:
        return pd.DataFrame(columns=["year", "campaigns", *_SUMMARY_COLUMNS])
    year_of = invited["year"].to_numpy(dtype=np.int64)
    ones = np.ones((len(invited), 1), dtype=np.int64)
    counted = np.hstack([ones, invited[["invited"]].to_numpy(dtype=np.int64)])
    years, totals = group_totals(counted, year_of)
    campaigns, invited_per_year = totals.T
    year_by_campaign = pd.Series(year_of, index=invited["campaign_id"].to_numpy())
    summary = _summaries(
        _scores(sums, year_by_campaign.reindex(sums.index).to_numpy()),
        pd.Series(years),
        pd.Series(invited_per_year),
    )
    return pd.concat(
        [
            pd.DataFrame({"year": years, "campaigns": campaigns}),
            summary,
        ],
        axis=1,
    )


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
    return _by_campaign(
        campaign_frame(session, filters.clauses(scope)), _campaign_sums(session, scope, filters)
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
    return _by_year(_invited(session, scope, filters), _campaign_sums(session, scope, filters))


@dataclass(frozen=True)
class ScoredResponses:
    """Campaigns (`campaign_frame`) and the sums of their submitted responses
    (`_campaign_sums`): what the results, the per-campaign table and the trend are counted from."""

    campaigns: pd.DataFrame
    sums: pd.DataFrame

    def narrowed(self, filters: ResultFilters) -> ScoredResponses:
        """Only the campaigns that `filters` choose (by customer, tier, region, campaign and
        year, where chosen) and their responses."""
        campaigns = self.campaigns
        for column, chosen in (
            ("customer_id", filters.customer_id),
            ("tier", filters.tier),
            ("region", filters.region),
            ("id", filters.campaign_id),
            ("year", filters.year),
        ):
            if chosen is not None:
                campaigns = campaigns[campaigns[column] == chosen]
        return ScoredResponses(campaigns, self.sums[self.sums.index.isin(campaigns["id"])])


def scored_responses(
    *,
    session: Session,
    scope: Scope,
    filters: ResultFilters,
    campaigns: pd.DataFrame | None = None,
) -> ScoredResponses:
    """The campaigns under `filters` and the sums of their submitted responses.

    `campaigns` are the scope's (`campaigns_in_scope`) when the caller has read them already:
    they are narrowed to `filters` here rather than read again (the page lists them for its
    filters; reading them twice was 11 ms of 2,000 customers' page)."""
    if campaigns is None:
        campaigns = campaign_frame(session, filters.clauses(scope))
    return ScoredResponses(campaigns, _campaign_sums(session, scope, filters)).narrowed(filters)


@dataclass(frozen=True)
class SurveyOverview:
    """What the survey results page shows for one choice of filters."""

    results: SurveyResults  # `survey_results` under the filters
    per_campaign: pd.DataFrame  # `results_by_campaign` under the filters
    trend: pd.DataFrame  # `results_by_year` under `filters.across_years()`


def survey_overview(
    *,
    session: Session,
    scope: Scope,
    filters: ResultFilters,
    scored: ScoredResponses | None = None,
    comments: bool = True,
) -> SurveyOverview:
    """The results, the per-campaign table and the trend across years, counted from one read of
    the campaigns and their responses' sums under `filters.across_years()` (`scored`, when the
    caller has it; read here otherwise), narrowed here to the campaign and year chosen. Reading
    the same responses again for each of the three was two thirds of the page's database time
    on 2,000 customers. Only the answer distribution (one row of sums, `_answer_counts`) and
    the comments are read under every filter; `comments=False` leaves
    `results.comments` empty, for a caller that reads them a page at a time (`comment_page`).
    """
    if scored is None:
        scored = scored_responses(session=session, scope=scope, filters=filters.across_years())
    chosen = scored.narrowed(filters)
    return SurveyOverview(
        results=_results(
            chosen.sums,
            int(chosen.campaigns["invited"].sum()),
            _answer_counts(session, scope, filters),
            _comment_frame(session if comments else None, _comment_statement(scope, filters)),
        ),
        per_campaign=_by_campaign(chosen.campaigns, chosen.sums),
        trend=_by_year(scored.campaigns.rename(columns={"id": "campaign_id"}), scored.sums),
    )


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
