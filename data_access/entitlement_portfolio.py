"""The managers' entitlement portfolio: unused allowances nearing renewal, overdue deliveries
and refused over-cap enrolments, over every customer in scope."""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
from sqlalchemy import String, cast
from sqlmodel import Session, select

from data_access.entitlement_ledger import ledger_entries, tier_histories
from data_access.model_caps import ENROLMENT_LABELS
from data_access.models import AuditLog, Customer, PlanningModel
from data_access.optimisation_requests import optimisation_requests
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


def renewal_watchlist(
    *, session: Session, scope: Scope, today: date, within_days: int = 60
) -> pd.DataFrame:
    """Yearly entitlements still unused at customers renewing within `within_days` days."""
    columns = [
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
    customers = session.exec(
        select(Customer.id, Customer.name, Customer.tier, Customer.hypercare_start)
        .where(Customer.is_active, scope.customer_filter(), Customer.hypercare_start <= today)
        .order_by(Customer.name)
    ).all()
    soon = [
        c
        for c in customers
        if (subscription_year(c.hypercare_start, today)[1] - today).days <= within_days
    ]
    if not soon:
        return pd.DataFrame(columns=columns)
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
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["days_to_renewal", "customer"], kind="stable").reset_index(drop=True)


def overdue_deliveries(*, session: Session, scope: Scope, today: date) -> pd.DataFrame:
    """Open optimisation requests past their target completion date, most overdue first."""
    overdue = optimisation_requests(
        session=session,
        scope=scope,
        states=sorted(state.value for state in OPEN_REQUEST_STATES),
        target_before=today,
    )
    overdue["days_overdue"] = [(today - target).days for target in overdue["target_date"]]
    return overdue.sort_values("days_overdue", ascending=False).reset_index(drop=True)


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
