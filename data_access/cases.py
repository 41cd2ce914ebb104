"""Case reads: cases matching a filter with both clocks (for queues), and one case in full with
its conversation and who it may be assigned to (for the case page).

Clocks are computed from the event history (never stored), once per read and vectorised over
all the cases read; callers choose which cases with a WHERE clause on `Case`/`Customer`.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import and_
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from data_access.calendars import region_calendars
from data_access.models import Case, CaseEvent, Customer, Region, TierPolicyRow, User
from data_access.policies import tier_policies
from data_access.scope import Scope
from data_access.users import staff_with_role
from domain.clocks import compute_clocks
from domain.lifecycle import OPEN_STATUSES
from domain.roles import Role, parse_roles, sees_all_customers

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


def case_detail(*, session: Session, scope: Scope, case_id: int) -> dict | None:
    """One case as a flat dict, plus `contacts` and `events` DataFrames; None if not in scope.

    Keys: case_id, customer_id, customer, tier, tier_label, region, region_timezone, subject,
    description, severity, is_outage, channel, status, assignee_id, assignee,
    hypercare_resource, opened_at, first_response_at, solved_at, closed_at, escalated_to,
    version, updated_at. `contacts` holds the customer's contacts (name, title, email, phone,
    chat_handle, preferred_channel, is_primary); `events` holds at, actor, kind, from_status,
    to_status, note in time order (aware UTC times).
    """
    assignee = aliased(User)
    resource = aliased(User)
    statement = (
        select(
            Case.id.label("case_id"),
            Case.customer_id,
            Customer.name.label("customer"),
            Customer.tier,
            TierPolicyRow.label.label("tier_label"),
            Region.code.label("region"),
            Region.timezone.label("region_timezone"),
            Case.subject,
            Case.description,
            Case.severity,
            Case.is_outage,
            Case.channel,
            Case.status,
            Case.assignee_id,
            assignee.name.label("assignee"),
            resource.name.label("hypercare_resource"),
            Case.opened_at,
            Case.first_response_at,
            Case.solved_at,
            Case.closed_at,
            Case.escalated_to,
            Case.version,
            Case.updated_at,
        )
        .join(Customer, Customer.id == Case.customer_id)
        .join(TierPolicyRow, TierPolicyRow.tier == Customer.tier)
        .join(Region, Region.id == Customer.region_id)
        .outerjoin(assignee, assignee.id == Case.assignee_id)
        .outerjoin(resource, resource.id == Customer.hypercare_resource_id)
        .where(Case.id == case_id, scope.customer_filter())
    )
    row = session.exec(statement).first()
    if row is None:
        return None
    # Imported here: data_access.customers reads clocks from this module.
    from data_access.customers import contacts_of

    detail = dict(row._mapping)
    detail["contacts"] = contacts_of(session=session, customer_id=detail["customer_id"])
    detail["events"] = case_events(session=session, case_id=case_id)
    return detail


def case_events(*, session: Session, case_id: int) -> pd.DataFrame:
    """A case's history in time order (ties in the order written), with the actor's name.

    Events written by no staff member (a case logged by the portal) have no actor name.
    """
    statement = (
        select(
            CaseEvent.at,
            User.name.label("actor"),
            CaseEvent.kind,
            CaseEvent.from_status,
            CaseEvent.to_status,
            CaseEvent.note,
        )
        .outerjoin(User, User.id == CaseEvent.actor_id)
        .where(CaseEvent.case_id == case_id)
        .order_by(CaseEvent.at, CaseEvent.id)
    )
    frame = pd.read_sql(statement, session.connection())
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def case_assignees(*, session: Session, customer_id: int) -> pd.DataFrame:
    """Who a case of this customer may be assigned to: active CSMs who can see the customer
    (its CSM, its HyperCare resource, or a CSM who also sees every customer), by name."""
    customer = session.get(Customer, customer_id)
    people = staff_with_role(session=session, role=Role.CSM)
    if customer is None:
        return people.iloc[0:0]
    roles = dict(session.exec(select(User.id, User.roles).where(User.id.in_(people["id"]))).all())
    sees = people["id"].map(
        lambda user_id: (
            user_id in (customer.csm_id, customer.hypercare_resource_id)
            or sees_all_customers(parse_roles(roles.get(user_id, "")))
        )
    )
    return people[sees.astype(bool)].sort_values("name").reset_index(drop=True)
