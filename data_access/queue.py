"""Case queue reads: the ordered open-case queue, its SLA summary, closed-case search, changes.

The queue is read and its clocks computed once per page run (`queue_frame`); how its rows read
on screen between runs (labels, live countdowns, local due times) is `domain.queue_view`.
`cases_changed_since` is the cheap poll that tells a live page a case was opened or changed.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from data_access.attainment import first_response_by_tier
from data_access.calendars import region_calendars
from data_access.cases import cases_with_clocks, open_case_clocks
from data_access.models import Case, Customer, Region, TierPolicyRow, User
from data_access.policies import tier_labels, tier_policies
from data_access.scope import Scope
from data_access.users import staff_with_role
from domain.clocks import RESOLUTION
from domain.lifecycle import RESOLVED_STATUSES
from domain.queue import order_queue
from domain.queue_view import week_start
from domain.roles import Role

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


def queue_frame(*, session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    """Open cases in `scope` in queue order (SPEC "Case queue order"), one row per case.

    Besides the case and both clocks of `open_case_clocks` (including the `clock` it shows and
    its `state`), each row has queue_group, queue_position, queue_reason, tier_label, assignee
    (name), region_timezone, the shown clock's `due` instant and the fraction of its target
    `consumed`, and for the business-time countdown `due_business` (the due instant in the
    region calendar's cumulative business minutes) and `minutes_per_day`. Priority tiers are
    those whose policy row says priority_queueing, so an admin changing a tier's queueing
    changes the order.
    """
    cases = open_case_clocks(session=session, scope=scope, now=now)
    priority_tiers = {
        tier for tier, policy in tier_policies(session=session).items() if policy.priority_queueing
    }
    labels = tier_labels(session=session)
    # order_queue walks its rows one by one for the reasons: hand it only the columns it reads.
    ordered = order_queue(cases[_ORDER_COLUMNS], priority_tiers, now, tier_labels=labels)
    queue = cases.loc[ordered.index].reset_index(drop=True)
    for column in ("queue_group", "queue_position", "queue_reason"):
        queue[column] = ordered[column].to_numpy()
    zones = dict(session.exec(select(Region.code, Region.timezone)).all())
    names = dict(session.exec(select(User.id, User.name)).all())
    queue["tier_label"] = queue["tier"].map(labels)
    queue["region_timezone"] = queue["region"].map(zones)
    queue["assignee"] = queue["assignee_id"].map(names)
    first_response = queue["clock"] != RESOLUTION
    queue["due"] = queue["fr_due"].where(first_response, queue["res_due"])
    queue["consumed"] = (
        queue["fr_consumed"].where(first_response, queue["res_consumed"]).clip(0.0, 1.0)
    )
    calendars = region_calendars(session=session, today=now.date())
    queue["due_business"] = np.nan
    queue["minutes_per_day"] = np.nan
    for region in queue["region"].unique():
        rows = (queue["region"] == region).to_numpy()
        calendar = calendars[region]
        queue.loc[rows, "due_business"] = calendar.to_business_minutes(queue.loc[rows, "res_due"])
        queue.loc[rows, "minutes_per_day"] = calendar.working_minutes_per_day
    return queue


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
    has ended: replied, solved without a reply, or past its target. Attainment is the one rule
    of `data_access.attainment.first_response_by_tier`: each case in the row of the tier in
    force when it opened, a reply at exactly the target met. Pass the `queue` already read by
    `queue_frame` to avoid computing the clocks twice.
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
    attainment = first_response_by_tier(
        session=session, scope=scope, start=week_start(now, timezone), now=now
    )[["fr_measured", "fr_met"]]
    summary = policies.join(open_counts, on="tier").join(attainment, on="tier")
    counts = ["open", "at_risk", "breached", "fr_measured", "fr_met"]
    summary[counts] = summary[counts].fillna(0).astype(int)
    summary["fr_met_percent"] = np.where(
        summary["fr_measured"] > 0,
        100 * summary["fr_met"] / summary["fr_measured"].where(summary["fr_measured"] > 0),
        np.nan,
    )
    return summary[["tier", "tier_label", *counts, "fr_met_percent"]]


def assignees(*, session: Session) -> pd.DataFrame:
    """Active staff a case can be assigned to: users with the csm role (CSMs and resources)."""
    return staff_with_role(session=session, role=Role.CSM).sort_values("name")


def case_clocks(*, session: Session, scope: Scope, case_id: int, now: datetime) -> pd.Series | None:
    """Both clocks of one case in `scope`, whatever its status; None when not visible."""
    where = and_(Case.id == case_id, scope.customer_filter())
    frame = cases_with_clocks(session=session, where=where, now=now)
    return None if frame.empty else frame.iloc[0]


def cases_changed_since(*, session: Session, scope: Scope, since: datetime) -> pd.DataFrame:
    """Cases in `scope` written at or after `since` (any status), oldest change first.

    A cheap poll for a live queue, three small reads: the recent ids from the index on
    updated_at alone, those cases by primary key, and the customers the scope shows. Edge case:
    with the scope's filter in the same statement, a database prefers walking every case of the
    viewer's customers to that index, which costs a CSM with a long history on every tick.
    Columns: case_id, updated_at (aware UTC), status, severity, is_outage, customer.
    """
    recent = list(session.exec(select(Case.id).where(Case.updated_at >= since)).all())
    statement = (
        select(
            Case.id.label("case_id"),
            Case.updated_at,
            Case.status,
            Case.severity,
            Case.is_outage,
            Customer.name.label("customer"),
            Case.customer_id,
        )
        .join(Customer, Customer.id == Case.customer_id)
        .where(Case.id.in_(recent))
        .order_by(Case.updated_at, Case.id)
    )
    frame = pd.read_sql(statement, session.connection())
    if recent:
        visible = session.exec(select(Customer.id).where(scope.customer_filter())).all()
        frame = frame[frame["customer_id"].isin(list(visible))].reset_index(drop=True)
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
    return frame.drop(columns="customer_id")


def search_closed_cases(
    *, session: Session, scope: Scope, text: str, limit: int = 50
) -> pd.DataFrame:
    """Solved and closed cases in `scope` matching a case number or words of subject/customer.

    The queue holds open cases only; this finds the rest, newest first, at most `limit`.
    Columns: case_id, customer, subject, severity, status, opened_at, solved_at, assignee.
    """
    needle = text.strip()
    number = needle.removeprefix("#")
    if not needle:
        return pd.DataFrame(
            columns=["case_id", "customer", "subject", "severity", "status", "opened_at"]
        )
    words = f"%{needle.lower()}%"
    matches = or_(func.lower(Case.subject).like(words), func.lower(Customer.name).like(words))
    if number.isdigit():
        matches = or_(matches, Case.id == int(number))
    statement = (
        select(
            Case.id.label("case_id"),
            Customer.name.label("customer"),
            Case.subject,
            Case.severity,
            Case.status,
            Case.opened_at,
            Case.solved_at,
            User.name.label("assignee"),
        )
        .join(Customer, Customer.id == Case.customer_id)
        .outerjoin(User, User.id == Case.assignee_id)
        .where(Case.status.in_(RESOLVED_STATUSES), scope.customer_filter(), matches)
        .order_by(Case.opened_at.desc(), Case.id.desc())
        .limit(limit)
    )
    frame = pd.read_sql(statement, session.connection())
    for column in ("opened_at", "solved_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
