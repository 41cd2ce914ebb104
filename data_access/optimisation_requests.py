"""Optimisation requests: a customer's written request, logged, accepted, worked on, delivered.

Accepting a request uses one model optimisation of the subscription year and cancelling an
accepted request gives it back, both through the entitlement ledger's own commands. A request is
logged with the moment it was made; `requested_moment` says which moment a day picked on a form
stands for.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from data_access.actor import Actor, authorise, authorise_row
from data_access.audit import CommandRefused, record_audit
from data_access.checks import utc_moment
from data_access.entitlement_ledger import (
    credit_entitlement,
    customer_allowance,
    debit_entitlement,
    tier_history,
    year_balance,
)
from data_access.models import (
    Contact,
    Customer,
    OptimisationRequest,
    PlanningModel,
    User,
    utc_now,
)
from data_access.policies import tier_labels
from data_access.scope import Scope
from domain.entitlements import (
    Entitlement,
    IllegalTransition,
    LedgerEffect,
    RequestState,
    transition,
    validate_target,
)
from domain.roles import Role

OPTIMISATION_ROLES = (Role.CSM, Role.MANAGER, Role.ADMIN)
# A day picked without an hour is taken at noon local time: the middle of the day stays on that
# date in UTC for every zone within twelve hours of it.
UNTIMED_REQUEST_HOUR = time(12)


def requested_moment(*, requested_on: date, timezone: str, now: datetime | None = None) -> datetime:
    """The moment (UTC) a request dated `requested_on` in `timezone` was made.

    Today is now; an earlier day, whose hour nobody typed, is noon local time on that day.
    """
    zone = ZoneInfo(timezone)
    current = (now or utc_now()).astimezone(zone)
    if requested_on == current.date():
        return current.astimezone(UTC)
    return datetime.combine(requested_on, UNTIMED_REQUEST_HOUR, tzinfo=zone).astimezone(UTC)


def log_optimisation_request(
    *,
    session: Session,
    customer_id: int,
    contact_id: int,
    requested_at: datetime,
    request_text: str,
    target_date: date,
    model_id: int | None,
    actor: Actor,
) -> OptimisationRequest:
    """Record a customer's written request for a model optimisation (nothing is debited yet).

    A customer whose tier includes no optimisations (Basic) is refused here, at logging, not weeks
    later at Accept: waiting for the renewal would not help. An extra a manager granted for the
    year still lets a request in.
    """
    customer = authorise(session, actor, roles=OPTIMISATION_ROLES, customer_id=customer_id)
    contact = session.get(Contact, contact_id)
    if contact is None or contact.customer_id != customer_id:
        raise CommandRefused("Choose who asked from this customer's contacts.")
    text = (request_text or "").strip()
    if not text:
        raise CommandRefused(
            "The written request is required: paste its text or give a reference to the e-mail."
        )
    requested_at = utc_moment(
        requested_at, refusal="The time of the request must be time-zone aware."
    )
    if requested_at > utc_now() + timedelta(minutes=5):
        raise CommandRefused("The request cannot be dated in the future.")
    try:
        validate_target(requested_at.astimezone(UTC).date(), target_date)
    except ValueError as exc:
        raise CommandRefused(str(exc)) from None
    _check_optimisations_included(session, customer, requested_at.astimezone(UTC).date())
    if model_id is not None:
        model = session.get(PlanningModel, model_id)
        if model is None or model.customer_id != customer_id:
            raise CommandRefused("The chosen model is not one of this customer's models.")
    request = OptimisationRequest(
        customer_id=customer_id,
        model_id=model_id,
        requested_by_contact_id=contact_id,
        requested_at=requested_at,
        request_text=text,
        target_date=target_date,
        state=RequestState.REQUESTED.value,
        created_by_id=actor.user_id,
        updated_at=utc_now(),
    )
    session.add(request)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action="log_optimisation_request",
        entity="optimisation_request",
        entity_id=request.id,
        detail={
            "customer_id": customer_id,
            "contact_id": contact_id,
            "requested_at": requested_at,
            "target_date": target_date,
            "model_id": model_id,
        },
    )
    return request


def _check_optimisations_included(session: Session, customer: Customer, on: date) -> None:
    """Refuse a request from a customer whose tier on `on` includes no optimisations at all."""
    kind = Entitlement.MODEL_OPTIMISATION
    if customer_allowance(session=session, customer=customer, kind=kind, on=on) > 0:
        return
    if year_balance(session=session, customer=customer, kind=kind, on=on).remaining > 0:
        return
    tier = _tier_on(tier_history(session=session, customer=customer), on)
    raise CommandRefused(
        f"Model optimisations are not part of {tier_labels(session=session)[tier]}."
    )


def _tier_on(history: list[tuple[date, str]], on: date) -> str:
    current = history[0][1]
    for effective_on, tier in history:
        if effective_on <= on:
            current = tier
    return current


def _open_time(value: float | None, which: str) -> float | None:
    if value is None:
        return None
    if value != value or value <= 0:
        raise CommandRefused(f"The model open time {which} must be a positive number of seconds.")
    return float(value)


def advance_request(
    *,
    session: Session,
    request_id: int,
    to_state: str,
    actor: Actor,
    findings: str | None = None,
    open_time_before_s: float | None = None,
    open_time_after_s: float | None = None,
) -> OptimisationRequest:
    """Move a request along its life cycle: accepting debits one, cancelling gives it back.

    Delivering requires the findings; before/after open times are recorded when known. A CSM for
    their own customers' requests, a manager or an admin for any.
    """
    authorise(session, actor, roles=OPTIMISATION_ROLES)
    request, customer = authorise_row(
        session,
        actor,
        OptimisationRequest,
        request_id,
        roles=OPTIMISATION_ROLES,
        missing=f"There is no optimisation request #{request_id}.",
    )
    try:
        effect = transition(request.state, to_state)
    except IllegalTransition as exc:
        raise CommandRefused(str(exc)) from None
    target = RequestState(to_state)
    now = utc_now()
    if target == RequestState.DELIVERED:
        text = (findings or "").strip()
        if not text:
            raise CommandRefused(
                "Record the findings (what hurt performance and the recommendations) "
                "before marking the request delivered."
            )
        before_s = _open_time(open_time_before_s, "before")
        after_s = _open_time(open_time_after_s, "after")
    if effect == LedgerEffect.DEBIT:
        debit_entitlement(
            session=session,
            customer_id=customer.id,
            kind=Entitlement.MODEL_OPTIMISATION,
            actor=actor,
            reason=f"Request #{request_id} accepted",
            request_id=request_id,
            now=now,
        )
    elif effect == LedgerEffect.CREDIT:
        credit_entitlement(
            session=session,
            customer_id=customer.id,
            kind=Entitlement.MODEL_OPTIMISATION,
            actor=actor,
            reason=f"Request #{request_id} cancelled",
            request_id=request_id,
            now=now,
        )
    if target == RequestState.DELIVERED:
        request.findings = text
        request.open_time_before_s = before_s
        request.open_time_after_s = after_s
        request.delivered_at = now
    before = request.state
    request.state = target.value
    request.updated_at = now
    session.add(request)
    record_audit(
        session=session,
        actor=actor.username,
        action="advance_optimisation_request",
        entity="optimisation_request",
        entity_id=request_id,
        detail={"from": before, "to": target.value, "ledger": int(effect)},
    )
    return request


def optimisation_requests(
    *,
    session: Session,
    scope: Scope,
    customer_id: int | None = None,
    states: Iterable[str] | None = None,
    target_before: date | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> pd.DataFrame:
    """Optimisation requests of the visible customers (or one of them), earliest target first;
    only those in `states` and targeted before `target_before`, when given; `limit` of them
    from `offset` (a page), when given."""
    statement = _requests_statement(scope, customer_id, states, target_before)
    if limit is not None:
        statement = statement.limit(limit).offset(offset)
    frame = pd.read_sql(statement, session.connection())
    for column in ("requested_at", "delivered_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def count_optimisation_requests(
    *,
    session: Session,
    scope: Scope,
    states: Iterable[str] | None = None,
    target_before: date | None = None,
) -> int:
    """How many requests `optimisation_requests` would list with the same filters."""
    statement = _requests_statement(scope, None, states, target_before)
    return session.exec(select(func.count()).select_from(statement.order_by(None).subquery())).one()


def _requests_statement(
    scope: Scope,
    customer_id: int | None,
    states: Iterable[str] | None,
    target_before: date | None,
):
    logged_by = aliased(User)
    statement = (
        select(
            OptimisationRequest.id,
            OptimisationRequest.customer_id,
            Customer.name.label("customer"),
            Contact.name.label("requested_by"),
            PlanningModel.name.label("model"),
            OptimisationRequest.requested_at,
            OptimisationRequest.request_text,
            OptimisationRequest.target_date,
            OptimisationRequest.state,
            OptimisationRequest.findings,
            OptimisationRequest.open_time_before_s,
            OptimisationRequest.open_time_after_s,
            OptimisationRequest.delivered_at,
            logged_by.name.label("logged_by"),
        )
        .join(Customer, Customer.id == OptimisationRequest.customer_id)
        .join(Contact, Contact.id == OptimisationRequest.requested_by_contact_id)
        .outerjoin(PlanningModel, PlanningModel.id == OptimisationRequest.model_id)
        .outerjoin(logged_by, logged_by.id == OptimisationRequest.created_by_id)
        .where(scope.customer_filter())
        .order_by(OptimisationRequest.target_date, OptimisationRequest.id)
    )
    if customer_id is not None:
        statement = statement.where(OptimisationRequest.customer_id == customer_id)
    if states is not None:
        statement = statement.where(OptimisationRequest.state.in_([str(s) for s in states]))
    if target_before is not None:
        statement = statement.where(OptimisationRequest.target_date < target_before)
    return statement
