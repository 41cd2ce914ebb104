"""Case reads for clocks and queues: cases matching a filter, their events, and both clocks.

Clocks are computed from the event history (never stored), once per read and vectorised over
all the cases read; callers choose which cases with a WHERE clause on `Case`/`Customer`.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import and_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from data_access.calendars import region_calendars
from data_access.models import Case, CaseEvent, Customer, Region
from data_access.policies import tier_policies
from data_access.scope import Scope
from domain.clocks import compute_clocks
from domain.lifecycle import OPEN_STATUSES

CLOCK_EVENT_KINDS = ("status", "public_reply")


def cases_where(*, session: Session, where: ColumnElement[bool]) -> pd.DataFrame:
    """Cases matching `where` with the customer's tier and region."""
    statement = (
        select(
            Case.id.label("case_id"),
            Case.customer_id,
            Customer.name.label("customer"),
            Customer.tier,
            Region.code.label("region"),
            Region.timezone.label("region_timezone"),
            Case.subject,
            Case.severity,
            Case.is_outage,
            Case.channel,
            Case.status,
            Case.assignee_id,
            Case.opened_at,
            Case.escalated_to,
        )
        .join(Customer, Customer.id == Case.customer_id)
        .join(Region, Region.id == Customer.region_id)
        .where(where)
    )
    frame = pd.read_sql(statement, session.connection())
    frame["opened_at"] = pd.to_datetime(frame["opened_at"], utc=True)
    return frame


def events_where(*, session: Session, where: ColumnElement[bool]) -> pd.DataFrame:
    """The clock-relevant events (status changes, public replies) of the cases matching `where`."""
    statement = (
        select(
            CaseEvent.case_id,
            CaseEvent.at,
            CaseEvent.kind,
            CaseEvent.from_status,
            CaseEvent.to_status,
        )
        .join(Case, Case.id == CaseEvent.case_id)
        .join(Customer, Customer.id == Case.customer_id)
        .where(where, CaseEvent.kind.in_(CLOCK_EVENT_KINDS))
    )
    frame = pd.read_sql(statement, session.connection())
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def with_clocks(
    *, session: Session, cases: pd.DataFrame, events: pd.DataFrame, now: datetime
) -> pd.DataFrame:
    """`cases` joined with both SLA clocks (see `domain.clocks.compute_clocks`)."""
    clocks = compute_clocks(
        cases,
        events,
        tier_policies(session=session),
        region_calendars(session=session, today=now.date()),
        now,
    )
    return cases.join(clocks, on="case_id")


def cases_with_clocks(
    *, session: Session, where: ColumnElement[bool], now: datetime
) -> pd.DataFrame:
    cases = cases_where(session=session, where=where)
    events = events_where(session=session, where=where)
    return with_clocks(session=session, cases=cases, events=events, now=now)


def open_case_clocks(*, session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    """Open cases in `scope` with both SLA clocks, computed once for all of them."""
    where = and_(Case.status.in_(OPEN_STATUSES), scope.customer_filter())
    return cases_with_clocks(session=session, where=where, now=now)
