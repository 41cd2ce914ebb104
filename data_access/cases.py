"""Case reads for clocks and queues: open cases in a scope, with their event history."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlmodel import Session, select

from data_access.calendars import region_calendars
from data_access.models import Case, CaseEvent, Customer, Region
from data_access.policies import tier_policies
from data_access.scope import Scope
from domain.clocks import compute_clocks
from domain.lifecycle import OPEN_STATUSES


def open_cases(*, session: Session, scope: Scope) -> pd.DataFrame:
    """Open cases visible in `scope`, with the customer's tier and region code."""
    statement = (
        select(
            Case.id.label("case_id"),
            Case.customer_id,
            Customer.name.label("customer"),
            Customer.tier,
            Region.code.label("region"),
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
        .where(Case.status.in_(OPEN_STATUSES), scope.customer_filter())
    )
    frame = pd.read_sql(statement, session.connection())
    frame["opened_at"] = pd.to_datetime(frame["opened_at"], utc=True)
    return frame


def events_of_open_cases(*, session: Session, scope: Scope) -> pd.DataFrame:
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
        .where(Case.status.in_(OPEN_STATUSES), scope.customer_filter())
    )
    frame = pd.read_sql(statement, session.connection())
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def open_case_clocks(*, session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    """Open cases in `scope` joined with both SLA clocks, computed once for all of them."""
    cases = open_cases(session=session, scope=scope)
    events = events_of_open_cases(session=session, scope=scope)
    clocks = compute_clocks(
        cases,
        events,
        tier_policies(session=session),
        region_calendars(session=session, today=now.date()),
        now,
    )
    return cases.join(clocks, on="case_id")
