"""The entitlement ledger: yearly balances from append-only entries, debits, credits and extras.

Every command that checks a balance locks the customer row first (SELECT … FOR UPDATE on
PostgreSQL; on SQLite the write transaction already holds the database write lock), so people
racing for the last credit are served one after the other and only one wins.

The ledger is append-only: this module has no function that updates or deletes an entry; a
correction is a new entry with a reason and the acting user. Tier changes live in the tier history
(`TierChange`) and `ledger_history` merges them into the ledger view, so the ledger shows the change
without zero-delta rows that every reader of the ledger would have to skip.

Optimisation requests (`optimisation_requests`) and model caps (`model_caps`) read their
allowances here and write to the ledger only through `debit_entitlement` and `credit_entitlement`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import case, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused, record_audit
from data_access.checks import utc_moment
from data_access.models import (
    Customer,
    EntitlementEntry,
    OptimisationRequest,
    PlanningModel,
    TierChange,
    TierPolicyRow,
    User,
    utc_now,
)
from data_access.policies import tier_policies
from domain.entitlements import (
    CAP_KINDS,
    ENTITLEMENT_LABELS,
    PER_YEAR_KINDS,
    Balance,
    Entitlement,
    EntitlementExceeded,
    LedgerEntry,
    allowance_on,
    balance,
    check_can_debit,
    sentence_case,
    subscription_year,
)
from domain.roles import Role

REASON_MAX_CHARS = 500
EXTRA_PREFIX = "Extra granted: "
UNAWARE_LEDGER_TIME = "The time of a ledger entry must be time-zone aware."
LEDGER_ROLES = (Role.CSM, Role.MANAGER, Role.ADMIN)
GRANT_ROLES = (Role.MANAGER,)
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


# --- Allowances and balances (read inside the callers' transactions) -------------------------


def tier_history(*, session: Session, customer: Customer) -> list[tuple[date, str]]:
    """The tier history from the HyperCare start; a customer without one is on its current tier."""
    return tier_histories(session=session, customers=[customer])[customer.id]


def tier_histories(
    *, session: Session, customers: Sequence[Customer]
) -> dict[int, list[tuple[date, str]]]:
    """`tier_history` of each of these customers (anything with `id`, `hypercare_start` and `tier`),
    by id, in one read."""
    changes: dict[int, list[tuple[date, str | None, str]]] = {c.id: [] for c in customers}
    if changes:
        rows = session.exec(
            select(
                TierChange.customer_id,
                TierChange.effective_on,
                TierChange.from_tier,
                TierChange.to_tier,
            )
            .where(TierChange.customer_id.in_(list(changes)))
            .order_by(TierChange.customer_id, TierChange.effective_on, TierChange.id)
        ).all()
        for customer_id, effective_on, from_tier, to_tier in rows:
            changes[customer_id].append((effective_on, from_tier, to_tier))
    return {c.id: _history(c, changes[c.id]) for c in customers}


def _history(
    customer: Customer, rows: list[tuple[date, str | None, str]]
) -> list[tuple[date, str]]:
    history = [(effective_on, to_tier) for effective_on, _, to_tier in rows]
    if not rows:
        return [(customer.hypercare_start, customer.tier)]
    first_on, first_from, first_to = rows[0]
    if first_on > customer.hypercare_start:
        history.insert(0, (customer.hypercare_start, first_from or first_to))
    return history


def ledger_entries(
    *,
    session: Session,
    customer_ids: Iterable[int],
    kinds: Iterable[str] | None = None,
    before: datetime | None = None,
    counting_from: date | None = None,
) -> dict[int, list[LedgerEntry]]:
    """The non-zero ledger entries of these customers (of `kinds`, and written before `before`,
    if given), by customer.

    With `counting_from`, only the entries that can count in a subscription year starting on or
    after that day: those written since, and every entry of a request that has one written since
    (a give-back counts in its debit's year, so `balance` needs the debit). The ledger of earlier
    years is not read; `balance` gives the same result for those years.
    """
    ledger = EntitlementEntry.__table__.c
    ids = list(customer_ids)
    chosen = None if kinds is None else [str(k) for k in kinds]
    statement = select(
        ledger.customer_id,
        ledger.at,
        ledger.kind,
        ledger.delta,
        ledger.reason,
        ledger.actor_id,
        ledger.request_id,
    ).where(ledger.customer_id.in_(ids), ledger.delta != 0)
    if chosen is not None:
        statement = statement.where(ledger.kind.in_(chosen))
    if before is not None:
        statement = statement.where(ledger.at < before)
    if counting_from is not None:
        # A day early, so no time-zone reading of the stored moment can leave out an entry of
        # that day; an extra day of entries outside the year changes no balance.
        since = datetime.combine(counting_from - timedelta(days=1), time(0), tzinfo=UTC)
        touched = aliased(EntitlementEntry)
        requests = select(touched.request_id).where(
            touched.customer_id.in_(ids), touched.at >= since, touched.request_id.is_not(None)
        )
        if chosen is not None:
            requests = requests.where(touched.kind.in_(chosen))
        statement = statement.where(or_(ledger.at >= since, ledger.request_id.in_(requests)))
    by_customer: dict[int, list[LedgerEntry]] = {}
    for customer_id, at, kind, delta, reason, actor_id, request_id in session.exec(statement):
        by_customer.setdefault(customer_id, []).append(
            LedgerEntry(
                at=at,
                kind=kind,
                delta=delta,
                reason=reason,
                actor=str(actor_id or ""),
                request_id=request_id,
            )
        )
    return by_customer


def customer_allowance(*, session: Session, customer: Customer, kind: str, on: date) -> int:
    """The allowance (or cap) of `kind` under the tier in force on `on`."""
    try:
        return allowance_on(
            tier_policies(session=session),
            tier_history(session=session, customer=customer),
            kind,
            on,
            customer.hypercare_start,
        )
    except ValueError as exc:
        raise CommandRefused(str(exc)) from None


def year_balance(*, session: Session, customer: Customer, kind: str, on: date) -> Balance:
    """The balance of a yearly `kind` in the subscription year containing `on`."""
    allowed = customer_allowance(session=session, customer=customer, kind=kind, on=on)
    entries = ledger_entries(session=session, customer_ids=[customer.id], kinds=[kind]).get(
        customer.id, []
    )
    year = subscription_year(customer.hypercare_start, on)
    return balance(allowance=allowed, entries=entries, year=year, kind=kind)


# --- Ledger steps -----------------------------------------------------------------------------


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
    current = year_balance(
        session=session, customer=customer, kind=kind, on=at.astimezone(UTC).date()
    )
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


def _checked_ledger_command(
    session: Session,
    actor: Actor,
    customer_id: int,
    kind: str,
    reason: str,
    request_id: int | None,
    now: datetime | None,
) -> tuple[Customer, Entitlement, str, datetime]:
    """What a ledger command checks before it writes, in this order: the actor may act for the
    customer, the kind has a yearly allowance, a reason is given, `now` is aware, and a request
    named is this customer's. Returns the customer, the kind, the reason and the time."""
    customer = authorise(session, actor, roles=LEDGER_ROLES, customer_id=customer_id)
    chosen = _per_year_kind(kind)
    text = _reason(reason)
    at = utc_moment(now, refusal=UNAWARE_LEDGER_TIME)
    _check_request_of(session, request_id, customer_id)
    return customer, chosen, text, at


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
    customer, chosen, text, at = _checked_ledger_command(
        session, actor, customer_id, kind, reason, request_id, now
    )
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
    customer, chosen, text, at = _checked_ledger_command(
        session, actor, customer_id, kind, reason, request_id, now
    )
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
        tier_history(session=session, customer=customer),
        ledger_entries(session=session, customer_ids=[customer_id], kinds=PER_YEAR_KINDS).get(
            customer_id, []
        ),
        tier_policies(session=session),
        _enrolled_counts(session, customer_id),
        on,
    )
    return pd.DataFrame(rows, columns=BALANCE_COLUMNS)


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
    merged = pd.concat(parts, ignore_index=True)
    merged["at"] = pd.to_datetime(merged["at"], utc=True)
    merged["request_id"] = merged["request_id"].astype("Int64")
    merged["entry_id"] = merged["entry_id"].astype("Int64")
    return merged.sort_values("at", ascending=False, kind="stable").reset_index(drop=True)
