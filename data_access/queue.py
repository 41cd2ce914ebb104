"""Case queue reads: the ordered open-case queue, its SLA summary, and the live countdowns.

The queue is read and its clocks computed once per page run (`queue_frame`); between runs the
countdowns only move with the wall clock, so `live_countdowns` recomputes remaining times from
the due instants already in the frame, without touching the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Float, and_, bindparam, func, or_
from sqlalchemy import case as sql_case
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, select

from data_access.cases import cases_with_clocks, open_case_clocks
from data_access.models import Case, Customer, Region, TierPolicyRow, User
from data_access.policies import tier_policies
from data_access.scope import Scope
from data_access.users import staff_with_role
from domain.clocks import countdown_text, duration_text
from domain.lifecycle import STATUSES
from domain.queue import order_queue
from domain.roles import Role

RESPOND_NOW = "respond_now"
FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"
CLOCK_LABELS = {
    RESPOND_NOW: "Respond now",
    FIRST_RESPONSE: "First response",
    RESOLUTION: "Resolution guideline",
}
BREACHED = "🔴 Breached"
AT_RISK = "🟠 At risk"
PAUSED = "⏸️ Paused – pending customer"
ON_TRACK = "🟢 On track"
RESPOND_NOW_LATE = "🔴 Respond now"
RESPOND_NOW_IN_GOAL = "🚨 Respond now"
_ORDER_COLUMNS = [
    "case_id",
    "tier",
    "severity",
    "is_outage",
    "opened_at",
    "fr_due",
    "fr_at",
    "res_due",
    "res_state",
]
WITH_LEVEL = {"transferred_l2": "🔵 With L2", "transferred_l3": "🔵 With L3"}


def queue_frame(*, session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    """Open cases in `scope` in queue order (SPEC "Case queue order"), one row per case.

    Besides the case and both clocks of `open_case_clocks`, each row has queue_group,
    queue_position, queue_reason, tier_label, assignee (name), region_timezone, and the clock
    the queue shows: `clock` (respond_now, first_response or resolution), its `due` instant and
    the fraction of its target `consumed`. Priority tiers are those whose policy row says
    priority_queueing, so an admin changing a tier's queueing changes the order.
    """
    cases = open_case_clocks(session=session, scope=scope, now=now)
    priority_tiers = {
        tier for tier, policy in tier_policies(session=session).items() if policy.priority_queueing
    }
    # order_queue walks its rows one by one for the reasons: hand it only the columns it reads.
    ordered = order_queue(cases[_ORDER_COLUMNS], priority_tiers, now)
    queue = cases.loc[ordered.index].reset_index(drop=True)
    for column in ("queue_group", "queue_position", "queue_reason"):
        queue[column] = ordered[column].to_numpy()
    tiers = dict(session.exec(select(TierPolicyRow.tier, TierPolicyRow.label)).all())
    zones = dict(session.exec(select(Region.code, Region.timezone)).all())
    names = dict(session.exec(select(User.id, User.name)).all())
    queue["tier_label"] = queue["tier"].map(tiers)
    queue["region_timezone"] = queue["region"].map(zones)
    queue["assignee"] = queue["assignee_id"].map(names)
    queue["clock"] = _shown_clock(queue)
    first_response = queue["clock"] != RESOLUTION
    queue["due"] = queue["fr_due"].where(first_response, queue["res_due"])
    queue["consumed"] = (
        queue["fr_consumed"].where(first_response, queue["res_consumed"]).clip(0.0, 1.0)
    )
    return queue


def _shown_clock(queue: pd.DataFrame) -> np.ndarray:
    """The clock a queue row counts down: the first response until it is given, then resolution."""
    waiting_for_reply = queue["fr_at"].isna() & queue["fr_state"].isin(["running", "breached"])
    return np.select(
        [queue["respond_now"].astype(bool), waiting_for_reply],
        [RESPOND_NOW, FIRST_RESPONSE],
        RESOLUTION,
    )


def live_countdowns(queue: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The moving parts of queue rows at `now`: remaining_minutes, countdown and state.

    Pure and cheap (no calendar, no database): the remaining time is wall-clock time to the
    row's `due` instant, which is what the due time beside it reads. Whether a clock is at risk
    or paused was decided when the clocks were computed; a running clock whose due instant has
    since passed turns breached here. A severity 1 case waiting for its reply shows the time
    since opening instead, red once past the internal goal.
    """
    now_stamp = pd.Timestamp(now)
    remaining = (queue["due"] - now_stamp).dt.total_seconds() / 60
    elapsed = (now_stamp - queue["opened_at"]).dt.total_seconds() / 60
    respond_now = (queue["clock"] == RESPOND_NOW).to_numpy(dtype=bool)
    paused = (queue["res_state"] == "paused").to_numpy(dtype=bool)
    excluded = (queue["res_state"] == "excluded").to_numpy(dtype=bool)
    on_resolution = (queue["clock"] == RESOLUTION).to_numpy(dtype=bool)
    clock_stopped = on_resolution & (paused | excluded)
    newly_late = ~clock_stopped & (remaining < 0).to_numpy(dtype=bool)
    breached = queue["breached"].to_numpy(dtype=bool) | (newly_late & ~respond_now)
    # Plain lists: iterating pandas' Arrow-backed strings row by row costs several times more.
    countdown = [
        _countdown(kind, left, waited, state)
        for kind, left, waited, state in zip(
            queue["clock"].tolist(),
            remaining.tolist(),
            elapsed.tolist(),
            queue["res_state"].tolist(),
            strict=True,
        )
    ]
    level_marker = queue["status"].map(WITH_LEVEL).fillna(ON_TRACK).to_numpy(dtype=object)
    state = np.select(
        [
            respond_now & (remaining < 0).to_numpy(dtype=bool),
            respond_now,
            breached,
            queue["at_risk"].to_numpy(dtype=bool),
            paused,
        ],
        [RESPOND_NOW_LATE, RESPOND_NOW_IN_GOAL, BREACHED, AT_RISK, PAUSED],
        level_marker,
    )
    return pd.DataFrame(
        {
            "remaining_minutes": remaining.where(~clock_stopped, np.nan),
            "countdown": countdown,
            "state": state,
        },
        index=queue.index,
    )


def _countdown(kind: str, remaining: float, elapsed: float, resolution_state: str) -> str:
    if kind == RESPOND_NOW:
        return f"Respond now · open {duration_text(elapsed)}"
    if kind == RESOLUTION and resolution_state == "paused":
        return "Paused: pending customer"
    if kind == RESOLUTION and resolution_state == "excluded":
        return "Excluded: with L2/L3"
    return countdown_text(remaining)


def clock_states(queue: pd.DataFrame) -> pd.DataFrame:
    """Boolean columns at_risk, breached and paused, for the clock-state filter."""
    return pd.DataFrame(
        {
            "at_risk": queue["at_risk"].astype(bool),
            "breached": queue["breached"].astype(bool),
            "paused": queue["res_state"].eq("paused"),
        },
        index=queue.index,
    )


def local_due_text(due: pd.Series, timezones: pd.Series) -> pd.Series:
    """Each due instant as '2026-11-28 14:05' in its own region's zone, converted once per zone.

    Formatted with numpy rather than strftime: a 5,000-row queue formats in a millisecond.
    """
    text = pd.Series("", index=due.index, dtype=object)
    for zone in timezones.dropna().unique():
        rows = ((timezones == zone) & due.notna()).to_numpy()
        if not rows.any():
            continue
        local = due[rows].dt.tz_convert(ZoneInfo(zone)).dt.tz_localize(None).to_numpy()
        text[rows] = np.char.replace(np.datetime_as_string(local, unit="m"), "T", " ")
    return text


def week_start(now: datetime, timezone: str) -> datetime:
    """Monday 00:00 of `now`'s week in the viewer's `timezone`, as an aware instant.

    Edge case: at Sunday 23:30 in New York it is already Monday in UTC; the viewer's own week
    is the one they read the summary in, so it is still the week that began last Monday.
    """
    local = pd.Timestamp(now).tz_convert(ZoneInfo(timezone))
    monday = (local - timedelta(days=local.weekday())).normalize()
    return monday.tz_convert("UTC").to_pydatetime()


def sla_summary(
    *,
    session: Session,
    scope: Scope,
    now: datetime,
    timezone: str = "UTC",
    queue: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per tier: open cases, at risk, breached, and first-response attainment this week.

    One row per tier policy (priority tiers first). "This week" runs from Monday 00:00 in the
    viewer's `timezone` to `now`; a case counts towards fr_met_percent when it was opened this
    week, is not severity 1 (response targets do not apply to it), and its first-response clock
    has ended: replied, solved without a reply, or past its target. Pass the `queue` already
    read by `queue_frame` to avoid computing the clocks twice.
    """
    if queue is None:
        queue = queue_frame(session=session, scope=scope, now=now)
    policies = pd.read_sql(
        select(TierPolicyRow.tier, TierPolicyRow.label.label("tier_label")).order_by(
            TierPolicyRow.priority_queueing.desc(), TierPolicyRow.first_response_minutes
        ),
        session.connection(),
    )
    open_counts = queue.groupby("tier").agg(
        open=("case_id", "size"), at_risk=("at_risk", "sum"), breached=("breached", "sum")
    )
    attainment = first_response_attainment(
        session=session, scope=scope, since=week_start(now, timezone), now=now
    )
    summary = policies.join(open_counts, on="tier").join(attainment, on="tier")
    counts = ["open", "at_risk", "breached", "fr_measured", "fr_met"]
    summary[counts] = summary[counts].fillna(0).astype(int)
    summary["fr_met_percent"] = np.where(
        summary["fr_measured"] > 0,
        100 * summary["fr_met"] / summary["fr_measured"].where(summary["fr_measured"] > 0),
        np.nan,
    )
    return summary[["tier", "tier_label", *counts, "fr_met_percent"]]


def first_response_attainment(
    *, session: Session, scope: Scope, since: datetime, now: datetime
) -> pd.DataFrame:
    """fr_measured and fr_met per tier for cases opened since `since`, counted in SQL.

    The rule is the first-response clock's: the clock stops at the first public reply (or the
    solve, without one) and is met when that is no later than opened_at + the tier's target;
    a clock still running is measured once past its target. Severity 1 is left out.
    """
    stopped = func.coalesce(Case.first_response_at, Case.solved_at)
    target = TierPolicyRow.first_response_minutes
    now_param = bindparam("now", now, type_=Case.__table__.c.opened_at.type)
    measured = or_(stopped.is_not(None), _MinutesBetween(Case.opened_at, now_param) > target)
    met = and_(stopped.is_not(None), _MinutesBetween(Case.opened_at, stopped) <= target)
    statement = (
        select(
            Customer.tier,
            func.sum(sql_case((measured, 1), else_=0)).label("fr_measured"),
            func.sum(sql_case((met, 1), else_=0)).label("fr_met"),
        )
        .select_from(Case)
        .join(Customer, Customer.id == Case.customer_id)
        .join(TierPolicyRow, TierPolicyRow.tier == Customer.tier)
        # Every status is listed so the (status, opened_at) index serves the date range.
        .where(
            Case.status.in_(STATUSES),
            Case.opened_at >= since,
            Case.severity != 1,
            scope.customer_filter(),
        )
        .group_by(Customer.tier)
    )
    return pd.read_sql(statement, session.connection()).set_index("tier")


class _MinutesBetween(FunctionElement):
    """Minutes from one timestamp to another, in SQL; each database spells it its own way.

    SQLite stores UTC text and reads it to the millisecond; PostgreSQL subtracts exactly.
    """

    type = Float()
    inherit_cache = True
    name = "minutes_between"


@compiles(_MinutesBetween, "sqlite")
def _minutes_between_sqlite(element, compiler, **kw) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 1440.0)"


@compiles(_MinutesBetween)
@compiles(_MinutesBetween, "postgresql")
def _minutes_between_standard(element, compiler, **kw) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 60.0)"


def assignees(*, session: Session) -> pd.DataFrame:
    """Active staff a case can be assigned to: users with the csm role (CSMs and resources)."""
    return staff_with_role(session=session, role=Role.CSM).sort_values("name")


def case_clocks(*, session: Session, scope: Scope, case_id: int, now: datetime) -> pd.Series | None:
    """Both clocks of one case in `scope`, whatever its status; None when not visible."""
    where = and_(Case.id == case_id, scope.customer_filter())
    frame = cases_with_clocks(session=session, where=where, now=now)
    return None if frame.empty else frame.iloc[0]
