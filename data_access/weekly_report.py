"""Weekly report reads: a customer's enrolled production models and their figures per
Monday-to-Sunday week, at workspace, model, container (dashboard) or user granularity.

Every figure is aggregated by the database (GROUP BY entity and week); only the aggregated rows
reach pandas, which merely lines up this week beside the previous one. Which aggregate each data
point uses is `domain.weekly.DATA_POINTS`.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Date, and_, func, or_
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import Select
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, select

from data_access.models import (
    Customer,
    Dashboard,
    DashboardActivityDaily,
    EndUser,
    ModelMetricDaily,
    PlanningModel,
    TierPolicyRow,
    UserActivityDaily,
    Workspace,
)
from domain import weekly
from domain.weekly import DATA_POINTS, GRANULARITIES, MAX, MEAN, SUM, WEEK

_AGGREGATES = {SUM: func.sum, MEAN: func.avg, MAX: func.max}


class week_start_of(FunctionElement):  # noqa: N801 - reads like the SQL function it renders
    """The Monday of a DATE column's week, computed by the database (SQLite or PostgreSQL)."""

    type = Date()
    name = "week_start_of"
    inherit_cache = True


@compiles(week_start_of)
def _week_start_unsupported(element, compiler, **kw):
    raise CompileError(f"week_start_of has no rendering for {compiler.dialect.name}")


@compiles(week_start_of, "sqlite")
def _week_start_sqlite(element, compiler, **kw):
    # 'weekday 0' moves forward to the next Sunday (a Sunday stays put); six days back is Monday.
    return f"date({compiler.process(element.clauses, **kw)}, 'weekday 0', '-6 days')"


@compiles(week_start_of, "postgresql")
def _week_start_postgresql(element, compiler, **kw):
    # Via TIMESTAMP (not TIMESTAMPTZ) so the session's time zone cannot shift the day.
    column = compiler.process(element.clauses, **kw)
    return f"CAST(date_trunc('week', CAST({column} AS TIMESTAMP)) AS DATE)"


def weekly_report_cap(*, session: Session, customer_id: int) -> int:
    """How many models the customer's tier allows in the weekly report (0: no weekly report)."""
    statement = (
        select(TierPolicyRow.weekly_report_models_cap)
        .join(Customer, Customer.tier == TierPolicyRow.tier)
        .where(Customer.id == customer_id)
    )
    return int(session.exec(statement).first() or 0)


def enrolled_models(*, session: Session, customer_id: int) -> pd.DataFrame:
    """The customer's production models enrolled in the weekly report, oldest first.

    `reported` is False for models past the tier's cap: enrolment refuses to exceed it, but an
    edited tier policy can lower a cap below what is enrolled, and the report then shows only
    the first `cap` models rather than more than the tier includes.
    """
    statement = (
        select(
            PlanningModel.id,
            PlanningModel.name,
            PlanningModel.workspace_id,
            Workspace.name.label("workspace"),
        )
        .join(Workspace, Workspace.id == PlanningModel.workspace_id)
        .where(
            PlanningModel.customer_id == customer_id,
            PlanningModel.is_production,
            PlanningModel.in_weekly_report,
        )
        .order_by(PlanningModel.id)
    )
    frame = pd.read_sql(statement, session.connection())
    cap = weekly_report_cap(session=session, customer_id=customer_id)
    frame["reported"] = np.arange(len(frame)) < cap
    return frame


def _reported_model_ids(session: Session, customer_id: int) -> list[int]:
    models = enrolled_models(session=session, customer_id=customer_id)
    return [int(i) for i in models.loc[models["reported"], "id"]]


def _figures(table, points: tuple[str, ...]) -> list:
    return [
        _AGGREGATES[DATA_POINTS[point].aggregate](getattr(table, point)).label(point)
        for point in points
    ]


def _weekly_statement(
    granularity: str, customer_id: int, model_ids: list[int], windows: list[tuple[date, date]]
) -> Select:
    """One row per entity and week, over the days of the [first, end) `windows`."""
    points = GRANULARITIES[granularity].data_points
    if granularity in ("model", "workspace"):
        table = ModelMetricDaily
        entity = ModelMetricDaily.model_id if granularity == "model" else PlanningModel.workspace_id
        extra = (
            [func.count(func.distinct(ModelMetricDaily.model_id)).label("models")]
            if granularity == "workspace"
            else []
        )
        scope = [ModelMetricDaily.model_id.in_(model_ids)]
    elif granularity == "container":
        table = DashboardActivityDaily
        entity = DashboardActivityDaily.dashboard_id
        extra = []
        scope = [Dashboard.model_id.in_(model_ids)]
    else:
        table = UserActivityDaily
        entity = UserActivityDaily.end_user_id
        extra = [func.count(func.distinct(UserActivityDaily.model_id)).label("models")]
        # Led by the customer's end users so the (end_user_id, model_id, day) key is used.
        customer_users = select(EndUser.id).where(EndUser.customer_id == customer_id)
        scope = [
            UserActivityDaily.end_user_id.in_(customer_users),
            UserActivityDaily.model_id.in_(model_ids),
        ]
    week = week_start_of(table.day).label("week_start")
    statement = select(
        entity.label("entity_id"),
        week,
        func.count(func.distinct(table.day)).label("days"),
        *extra,
        *_figures(table, points),
    )
    if granularity == "workspace":
        statement = statement.join(PlanningModel, PlanningModel.id == ModelMetricDaily.model_id)
    elif granularity == "container":
        statement = statement.join(Dashboard, Dashboard.id == DashboardActivityDaily.dashboard_id)
    days = or_(*(and_(table.day >= first, table.day < end) for first, end in windows))
    return statement.where(*scope, days).group_by(entity, week)


def _weekly_rows(
    session: Session,
    customer_id: int,
    granularity: str,
    model_ids: list[int],
    windows: list[tuple[date, date]],
) -> pd.DataFrame:
    statement = _weekly_statement(granularity, customer_id, model_ids, windows)
    rows = pd.read_sql(statement, session.connection())
    rows["week_start"] = pd.to_datetime(rows["week_start"]).dt.date
    return rows


def _entities(
    session: Session, customer_id: int, granularity: str, user_ids: list[int] | None = None
) -> pd.DataFrame:
    """entity_id, entity and context (workspace, model or e-mail) of every entity reported."""
    models = enrolled_models(session=session, customer_id=customer_id)
    models = models[models["reported"]]
    if granularity == "model":
        return pd.DataFrame(
            {"entity_id": models["id"], "entity": models["name"], "context": models["workspace"]}
        )
    if granularity == "workspace":
        grouped = models.groupby(["workspace_id", "workspace"], as_index=False).size()
        return pd.DataFrame(
            {
                "entity_id": grouped["workspace_id"],
                "entity": grouped["workspace"],
                "context": None,
            }
        )
    if granularity == "container":
        statement = (
            select(
                Dashboard.id.label("entity_id"),
                Dashboard.name.label("entity"),
                PlanningModel.name.label("context"),
                Workspace.name.label("workspace"),
            )
            .join(PlanningModel, PlanningModel.id == Dashboard.model_id)
            .join(Workspace, Workspace.id == PlanningModel.workspace_id)
            .where(Dashboard.model_id.in_([int(i) for i in models["id"]]))
        )
    else:
        statement = select(
            EndUser.id.label("entity_id"),
            EndUser.name.label("entity"),
            EndUser.email.label("context"),
        ).where(EndUser.customer_id == customer_id, EndUser.id.in_(user_ids or []))
    return pd.read_sql(statement, session.connection())


def _check(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise ValueError(
            f"Granularity must be one of {', '.join(GRANULARITIES)}, not {granularity!r}."
        )


def _identity_columns(granularity: str) -> list[str]:
    """What names a row: a dashboard also carries its model's workspace (many models in many
    workspaces have an 'Executive summary')."""
    columns = ["entity_id", "entity", "context"]
    return [*columns, "workspace"] if granularity == "container" else columns


def _empty_report(granularity: str) -> pd.DataFrame:
    points = GRANULARITIES[granularity].data_points
    columns = [*_identity_columns(granularity), "days", "days_prev", "models"]
    for point in points:
        columns += [point, f"{point}_prev", f"{point}_change_pct"]
    return pd.DataFrame(columns=columns)


def _compared_rows(
    session: Session,
    customer_id: int,
    granularity: str,
    model_ids: list[int],
    week: date,
    today: date | None,
) -> pd.DataFrame:
    """The week's rows (up to `today`) and the previous week's over the same weekdays."""
    windows = list(weekly.comparison_days(week, today))
    return _weekly_rows(session, customer_id, granularity, model_ids, windows)


def weekly_report(
    *,
    session: Session,
    customer_id: int,
    week_start: date,
    granularity: str,
    today: date | None = None,
) -> pd.DataFrame:
    """One row per entity: the week's data points, the previous week's, and the change in %.

    Models, workspaces and dashboards without figures in a week show blanks (no data is not
    zero); a user appears when active in either week, and no activity rows there means zero
    (user activity is only written for active days). `days` counts days with figures.
    A week still running on `today` (the region's calendar day) is compared with the same
    weekdays of the week before, not with that whole week.
    """
    _check(granularity)
    week = weekly.week_start(week_start)
    model_ids = _reported_model_ids(session, customer_id)
    if not model_ids:
        return _empty_report(granularity)
    rows = _compared_rows(session, customer_id, granularity, model_ids, week, today)
    user_ids = [int(i) for i in rows["entity_id"].unique()] if granularity == "user" else None
    frame = _entities(session, customer_id, granularity, user_ids)
    current = rows[rows["week_start"] == week].drop(columns="week_start")
    previous = rows[rows["week_start"] == week - WEEK].drop(columns="week_start")
    frame = frame.merge(current, how="left", on="entity_id").merge(
        previous.drop(columns="models", errors="ignore"),
        how="left",
        on="entity_id",
        suffixes=("", "_prev"),
    )
    points = GRANULARITIES[granularity].data_points
    if granularity == "user":
        counts = ["days", "days_prev", "models", *points, *(f"{p}_prev" for p in points)]
        frame[counts] = frame[counts].fillna(0).astype(int)
    if "models" not in frame:
        frame["models"] = np.nan
    for point in points:
        frame[f"{point}_change_pct"] = pd.Series(
            weekly.change_percents(frame[point], frame[f"{point}_prev"]),
            index=frame.index,
            dtype=float,
        )
    ordered = [*_identity_columns(granularity), "days", "days_prev", "models"]
    for point in points:
        ordered += [point, f"{point}_prev", f"{point}_change_pct"]
    return frame[ordered].sort_values(["entity", "entity_id"], ignore_index=True)


def model_totals(
    *, session: Session, customer_id: int, week_start: date, today: date | None = None
) -> dict[str, float | None]:
    """The reported models' own weekly totals of the summed data points (times accessed,
    changes): what every granularity's rows are reconciled against. None when no figures."""
    summed = [p for p in GRANULARITIES["model"].data_points if DATA_POINTS[p].aggregate == SUM]
    model_ids = _reported_model_ids(session, customer_id)
    if not model_ids:
        return dict.fromkeys(summed)
    (first, end), _ = weekly.comparison_days(week_start, today)
    statement = select(*(func.sum(getattr(ModelMetricDaily, p)).label(p) for p in summed)).where(
        ModelMetricDaily.model_id.in_(model_ids),
        ModelMetricDaily.day >= first,
        ModelMetricDaily.day < end,
    )
    row = session.exec(statement).one()
    return {
        p: None if value is None else float(value) for p, value in zip(summed, row, strict=True)
    }


def weekly_trend(
    *, session: Session, customer_id: int, granularity: str, end_week: date, weeks: int = 12
) -> pd.DataFrame:
    """One row per entity and week with figures, for the `weeks` weeks ending with `end_week`.

    Weeks without figures have no row (a chart line breaks there rather than dropping to zero).
    """
    _check(granularity)
    first, end = weekly.trend_window(end_week, weeks)
    model_ids = _reported_model_ids(session, customer_id)
    points = GRANULARITIES[granularity].data_points
    columns = [*_identity_columns(granularity), "week_start", "days", *points]
    if not model_ids:
        return pd.DataFrame(columns=columns)
    rows = _weekly_rows(session, customer_id, granularity, model_ids, [(first, end)])
    user_ids = [int(i) for i in rows["entity_id"].unique()] if granularity == "user" else None
    entities = _entities(session, customer_id, granularity, user_ids)
    trend = entities.merge(rows, on="entity_id", how="inner")
    return trend[columns].sort_values(["entity", "entity_id", "week_start"], ignore_index=True)
