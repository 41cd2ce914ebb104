"""SLA attainment over a period: first-response targets met, resolution time against guidelines.

The one place attainment is computed; the queue's summary strip and the QBR both read it here.

The period selects cases by when they were OPENED, in [start, end). Every case is judged against
the tier in force when it opened (`cases_at_opening`): a customer who upgraded last month is not
judged on older cases by the new tier's tighter targets.

First response is counted in SQL (`first_response_by_tier`), so the queue can afford it on a
million cases: the clock stops at the first public reply, or at the solve without one, and a
reply at exactly the target is met. Deadlines are computed exactly on both engines; SQLite's
`julianday` arithmetic made 60.000000447 minutes of a 60-minute reply, so it is not used.
Resolution is measured with `domain.clocks.compute_clocks` (business minutes of the region
calendar, pending-customer time left out, cases ever transferred to L2/L3 excluded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import (
    Date,
    Select,
    Subquery,
    and_,
    bindparam,
    func,
    null,
    or_,
    union_all,
)
from sqlalchemy import case as sql_case
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, select

from data_access.calendars import region_calendars
from data_access.cases import cases_where, events_where, with_clocks
from data_access.models import Case, Customer, TierChange, TierPolicyRow
from data_access.policies import tier_labels, tier_policies
from data_access.scope import Scope
from domain.lifecycle import RESOLVED_STATUSES, STATUSES

SEVERITIES = (1, 2, 3, 4)
_FLOATS = ("_pct", "_days", "_minutes")
FIRST_RESPONSE_COLUMNS = (
    "fr_cases",
    "fr_measured",
    "fr_met",
    "sev1_cases",
    "sev1_measured",
    "sev1_met",
)


@dataclass(frozen=True)
class Attainment:
    """SLA results for the cases opened in [start, end); percentages are 0-100, None if no data.

    First response (severity 2-4): `first_response_measured` cases whose clock has stopped or run
    out (met or breached); cases still inside their target are `first_response_pending`.
    Severity 1 has no target ("respond now"): it is measured against the internal goal
    (`sev1_*`), and `sev1_median_reply_minutes` is the median time from opening to the first
    public reply of those answered. Resolution: solved or closed cases, less those ever
    transferred to L2/L3, in business days of the customer's region calendar with
    pending-customer time left out. `resolution_guideline_days` is the tiers' guideline when all
    measured cases share one, else None.
    """

    start: datetime
    end: datetime
    cases_opened: int
    cases_by_severity: dict[int, int] = field(hash=False)
    first_response_measured: int
    first_response_met: int
    first_response_pending: int
    first_response_met_pct: float | None
    sev1_measured: int
    sev1_goal_met: int
    sev1_goal_met_pct: float | None
    sev1_replied: int
    sev1_median_reply_minutes: float | None
    resolved: int
    resolution_excluded_transferred: int
    resolution_measured: int
    resolution_median_days: float | None
    resolution_p90_days: float | None
    resolution_within_guideline: int
    resolution_within_guideline_pct: float | None
    resolution_guideline_days: float | None


def attainment(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    customer_id: int | None = None,
    tier: str | None = None,
    scope: Scope | None = None,
    now: datetime | None = None,
) -> Attainment:
    """Attainment of the cases opened in [start, end), optionally for one customer or one tier
    (the tier in force when each case opened).

    `scope` limits the customers to a viewer's portfolio (None: every customer). Clocks still
    running are measured at `now` (default: the current time).
    """
    return attainments(
        session=session,
        periods=[(start, end)],
        customer_id=customer_id,
        tier=tier,
        scope=scope,
        now=now,
    )[0]


def attainments(
    *,
    session: Session,
    periods: Sequence[tuple[datetime, datetime]],
    customer_id: int | None = None,
    tier: str | None = None,
    scope: Scope | None = None,
    now: datetime | None = None,
) -> list[Attainment]:
    """`attainment` of each [start, end) period (a quarter and the previous one), the cases of
    all of them read and clocked once."""
    now = datetime.now(UTC) if now is None else now
    outcomes = case_outcomes(
        session=session,
        start=min(start for start, _ in periods),
        end=max(end for _, end in periods),
        customer_id=customer_id,
        scope=scope,
        now=now,
    )
    if tier is not None:
        outcomes = outcomes[outcomes["tier"] == tier]
    results = []
    for start, end in periods:
        responses = first_response_by_tier(
            session=session, start=start, end=end, now=now, customer_id=customer_id, scope=scope
        )
        if tier is not None:
            responses = responses[responses.index == tier]
        opened = (outcomes["opened_at"] >= start) & (outcomes["opened_at"] < end)
        results.append(_summarise(outcomes[opened], responses.sum(), start, end))
    return results


def attainment_by_tier(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    customer_id: int | None = None,
    scope: Scope | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """One row per tier (every tier policy, even without cases): tier, tier_label, the tier's
    first-response target and resolution guideline, then the `Attainment` fields."""
    now = datetime.now(UTC) if now is None else now
    outcomes = case_outcomes(
        session=session, start=start, end=end, customer_id=customer_id, scope=scope, now=now
    )
    responses = first_response_by_tier(
        session=session, start=start, end=end, now=now, customer_id=customer_id, scope=scope
    )
    policies = tier_policies(session=session)
    labels = tier_labels(session=session)
    order = sorted(policies, key=lambda name: -policies[name].first_response_minutes)
    rows = []
    for name in order:
        summary = asdict(
            _summarise(
                outcomes[outcomes["tier"] == name],
                responses[responses.index == name].sum(),
                start,
                end,
            )
        )
        by_severity = summary.pop("cases_by_severity")
        rows.append(
            {
                "tier": name,
                "tier_label": labels.get(name, name),
                "first_response_target_minutes": policies[name].first_response_minutes,
                "sev1_goal_minutes": policies[name].sev1_goal_minutes,
                **summary,
                "resolution_guideline_days": policies[name].resolution_business_days,
                **{f"sev{level}": by_severity[level] for level in SEVERITIES},
            }
        )
    frame = pd.DataFrame(rows).drop(columns=["start", "end"])
    return frame.astype({column: float for column in frame.columns if column.endswith(_FLOATS)})


def first_response_by_tier(
    *,
    session: Session,
    start: datetime,
    now: datetime,
    end: datetime | None = None,
    customer_id: int | None = None,
    scope: Scope | None = None,
) -> pd.DataFrame:
    """First-response counts of the cases opened in [start, end) (end None: no upper bound),
    counted in SQL, indexed by the tier in force when each case opened.

    Columns: fr_cases, fr_measured, fr_met for severity 2-4 against the tier's target, and
    sev1_cases, sev1_measured, sev1_met for severity 1 against the internal goal. The rule: the
    clock stops at the first public reply, or at the solve without one; a stopped clock is met
    when it stopped no later than opened_at + target (a reply at exactly the target is met); a
    running clock counts as measured (breached) once `now` is past the target.
    """
    if start.tzinfo is None or now.tzinfo is None or (end is not None and end.tzinfo is None):
        raise ValueError("`start`, `end` and `now` must be time-zone-aware datetimes.")
    conditions = [
        # Every status is listed so the (status, opened_at) index serves the date range.
        Case.status.in_(STATUSES),
        Case.opened_at >= start,
    ]
    if end is not None:
        conditions.append(Case.opened_at < end)
    if customer_id is not None:
        conditions.append(Case.customer_id == customer_id)
    if scope is not None:
        conditions.append(scope.customer_filter())
    opened = cases_at_opening(
        Case.severity,
        Case.opened_at,
        func.coalesce(Case.first_response_at, Case.solved_at).label("stopped_at"),
        where=and_(*conditions),
        customer_id=customer_id,
    ).subquery()
    severity_1 = opened.c.severity == 1
    target_minutes = sql_case(
        (severity_1, TierPolicyRow.sev1_goal_minutes),
        else_=TierPolicyRow.first_response_minutes,
    )
    due = _minutes_after(opened.c.opened_at, target_minutes)
    now_param = bindparam("now", now, type_=Case.__table__.c.opened_at.type)
    stopped = opened.c.stopped_at.is_not(None)
    measured = or_(stopped, _exact(now_param) > due)
    met = and_(stopped, _exact(opened.c.stopped_at) <= due)
    is_sev1 = sql_case((severity_1, 1), else_=0).label("is_sev1")
    statement = (
        select(
            opened.c.tier,
            is_sev1,
            func.count().label("cases"),
            func.sum(sql_case((measured, 1), else_=0)).label("measured"),
            func.sum(sql_case((met, 1), else_=0)).label("met"),
        )
        .select_from(opened)
        .join(TierPolicyRow, TierPolicyRow.tier == opened.c.tier)
        .group_by(opened.c.tier, is_sev1)
    )
    rows = pd.read_sql(statement, session.connection())
    frame = pd.DataFrame(
        0, index=pd.Index(rows["tier"].unique(), name="tier"), columns=FIRST_RESPONSE_COLUMNS
    )
    for row in rows.itertuples(index=False):
        prefix = "sev1" if row.is_sev1 else "fr"
        for measure in ("cases", "measured", "met"):
            frame.loc[row.tier, f"{prefix}_{measure}"] = int(getattr(row, measure))
    return frame.astype(int)


def cases_at_opening(
    *columns: ColumnElement, where: ColumnElement[bool], customer_id: int | None = None
) -> Select:
    """SELECT `columns` and `tier`, the tier in force when each case opened, of the cases
    matching `where` (a clause on `Case` and `Customer`). When they are one customer's, pass
    `customer_id` too, so that only that customer's tier history is read (every customer's took
    three quarters of the QBR's attainment queries on 2,000 customers).

    The customer's tier history says which tier applies from which day (`effective_on`, a UTC
    day, as entitlements count it): the latest change on or before the case's opening day.
    Edge case: a case older than the first recorded change takes that change's `from_tier` (or
    its `to_tier` for the creation row); no history at all means the current tier. The history
    is joined as periods [valid_from, valid_to), not looked up per case, so a week of a
    million-case desk costs one pass.
    """
    periods = _tier_periods(customer_id)
    opened_on = _utc_date(Case.opened_at)
    return (
        select(*columns, func.coalesce(periods.c.tier, Customer.tier).label("tier"))
        .select_from(Case)
        .join(Customer, Customer.id == Case.customer_id)
        .outerjoin(
            periods,
            and_(
                periods.c.customer_id == Case.customer_id,
                or_(periods.c.valid_from.is_(None), periods.c.valid_from <= opened_on),
                or_(periods.c.valid_to.is_(None), opened_on < periods.c.valid_to),
            ),
        )
        .where(where)
    )


def _tier_periods(customer_id: int | None = None) -> Subquery:
    """Each customer's tier history as periods: customer_id, valid_from, valid_to, tier (only
    `customer_id`'s when given).

    One period per change, from its day to the next change's (two changes on one day leave the
    earlier an empty period), plus one before the first change, open at the start.
    """
    order = (TierChange.effective_on, TierChange.id)
    history = select(
        TierChange.customer_id,
        TierChange.effective_on,
        func.lead(TierChange.effective_on)
        .over(partition_by=TierChange.customer_id, order_by=order)
        .label("next_on"),
        func.row_number()
        .over(partition_by=TierChange.customer_id, order_by=order)
        .label("position"),
        TierChange.from_tier,
        TierChange.to_tier,
    )
    if customer_id is not None:
        history = history.where(TierChange.customer_id == customer_id)
    changes = history.subquery()
    in_force = select(
        changes.c.customer_id,
        changes.c.effective_on.label("valid_from"),
        changes.c.next_on.label("valid_to"),
        changes.c.to_tier.label("tier"),
    )
    before_history = select(
        changes.c.customer_id,
        null().label("valid_from"),
        changes.c.effective_on.label("valid_to"),
        func.coalesce(changes.c.from_tier, changes.c.to_tier).label("tier"),
    ).where(changes.c.position == 1)
    return union_all(in_force, before_history).subquery("tier_period")


def case_outcomes(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    customer_id: int | None = None,
    scope: Scope | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """One row per case opened in [start, end): case_id, customer_id, tier (at opening),
    severity, channel, status, region, opened_at, the clock columns of `compute_clocks`, plus
    business_days (resolution business minutes / the region's working minutes per day) and
    guideline_days (the tier's resolution guideline)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("`start` and `end` must be time-zone-aware datetimes.")
    if not start < end:
        raise ValueError("The period must start before it ends.")
    now = datetime.now(UTC) if now is None else now
    where = _case_filter(start, end, customer_id, scope)
    cases = cases_where(session=session, where=where)
    tiers = pd.read_sql(
        cases_at_opening(Case.id.label("case_id"), where=where, customer_id=customer_id),
        session.connection(),
    )
    cases["tier"] = cases["case_id"].map(tiers.set_index("case_id")["tier"])
    events = events_where(session=session, where=where)
    policies = tier_policies(session=session)
    calendars = region_calendars(session=session, today=now.date())
    outcomes = with_clocks(session=session, cases=cases, events=events, now=now)
    minutes_per_day = outcomes["region"].map(
        {code: calendar.working_minutes_per_day for code, calendar in calendars.items()}
    )
    outcomes["business_days"] = outcomes["res_business_minutes"] / minutes_per_day.astype(float)
    outcomes["guideline_days"] = outcomes["tier"].map(
        {name: float(policy.resolution_business_days) for name, policy in policies.items()}
    )
    return outcomes


# --- exact durations in SQL --------------------------------------------------------------------


class _Timestamp(FunctionElement):
    """A SQL function whose value is a timestamp of the kind the case tables store."""

    inherit_cache = True

    @property
    def type(self):
        return Case.__table__.c.opened_at.type


class _minutes_after(_Timestamp):  # noqa: N801 - reads like the SQL function it renders
    """The instant a whole number of minutes after a timestamp, exactly, on both engines.

    SQLite keeps timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text: the minutes are added to the
    whole seconds with strftime and the microseconds carried over as written, so the result
    compares as text with other timestamps (`_exact`). No julianday floating point: it made
    60.000000447 minutes of a 60-minute reply.
    """

    inherit_cache = True
    name = "minutes_after"


@compiles(_minutes_after, "sqlite")
def _minutes_after_sqlite(element, compiler, **kw) -> str:
    instant, minutes = (compiler.process(clause, **kw) for clause in element.clauses)
    return (
        f"(strftime('%Y-%m-%d %H:%M:%S', substr({instant}, 1, 19), "
        f"'+' || ({minutes}) || ' minutes') || substr({instant} || '.000000', 20, 7))"
    )


@compiles(_minutes_after)
def _minutes_after_standard(element, compiler, **kw) -> str:
    instant, minutes = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({instant} + ({minutes}) * INTERVAL '1 minute')"


class _exact(_Timestamp):  # noqa: N801 - reads like the SQL function it renders
    """A timestamp as `_minutes_after` writes it, so the two compare exactly (SQLite: always six
    digits of microseconds; PostgreSQL compares timestamps as they are)."""

    inherit_cache = True
    name = "exact"


@compiles(_exact, "sqlite")
def _exact_sqlite(element, compiler, **kw) -> str:
    return f"substr({compiler.process(element.clauses, **kw)} || '.000000', 1, 26)"


@compiles(_exact)
def _exact_standard(element, compiler, **kw) -> str:
    return compiler.process(element.clauses, **kw)


class _utc_date(FunctionElement):  # noqa: N801 - reads like the SQL function it renders
    """The UTC calendar day of a timestamp column."""

    type = Date()
    inherit_cache = True
    name = "utc_date"


@compiles(_utc_date, "sqlite")
def _utc_date_sqlite(element, compiler, **kw) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(_utc_date)
def _utc_date_standard(element, compiler, **kw) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC') AS DATE)"


# --- building blocks ---------------------------------------------------------------------------


def _case_filter(
    start: datetime, end: datetime, customer_id: int | None, scope: Scope | None
) -> ColumnElement[bool]:
    conditions = [Case.opened_at >= start, Case.opened_at < end]
    if customer_id is not None:
        conditions.append(Case.customer_id == customer_id)
    if scope is not None:
        conditions.append(scope.customer_filter())
    return and_(*conditions)


def _summarise(
    outcomes: pd.DataFrame, responses: pd.Series, start: datetime, end: datetime
) -> Attainment:
    """`outcomes` from `case_outcomes`, `responses` the summed counts of `first_response_by_tier`."""
    counts = {column: int(responses.get(column, 0)) for column in FIRST_RESPONSE_COLUMNS}
    severity_1 = outcomes["severity"] == 1
    replies = (outcomes.loc[severity_1, "fr_at"] - outcomes.loc[severity_1, "opened_at"]).dropna()
    reply_minutes = replies.dt.total_seconds().to_numpy(dtype=float) / 60
    resolved = outcomes["status"].isin(RESOLVED_STATUSES)
    excluded = resolved & (outcomes["res_state"] == "excluded")
    measured = resolved & ~excluded
    days = outcomes.loc[measured, "business_days"].to_numpy(dtype=float)
    within = measured & (outcomes["res_state"] == "met")
    guidelines = outcomes.loc[measured, "guideline_days"].unique()
    return Attainment(
        start=start,
        end=end,
        cases_opened=len(outcomes),
        cases_by_severity={
            level: int((outcomes["severity"] == level).sum()) for level in SEVERITIES
        },
        first_response_measured=counts["fr_measured"],
        first_response_met=counts["fr_met"],
        first_response_pending=counts["fr_cases"] - counts["fr_measured"],
        first_response_met_pct=_percent(counts["fr_met"], counts["fr_measured"]),
        sev1_measured=counts["sev1_measured"],
        sev1_goal_met=counts["sev1_met"],
        sev1_goal_met_pct=_percent(counts["sev1_met"], counts["sev1_measured"]),
        sev1_replied=len(reply_minutes),
        sev1_median_reply_minutes=float(np.median(reply_minutes)) if reply_minutes.size else None,
        resolved=int(resolved.sum()),
        resolution_excluded_transferred=int(excluded.sum()),
        resolution_measured=int(measured.sum()),
        resolution_median_days=float(np.median(days)) if days.size else None,
        resolution_p90_days=float(np.percentile(days, 90)) if days.size else None,
        resolution_within_guideline=int(within.sum()),
        resolution_within_guideline_pct=_percent(within.sum(), measured.sum()),
        resolution_guideline_days=float(guidelines[0]) if len(guidelines) == 1 else None,
    )


def _percent(part: int, whole: int) -> float | None:
    return 100.0 * float(part) / float(whole) if whole else None
