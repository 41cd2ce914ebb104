"""Entitlements: balances from the append-only ledger, optimisation requests and model caps.

Every command that checks a balance or a cap locks the customer row first (SELECT … FOR UPDATE on
PostgreSQL; on SQLite the write transaction already holds the database write lock), so people
racing for the last credit are served one after the other and only one wins.

The ledger is append-only: this module has no function that updates or deletes an entry; a
correction is a new entry with a reason and the acting user. Tier changes live in the tier history
(`TierChange`) and `ledger_history` merges them into the ledger view, so the ledger shows the change
without zero-delta rows that every reader of the ledger would have to skip.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from sqlalchemy import String, case, cast, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from data_access import locking
from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused, record_audit
from data_access.models import (
    AuditLog,
    Contact,
    Customer,
    EntitlementEntry,
    OptimisationRequest,
    PlanningModel,
    TierChange,
    TierPolicyRow,
    User,
    Workspace,
    utc_now,
)
from data_access.policies import tier_labels, tier_policies
from data_access.scope import Scope
from domain.entitlements import (
    CAP_KINDS,
    ENTITLEMENT_LABELS,
    OPEN_REQUEST_STATES,
    PER_YEAR_KINDS,
    Balance,
    CapExceeded,
    Entitlement,
    EntitlementExceeded,
    IllegalTransition,
    LedgerEffect,
    LedgerEntry,
    RequestState,
    allowance,
    allowance_on,
    balance,
    check_can_debit,
    check_enrolment,
    models_to_drop_on_downgrade,
    renewal_summary,
    sentence_case,
    subscription_year,
    transition,
    validate_target,
)
from domain.roles import Role

ENROLMENTS: dict[str, tuple[Entitlement, str]] = {
    "monitoring": (Entitlement.MONITORED_MODELS, "in_monitoring"),
    "weekly_report": (Entitlement.WEEKLY_REPORT_MODELS, "in_weekly_report"),
}
ENROLMENT_LABELS = {"monitoring": "daily monitoring", "weekly_report": "the weekly report"}
REASON_MAX_CHARS = 500
EXTRA_PREFIX = "Extra granted: "
OPTIMISATION_ROLES = (Role.CSM, Role.MANAGER, Role.ADMIN)
LEDGER_ROLES = (Role.CSM, Role.MANAGER, Role.ADMIN)
ENROLMENT_ROLES = (Role.CSM, Role.MANAGER, Role.ADMIN)
GRANT_ROLES = (Role.MANAGER,)
TIER_CHANGE_ROLES = (Role.MANAGER, Role.ADMIN)
BALANCE_COLUMNS = [
    "kind",
    "label",
    "measure",
    "allowance",
    "used",
    "credited",
    "extra",
    "remaining",
    "year_start",
    "renews_on",
]


class EnrolmentRefused(CommandRefused):
    """Enrolling one more model would pass the tier's cap; carries what a manager should see."""

    def __init__(
        self, message: str, *, customer_id: int, model_id: int, which: str, cap: int, enrolled: int
    ) -> None:
        super().__init__(message)
        self.customer_id = customer_id
        self.model_id = model_id
        self.which = which
        self.cap = cap
        self.enrolled = enrolled


# --- Shared steps -----------------------------------------------------------------------------


def _tier_history(session: Session, customer: Customer) -> list[tuple[date, str]]:
    """The tier history from the HyperCare start; a customer without one is on its current tier."""
    rows = session.exec(
        select(TierChange.effective_on, TierChange.from_tier, TierChange.to_tier)
        .where(TierChange.customer_id == customer.id)
        .order_by(TierChange.effective_on, TierChange.id)
    ).all()
    history = [(effective_on, to_tier) for effective_on, _, to_tier in rows]
    if not rows:
        return [(customer.hypercare_start, customer.tier)]
    first_on, first_from, first_to = rows[0]
    if first_on > customer.hypercare_start:
        history.insert(0, (customer.hypercare_start, first_from or first_to))
    return history


def _ledger_entries(
    session: Session, customer_ids: Iterable[int], kinds: Iterable[str] | None = None
) -> dict[int, list[LedgerEntry]]:
    statement = select(EntitlementEntry).where(
        EntitlementEntry.customer_id.in_(list(customer_ids)), EntitlementEntry.delta != 0
    )
    if kinds is not None:
        statement = statement.where(EntitlementEntry.kind.in_([str(k) for k in kinds]))
    by_customer: dict[int, list[LedgerEntry]] = {}
    for row in session.exec(statement).all():
        by_customer.setdefault(row.customer_id, []).append(
            LedgerEntry(
                at=row.at,
                kind=row.kind,
                delta=row.delta,
                reason=row.reason,
                actor=str(row.actor_id or ""),
                request_id=row.request_id,
            )
        )
    return by_customer


def _allowance(session: Session, customer: Customer, kind: str, on: date) -> int:
    try:
        return allowance_on(
            tier_policies(session=session),
            _tier_history(session, customer),
            kind,
            on,
            customer.hypercare_start,
        )
    except ValueError as exc:
        raise CommandRefused(str(exc)) from None


def _year_balance(session: Session, customer: Customer, kind: str, on: date) -> Balance:
    allowed = _allowance(session, customer, kind, on)
    entries = _ledger_entries(session, [customer.id], [kind]).get(customer.id, [])
    year = subscription_year(customer.hypercare_start, on)
    return balance(allowance=allowed, entries=entries, year=year, kind=kind)


def _per_year_kind(kind: str) -> Entitlement:
    try:
        chosen = Entitlement(kind)
    except ValueError:
        raise CommandRefused(f"'{kind}' is not an entitlement kind.") from None
    if chosen not in PER_YEAR_KINDS:
        raise CommandRefused(
            f"{sentence_case(ENTITLEMENT_LABELS[chosen])} are not counted in the ledger; "
            "only yearly allowances are debited or credited."
        )
    return chosen


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise CommandRefused("A reason is required for every ledger entry.")
    if len(text) > REASON_MAX_CHARS:
        raise CommandRefused(
            f"The reason is too long: keep it under {REASON_MAX_CHARS} characters."
        )
    return text


def _moment(now: datetime | None) -> datetime:
    if now is None:
        return utc_now()
    if now.tzinfo is None or now.utcoffset() is None:
        raise CommandRefused("The time of a ledger entry must be time-zone aware.")
    return now


def _check_request_of(session: Session, request_id: int | None, customer_id: int) -> None:
    if request_id is None:
        return
    owner = session.exec(
        select(OptimisationRequest.customer_id).where(OptimisationRequest.id == request_id)
    ).first()
    if owner != customer_id:
        raise CommandRefused(f"Optimisation request #{request_id} is not one of this customer's.")


def _append(
    session: Session,
    *,
    customer: Customer,
    kind: Entitlement,
    delta: int,
    reason: str,
    actor: Actor,
    request_id: int | None,
    at: datetime,
    action: str,
) -> EntitlementEntry:
    """Every ledger row goes through here, so the ledger's own rules live here.

    A row dated before the customer's HyperCare start belongs to no subscription year: nothing can
    be used or given back before the programme began, whatever the command.
    """
    if at.astimezone(UTC).date() < customer.hypercare_start:
        raise CommandRefused(
            f"{customer.name}'s HyperCare starts on {customer.hypercare_start:%d %b %Y}; "
            "no entitlement can be used or given back before then."
        )
    entry = EntitlementEntry(
        customer_id=customer.id,
        kind=kind.value,
        at=at,
        delta=delta,
        reason=reason,
        actor_id=actor.user_id,
        request_id=request_id,
    )
    session.add(entry)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action=action,
        entity="entitlement_ledger",
        entity_id=entry.id,
        detail={
            "customer_id": customer.id,
            "kind": kind.value,
            "delta": delta,
            "reason": reason,
            "request_id": request_id,
        },
    )
    return entry


def _debit(
    session: Session,
    *,
    customer: Customer,
    kind: Entitlement,
    actor: Actor,
    reason: str,
    request_id: int | None,
    at: datetime,
) -> EntitlementEntry:
    current = _year_balance(session, customer, kind, at.astimezone(UTC).date())
    try:
        check_can_debit(current, ENTITLEMENT_LABELS[kind])
    except EntitlementExceeded as exc:
        raise CommandRefused(str(exc)) from None
    return _append(
        session,
        customer=customer,
        kind=kind,
        delta=-1,
        reason=reason,
        actor=actor,
        request_id=request_id,
        at=at,
        action="debit_entitlement",
    )


# --- Ledger commands ----------------------------------------------------------------------------


def debit_entitlement(
    *,
    session: Session,
    customer_id: int,
    kind: str,
    actor: Actor,
    reason: str,
    request_id: int | None = None,
    now: datetime | None = None,
) -> EntitlementEntry:
    """Use one of a yearly allowance; refused with the balance and renewal date when none is left.

    A CSM for their own customers, a manager or an admin for any.
    """
    customer = authorise(session, actor, roles=LEDGER_ROLES, customer_id=customer_id)
    chosen = _per_year_kind(kind)
    text = _reason(reason)
    at = _moment(now)
    _check_request_of(session, request_id, customer_id)
    return _debit(
        session,
        customer=customer,
        kind=chosen,
        actor=actor,
        reason=text,
        request_id=request_id,
        at=at,
    )


def credit_entitlement(
    *,
    session: Session,
    customer_id: int,
    kind: str,
    actor: Actor,
    reason: str,
    request_id: int | None = None,
    now: datetime | None = None,
) -> EntitlementEntry:
    """Give one back (a correction, or a request's debit when `request_id` is given).

    A request can be given back only what it was debited, so a double cancel cannot mint credits.
    A CSM for their own customers, a manager or an admin for any.
    """
    customer = authorise(session, actor, roles=LEDGER_ROLES, customer_id=customer_id)
    chosen = _per_year_kind(kind)
    text = _reason(reason)
    at = _moment(now)
    _check_request_of(session, request_id, customer_id)
    if request_id is not None:
        outstanding = session.exec(
            select(func.coalesce(func.sum(EntitlementEntry.delta), 0)).where(
                EntitlementEntry.request_id == request_id, EntitlementEntry.kind == chosen.value
            )
        ).one()
        if outstanding >= 0:
            raise CommandRefused(
                f"Optimisation request #{request_id} has no debit left to give back."
            )
    return _append(
        session,
        customer=customer,
        kind=chosen,
        delta=1,
        reason=text,
        actor=actor,
        request_id=request_id,
        at=at,
        action="credit_entitlement",
    )


def grant_extra(
    *,
    session: Session,
    customer_id: int,
    kind: str,
    actor: Actor,
    reason: str,
) -> EntitlementEntry:
    """A manager's extra one for this subscription year, as a ledger credit with the reason."""
    customer = authorise(session, actor, roles=GRANT_ROLES, customer_id=customer_id)
    chosen = _per_year_kind(kind)
    text = _reason(reason)
    _reason(EXTRA_PREFIX + text)
    return _append(
        session,
        customer=customer,
        kind=chosen,
        delta=1,
        reason=EXTRA_PREFIX + text,
        actor=actor,
        request_id=None,
        at=utc_now(),
        action="grant_extra",
    )


# --- Optimisation requests ---------------------------------------------------------------------


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
    if requested_at.tzinfo is None or requested_at.utcoffset() is None:
        raise CommandRefused("The time of the request must be time-zone aware.")
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
    if _allowance(session, customer, kind, on) > 0:
        return
    if _year_balance(session, customer, kind, on).remaining > 0:
        return
    tier = _tier_on(_tier_history(session, customer), on)
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
    customer_id = session.exec(
        select(OptimisationRequest.customer_id).where(OptimisationRequest.id == request_id)
    ).first()
    if customer_id is None:
        raise CommandRefused(f"There is no optimisation request #{request_id}.")
    customer = authorise(session, actor, roles=OPTIMISATION_ROLES, customer_id=customer_id)
    request = session.exec(
        locking.for_update(select(OptimisationRequest).where(OptimisationRequest.id == request_id))
    ).one()
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
    kind = Entitlement.MODEL_OPTIMISATION
    if effect == LedgerEffect.DEBIT:
        _debit(
            session,
            customer=customer,
            kind=kind,
            actor=actor,
            reason=f"Request #{request_id} accepted",
            request_id=request_id,
            at=now,
        )
    elif effect == LedgerEffect.CREDIT:
        _append(
            session,
            customer=customer,
            kind=kind,
            delta=1,
            reason=f"Request #{request_id} cancelled",
            actor=actor,
            request_id=request_id,
            at=now,
            action="credit_entitlement",
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


# --- Model caps -----------------------------------------------------------------------------------


def _model_labels(session: Session, customer_id: int) -> dict[int, str]:
    """Model names made unique with their workspace (two workspaces may hold 'Sales Plan')."""
    rows = session.exec(
        select(PlanningModel.id, PlanningModel.name, Workspace.name)
        .join(Workspace, Workspace.id == PlanningModel.workspace_id)
        .where(PlanningModel.customer_id == customer_id)
    ).all()
    labels = {model_id: f"{name} ({workspace})" for model_id, name, workspace in rows}
    taken = pd.Series(labels).value_counts()
    return {
        model_id: label if taken[label] == 1 else f"{label} #{model_id}"
        for model_id, label in labels.items()
    }


def set_enrolment(
    *,
    session: Session,
    model_id: int,
    which: str,
    enrolled: bool,
    actor: Actor,
) -> PlanningModel:
    """Enrol a production model in daily monitoring or the weekly report, or take it out.

    Enrolling past the tier's cap raises `EnrolmentRefused` naming the cap, the count and the
    enrolled models to choose from; a refused command writes nothing (record the attempt with
    `record_over_cap_attempt` in a transaction of its own). A CSM for their own customers'
    models, a manager or an admin for any.
    """
    authorise(session, actor, roles=ENROLMENT_ROLES)
    if which not in ENROLMENTS:
        raise CommandRefused("Choose daily monitoring or the weekly report.")
    kind, column = ENROLMENTS[which]
    customer_id = session.exec(
        select(PlanningModel.customer_id).where(PlanningModel.id == model_id)
    ).first()
    if customer_id is None:
        raise CommandRefused(f"There is no model with id {model_id}.")
    customer = authorise(session, actor, roles=ENROLMENT_ROLES, customer_id=customer_id)
    model = session.exec(
        locking.for_update(select(PlanningModel).where(PlanningModel.id == model_id))
    ).one()
    if bool(getattr(model, column)) == enrolled:
        return model
    if enrolled:
        cap = _allowance(session, customer, kind, utc_now().date())
        labels = _model_labels(session, customer_id)
        current = session.exec(
            select(PlanningModel.id)
            .where(PlanningModel.customer_id == customer_id, getattr(PlanningModel, column))
            .order_by(PlanningModel.name, PlanningModel.id)
        ).all()
        try:
            check_enrolment(
                cap,
                [labels[i] for i in current],
                labels[model_id],
                bool(model.is_production),
                place=ENROLMENT_LABELS[which],
            )
        except CapExceeded as exc:
            raise EnrolmentRefused(
                str(exc),
                customer_id=customer_id,
                model_id=model_id,
                which=which,
                cap=cap,
                enrolled=len(current),
            ) from None
        except ValueError as exc:
            raise CommandRefused(str(exc)) from None
    setattr(model, column, enrolled)
    session.add(model)
    record_audit(
        session=session,
        actor=actor.username,
        action="enrol_model" if enrolled else "unenrol_model",
        entity="planning_model",
        entity_id=model_id,
        detail={"customer_id": customer_id, "which": which, "model": model.name},
    )
    return model


def record_over_cap_attempt(*, session: Session, actor: Actor, refusal: EnrolmentRefused) -> None:
    """Keep a refused over-cap enrolment visible to managers (its own small transaction); only by
    someone who may enrol that customer's models, so nobody can fill the list for others."""
    authorise(session, actor, roles=ENROLMENT_ROLES, customer_id=refusal.customer_id)
    record_audit(
        session=session,
        actor=actor.username,
        action="enrolment_refused",
        entity="planning_model",
        entity_id=refusal.model_id,
        detail={
            "customer_id": refusal.customer_id,
            "which": refusal.which,
            "cap": refusal.cap,
            "enrolled": refusal.enrolled,
            "message": str(refusal),
        },
    )


def apply_tier_change(
    *,
    session: Session,
    customer_id: int,
    new_tier: str,
    keep_model_ids: list[int] | None,
    actor: Actor,
) -> None:
    """Move a customer to another tier from today, for the rest of the subscription year.

    Nothing is dropped silently: when the new tier's cap is below what is enrolled in monitoring
    or the weekly report, `keep_model_ids` must name exactly as many of those models as the cap
    allows; the others are taken out. Used allowances still count; nothing delivered is undone.
    A manager or an admin only.
    """
    customer = authorise(session, actor, roles=TIER_CHANGE_ROLES, customer_id=customer_id)
    policies = tier_policies(session=session)
    labels = tier_labels(session=session)
    if new_tier not in policies:
        raise CommandRefused(f"There is no tier called {new_tier!r}.")
    if new_tier == customer.tier:
        raise CommandRefused(f"{customer.name} is already on {labels[new_tier]}.")
    models = session.exec(
        locking.for_update(select(PlanningModel).where(PlanningModel.customer_id == customer_id))
    ).all()
    keep = None if keep_model_ids is None else {int(i) for i in keep_model_ids}
    enrolled_ids = {m.id for m in models if m.in_monitoring or m.in_weekly_report}
    if keep is not None and not keep <= enrolled_ids:
        raise CommandRefused("The models to keep must be models this customer has enrolled.")
    dropped: dict[str, list[PlanningModel]] = {}
    for which, (kind, column) in ENROLMENTS.items():
        cap = allowance(policies[new_tier], kind)
        enrolled = [m for m in models if getattr(m, column)]
        excess = models_to_drop_on_downgrade(cap, [m.id for m in enrolled])
        if excess == 0:
            continue
        if keep is None:
            raise CommandRefused(
                f"{labels[new_tier]} allows {cap} models in {ENROLMENT_LABELS[which]} and "
                f"{len(enrolled)} are enrolled; choose the {cap} to keep ({excess} to drop)."
            )
        kept = [m for m in enrolled if m.id in keep]
        if len(kept) != cap:
            raise CommandRefused(
                f"Keep exactly {cap} of the {len(enrolled)} models in "
                f"{ENROLMENT_LABELS[which]}; {len(kept)} of them are chosen."
            )
        dropped[which] = [m for m in enrolled if m.id not in keep]
    now = utc_now()
    previous = customer.tier
    session.add(
        TierChange(
            customer_id=customer_id,
            effective_on=now.date(),
            from_tier=previous,
            to_tier=new_tier,
            actor_id=actor.user_id,
            at=now,
        )
    )
    for which, models_out in dropped.items():
        for model in models_out:
            setattr(model, ENROLMENTS[which][1], False)
            session.add(model)
    customer.tier = new_tier
    session.add(customer)
    record_audit(
        session=session,
        actor=actor.username,
        action="change_tier",
        entity="customer",
        entity_id=customer_id,
        detail={
            "from": previous,
            "to": new_tier,
            "effective_on": now.date(),
            "dropped": {which: [m.id for m in out] for which, out in dropped.items()},
        },
    )


# --- Reads ---------------------------------------------------------------------------------------


def _balance_rows(
    customer: Customer,
    history: list[tuple[date, str]],
    entries: list[LedgerEntry],
    policies: dict,
    enrolled: dict[str, int],
    on: date,
) -> list[dict]:
    year_start, renews_on = subscription_year(customer.hypercare_start, on)
    rows = []
    for kind in Entitlement:
        allowed = allowance_on(policies, history, kind, on, customer.hypercare_start)
        row = {
            "kind": kind.value,
            "label": ENTITLEMENT_LABELS[kind],
            "allowance": allowed,
            "credited": 0,
            "extra": 0,
            "year_start": year_start,
            "renews_on": renews_on,
        }
        if kind in PER_YEAR_KINDS:
            result = balance(
                allowance=allowed, entries=entries, year=(year_start, renews_on), kind=kind
            )
            row |= {
                "measure": "per_year",
                "used": result.net_used,
                "credited": result.credited,
                "extra": result.extra,
                "remaining": result.remaining,
            }
        elif kind in CAP_KINDS:
            count = enrolled[kind]
            row |= {"measure": "cap", "used": count, "remaining": max(allowed - count, 0)}
        else:
            row |= {"measure": "eligibility", "used": 0, "remaining": allowed}
        rows.append(row)
    return rows


def _enrolled_counts(session: Session, customer_id: int) -> dict[str, int]:
    monitored, weekly = session.exec(
        select(
            func.coalesce(func.sum(case((PlanningModel.in_monitoring, 1), else_=0)), 0),
            func.coalesce(func.sum(case((PlanningModel.in_weekly_report, 1), else_=0)), 0),
        ).where(PlanningModel.customer_id == customer_id)
    ).one()
    return {
        Entitlement.MONITORED_MODELS: int(monitored),
        Entitlement.WEEKLY_REPORT_MODELS: int(weekly),
    }


def entitlement_balances(*, session: Session, customer_id: int, on: date) -> pd.DataFrame:
    """One row per entitlement kind on `on`: allowance, used, credited, remaining, renewal.

    Yearly kinds come from the ledger (`used` is net of given-back debits, `extra` counts granted
    credits); caps compare the models enrolled now with the cap; eligibilities are 1 or 0.
    """
    customer = session.get(Customer, customer_id)
    if customer is None or on < customer.hypercare_start:
        return pd.DataFrame(columns=BALANCE_COLUMNS)
    rows = _balance_rows(
        customer,
        _tier_history(session, customer),
        _ledger_entries(session, [customer_id], PER_YEAR_KINDS).get(customer_id, []),
        tier_policies(session=session),
        _enrolled_counts(session, customer_id),
        on,
    )
    return pd.DataFrame(rows, columns=BALANCE_COLUMNS)


def customer_models(*, session: Session, customer_id: int) -> pd.DataFrame:
    """The customer's models with production status and enrolment, for choosing what to enrol."""
    statement = (
        select(
            PlanningModel.id,
            PlanningModel.name,
            Workspace.name.label("workspace"),
            PlanningModel.is_production,
            PlanningModel.in_monitoring,
            PlanningModel.in_weekly_report,
        )
        .join(Workspace, Workspace.id == PlanningModel.workspace_id)
        .where(PlanningModel.customer_id == customer_id)
        .order_by(PlanningModel.is_production.desc(), PlanningModel.name, PlanningModel.id)
    )
    return pd.read_sql(statement, session.connection())


def _utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def optimisation_requests(
    *, session: Session, scope: Scope, customer_id: int | None = None
) -> pd.DataFrame:
    """Optimisation requests of the visible customers (or one of them), earliest target first."""
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
    frame = pd.read_sql(statement, session.connection())
    return _utc(frame, "requested_at", "delivered_at")


def ledger_history(*, session: Session, customer_id: int) -> pd.DataFrame:
    """The customer's ledger, newest first, with who and why; tier changes are merged in."""
    entries = pd.read_sql(
        select(
            EntitlementEntry.at,
            EntitlementEntry.kind,
            EntitlementEntry.delta,
            EntitlementEntry.reason,
            User.name.label("actor"),
            EntitlementEntry.request_id,
            EntitlementEntry.id.label("entry_id"),
        )
        .outerjoin(User, User.id == EntitlementEntry.actor_id)
        .where(EntitlementEntry.customer_id == customer_id),
        session.connection(),
    )
    from_policy = aliased(TierPolicyRow)
    to_policy = aliased(TierPolicyRow)
    changes = pd.read_sql(
        select(
            TierChange.at,
            TierChange.effective_on,
            from_policy.label.label("from_label"),
            to_policy.label.label("to_label"),
            User.name.label("actor"),
        )
        .outerjoin(from_policy, from_policy.tier == TierChange.from_tier)
        .join(to_policy, to_policy.tier == TierChange.to_tier)
        .outerjoin(User, User.id == TierChange.actor_id)
        .where(TierChange.customer_id == customer_id, TierChange.from_tier.is_not(None)),
        session.connection(),
    )
    entries["label"] = entries["kind"].map(ENTITLEMENT_LABELS)
    changes = changes.assign(
        kind="tier_change",
        label="tier change",
        delta=0,
        reason=[
            f"Tier changed from {old} to {new} from {on:%d %b %Y}; the new allowances apply "
            "to the rest of the subscription year and what was used still counts"
            for old, new, on in zip(
                changes["from_label"], changes["to_label"], changes["effective_on"], strict=True
            )
        ],
        request_id=None,
        entry_id=None,
    )
    columns = ["at", "kind", "label", "delta", "reason", "actor", "request_id", "entry_id"]
    parts = [frame[columns] for frame in (entries, changes) if not frame.empty]
    if not parts:
        return pd.DataFrame(columns=columns)
    merged = _utc(pd.concat(parts, ignore_index=True), "at")
    merged["request_id"] = merged["request_id"].astype("Int64")
    merged["entry_id"] = merged["entry_id"].astype("Int64")
    return merged.sort_values("at", ascending=False, kind="stable").reset_index(drop=True)


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
        select(Customer).where(Customer.is_active, scope.customer_filter()).order_by(Customer.name)
    ).all()
    customers = [c for c in customers if c.hypercare_start <= today]
    soon = [
        c
        for c in customers
        if (subscription_year(c.hypercare_start, today)[1] - today).days <= within_days
    ]
    if not soon:
        return pd.DataFrame(columns=columns)
    policies = tier_policies(session=session)
    labels = tier_labels(session=session)
    entries = _ledger_entries(session, [c.id for c in soon], PER_YEAR_KINDS)
    rows = []
    for customer in soon:
        history = _tier_history(session, customer)
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
    frame = optimisation_requests(session=session, scope=scope)
    open_states = {state.value for state in OPEN_REQUEST_STATES}
    overdue = frame[frame["state"].isin(open_states) & (frame["target_date"] < today)].copy()
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
    frame = _utc(pd.read_sql(statement, session.connection()), "at")
    details = [json.loads(text) if text else {} for text in frame["detail"]]
    frame["which"] = [ENROLMENT_LABELS.get(d.get("which"), "") for d in details]
    frame["cap"] = [d.get("cap") for d in details]
    frame["enrolled"] = [d.get("enrolled") for d in details]
    frame["message"] = [d.get("message", "") for d in details]
    return frame.drop(columns="detail")
