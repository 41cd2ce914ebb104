"""Bulk actions from the case queue: assign, or change the status of, many cases at once.

Each case goes through the same command as on the case page (`record_case_event`), in one
transaction: if any case is refused, the whole action is refused with one sentence and nothing
is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused, record_audit
from data_access.case_commands import record_case_event
from data_access.models import Case, Customer, User
from domain.lifecycle import ACTION_LABELS
from domain.roles import Role, parse_roles, sees_all_customers

BULK_ACTIONS = ("assign", "set_pending", "resume", "solve", "reopen", "close")
MAX_BULK_CASES = 500
_STAFF = (Role.CSM, Role.MANAGER, Role.ADMIN)


def bulk_case_action(
    *,
    session: Session,
    actor: Actor,
    case_ids: Sequence[int],
    action: str,
    assignee_id: int | None = None,
    note: str = "",
    now: datetime | None = None,
) -> int:
    """Take `action` on every case in `case_ids`; returns how many cases changed.

    The actor must be allowed to act on each case's customer (checked and locked per customer
    under `authorise`), and an assignee must be able to see each customer: its CSM or HyperCare
    resource, or someone who sees every customer. Cases already assigned to that person are
    left as they are. Edge case: the first refused case refuses the whole action, so a
    half-written bulk change never happens.
    """
    ids = sorted({int(case_id) for case_id in case_ids})
    if not ids:
        raise CommandRefused("Select at least one case.")
    if len(ids) > MAX_BULK_CASES:
        raise CommandRefused(f"Select at most {MAX_BULK_CASES} cases at a time.")
    if action not in BULK_ACTIONS:
        raise CommandRefused(f"{ACTION_LABELS.get(action, action)!s} cannot be done in bulk.")
    authorise(session, actor, roles=_STAFF)
    rows = session.exec(select(Case.id, Case.customer_id).where(Case.id.in_(ids))).all()
    customer_of = {case_id: customer_id for case_id, customer_id in rows}
    missing = [case_id for case_id in ids if case_id not in customer_of]
    if missing:
        raise CommandRefused(f"There is no case #{missing[0]}; nothing was changed.")
    customers = {
        customer_id: authorise(session, actor, roles=_STAFF, customer_id=customer_id)
        for customer_id in sorted(set(customer_of.values()))
    }
    assignee = _checked_assignee(session, assignee_id, customers) if action == "assign" else None
    changed = 0
    for case_id in ids:
        if assignee is not None and session.get(Case, case_id).assignee_id == assignee.id:
            continue
        try:
            record_case_event(
                session=session,
                case_id=case_id,
                actor=actor,
                action=action,
                note=note,
                assignee_id=assignee_id,
                now=now,
            )
        except CommandRefused as exc:
            raise CommandRefused(
                f"Nothing was changed, because case #{case_id} was refused: {exc}"
            ) from exc
        changed += 1
    record_audit(
        session=session,
        actor=actor.username,
        action=f"bulk_case_{action}",
        entity="case",
        entity_id=None,
        detail={"case_ids": ids, "assignee_id": assignee_id, "changed": changed},
    )
    return changed


def _checked_assignee(
    session: Session, assignee_id: int | None, customers: dict[int, Customer | None]
) -> User:
    if assignee_id is None:
        raise CommandRefused("Choose who to assign the cases to.")
    assignee = session.get(User, assignee_id)
    if assignee is None or not assignee.is_active or Role.CSM not in parse_roles(assignee.roles):
        raise CommandRefused("Cases can only be assigned to an active user with the csm role.")
    if sees_all_customers(parse_roles(assignee.roles)):
        return assignee
    for customer in customers.values():
        if assignee.id not in (customer.csm_id, customer.hypercare_resource_id):
            raise CommandRefused(
                f"{assignee.name} does not look after {customer.name}, so cannot be assigned "
                "its cases; nothing was changed."
            )
    return assignee
