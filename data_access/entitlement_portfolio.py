"""The managers' entitlement portfolio: unused allowances nearing renewal, overdue deliveries
and refused over-cap enrolments, over every customer in scope."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import ColumnElement, String, and_, cast, extract, or_, true
from sqlmodel import Session, select

from data_access.entitlement_ledger import ledger_entries, tier_histories
from data_access.model_caps import ENROLMENT_LABELS
from data_access.models import AuditLog, Customer, PlanningModel
from data_access.optimisation_requests import count_optimisation_requests, optimisation_requests
from data_access.policies import tier_labels, tier_policies
from data_access.scope import Scope
from domain.entitlements import (
    ENTITLEMENT_LABELS,
    OPEN_REQUEST_STATES,
    PER_YEAR_KINDS,
    Entitlement,
    allowance_on,
    balance,
    renewal_summary,
    subscription_year,
)

WATCHLIST_PAGE = 25
"""Customers per page of the renewal watchlist: its cost follows the page, not the portfolio."""

OVERDUE_PAGE = 25
"""Overdue deliveries per page: a portfolio late on hundreds reads and draws one page of them."""

_OPEN_STATES = sorted(state.value for state in OPEN_REQUEST_STATES)
"""The states of a request neither delivered nor cancelled."""

WATCHLIST_COLUMNS = [
    "customer_id",
    "customer",
    "tier_label",
    "kind",
    "label",
    "remaining",
    "allowance",
    "renews_on",
    "days_to_renewal",
    "summary",
]


def renewing_customers(*, session: Session, scope: Scope, today: date, within_days: int) -> list:
    """Active customers in scope whose subscription year ends within `within_days` days,
    soonest renewal first, then by name."""
    customers = session.exec(
        select(Customer.id, Customer.name, Customer.tier, Customer.hypercare_start).where(
            Customer.is_active,
            scope.customer_filter(),
            Customer.hypercare_start <= today,
            _anniversary_within(today, within_days),
        )
    ).all()
    renewals = [(subscription_year(c.hypercare_start, today)[1], c) for c in customers]
    soon = [(renews, c) for renews, c in renewals if (renews - today).days <= within_days]
    # Sorted here, not in SQL: PostgreSQL's collation would order names unlike SQLite's.
    return [c for _, c in sorted(soon, key=lambda pair: (pair[0], pair[1].name, pair[1].id))]


def _anniversary_within(today: date, within_days: int) -> ColumnElement[bool]:
    """Customers whose start's month and day fall from tomorrow to a day past the window: a
    superset of those renewing within it (a 29 February start renews on 28 February or 29
    February, and 229 lies between 228 and 301), so the database returns the few that renew
    soon, not every customer. The exact test (`subscription_year`) follows in Python."""
    month_day = extract("month", Customer.hypercare_start) * 100 + extract(
        "day", Customer.hypercare_start
    )
    first, last = today + timedelta(days=1), today + timedelta(days=within_days + 1)
    low, high = first.month * 100 + first.day, last.month * 100 + last.day
    if within_days >= 364:  # the window holds every month and day
        return true()
    if last.year > first.year:  # it runs over New Year
        return or_(month_day >= low, month_day <= high)
    return and_(month_day >= low, month_day <= high)


def renewal_watchlist(
    *, session: Session, scope: Scope, today: date, within_days: int = 60
) -> pd.DataFrame:
    """Yearly entitlements still unused at customers renewing within `within_days` days, soonest
    renewal first (the whole watchlist: its download)."""
    soon = renewing_customers(session=session, scope=scope, today=today, within_days=within_days)
    return _watchlist_rows(session, soon, today)


def renewal_watchlist_page(
    *, session: Session, scope: Scope, today: date, within_days: int, page: int
) -> tuple[pd.DataFrame, int]:
    """Page `page` (from 0) of the watchlist, `WATCHLIST_PAGE` customers to a page, and how
    many customers renew within the window in all."""
    soon = renewing_customers(session=session, scope=scope, today=today, within_days=within_days)
    first = page * WATCHLIST_PAGE
    return _watchlist_rows(session, soon[first : first + WATCHLIST_PAGE], today), len(soon)


def _watchlist_rows(session: Session, soon: list, today: date) -> pd.DataFrame:
    if not soon:
        return pd.DataFrame(columns=WATCHLIST_COLUMNS)
    policies = tier_policies(session=session)
    labels = tier_labels(session=session)
    histories = tier_histories(session=session, customers=soon)
    entries = ledger_entries(
        session=session,
        customer_ids=[c.id for c in soon],
        kinds=PER_YEAR_KINDS,
        counting_from=min(subscription_year(c.hypercare_start, today)[0] for c in soon),
    )
    rows = []
    for customer in soon:
        history = histories[customer.id]
        year = subscription_year(customer.hypercare_start, today)
        for kind in sorted(PER_YEAR_KINDS):
            allowed = allowance_on(policies, history, kind, today, customer.hypercare_start)
            result = balance(
                allowance=allowed, entries=entries.get(customer.id, []), year=year, kind=kind
            )
            if result.remaining < 1:
                continue
            noun = (
                "optimisations"
                if kind == Entitlement.MODEL_OPTIMISATION
                else ENTITLEMENT_LABELS[kind]
            )
            rows.append(
                {
                    "customer_id": customer.id,
                    "customer": customer.name,
                    "tier_label": labels.get(history[-1][1], customer.tier),
                    "kind": kind.value,
                    "label": ENTITLEMENT_LABELS[kind],
                    "remaining": result.remaining,
                    "allowance": result.allowance,
                    "renews_on": year[1],
                    "days_to_renewal": (year[1] - today).days,
                    "summary": renewal_summary(result, today, noun),
                }
            )
    return pd.DataFrame(rows, columns=WATCHLIST_COLUMNS)


def overdue_deliveries(*, session: Session, scope: Scope, today: date) -> pd.DataFrame:
    """Open optimisation requests past their target completion date, most overdue first (all of
    them: the download)."""
    overdue = optimisation_requests(
        session=session, scope=scope, states=_OPEN_STATES, target_before=today
    )
    return _with_days_overdue(overdue, today)


def overdue_deliveries_page(
    *, session: Session, scope: Scope, today: date, page: int
) -> tuple[pd.DataFrame, int]:
    """Page `page` (from 0) of the overdue deliveries, `OVERDUE_PAGE` to a page, most overdue
    first, and how many there are in all."""
    total = count_optimisation_requests(
        session=session, scope=scope, states=_OPEN_STATES, target_before=today
    )
    overdue = optimisation_requests(
        session=session,
        scope=scope,
        states=_OPEN_STATES,
        target_before=today,
        limit=OVERDUE_PAGE,
        offset=page * OVERDUE_PAGE,
    )
    return _with_days_overdue(overdue, today), total


def _with_days_overdue(overdue: pd.DataFrame, today: date) -> pd.DataFrame:
    """The listing is earliest target first (then by id), which is most overdue first."""
    overdue["days_overdue"] = [(today - target).days for target in overdue["target_date"]]
    return overdue.reset_index(drop=True)


def over_cap_attempts(
    *, session: Session, scope: Scope, since: datetime | None = None
) -> pd.DataFrame:
    """Refused enrolments past a model cap (from the audit log), newest first."""
    statement = (
        select(
            AuditLog.at,
            AuditLog.actor,
            Customer.id.label("customer_id"),
            Customer.name.label("customer"),
            PlanningModel.name.label("model"),
            AuditLog.detail,
        )
        .join(PlanningModel, cast(PlanningModel.id, String) == AuditLog.entity_id)
        .join(Customer, Customer.id == PlanningModel.customer_id)
        .where(
            AuditLog.action == "enrolment_refused",
            AuditLog.entity == "planning_model",
            scope.customer_filter(),
        )
        .order_by(AuditLog.at.desc())
    )
    if since is not None:
        statement = statement.where(AuditLog.at >= since)
    frame = pd.read_sql(statement, session.connection())
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    details = [json.loads(text) if text else {} for text in frame["detail"]]
    frame["which"] = [ENROLMENT_LABELS.get(d.get("which"), "") for d in details]
    frame["cap"] = [d.get("cap") for d in details]
    frame["enrolled"] = [d.get("enrolled") for d in details]
    frame["message"] = [d.get("message", "") for d in details]
    return frame.drop(columns="detail")
