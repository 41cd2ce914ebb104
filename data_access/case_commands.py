"""Case commands: open a case, act on it (reply, assign, status changes), and read one case.

Every action appends event rows, which the clocks replay, and mirrors the result on the case row
for fast reads. The case row is locked first and its status re-read, so two people acting on the
same case at once are serialised: the second sees the first one's change, and is refused with one
sentence when that change made their action illegal.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from data_access.audit import CommandRefused, record_audit
from data_access.customers import contacts_of
from data_access.locking import for_update
from data_access.models import Case, CaseEvent, Customer, Region, TierPolicyRow, User
from data_access.scope import Scope
from domain.lifecycle import ESCALATION_LEVELS, IllegalTransition, check_action
from domain.roles import Role, parse_roles

CHANNELS = ("email", "phone", "chat", "portal")
SEVERITIES = (1, 2, 3, 4)
NOTE_MAX_CHARS = 5000
DESCRIPTION_MAX_CHARS = 20_000
SUBJECT_MAX_CHARS = 300


def open_case(
    *,
    session: Session,
    actor: str,
    customer_id: int,
    subject: str,
    severity: int,
    channel: str,
    is_outage: bool = False,
    description: str = "",
    now: datetime | None = None,
) -> Case:
    """Create a case in status `new` with its first event (None -> new) at `now`.

    `actor` is the username recorded in the audit; the event's actor is that user when one
    exists (a case logged by an integration such as "portal" has no staff actor).
    """
    now = _checked_now(now)
    subject = (subject or "").strip()
    if not subject:
        raise CommandRefused("A case needs a subject.")
    if len(subject) > SUBJECT_MAX_CHARS:
        raise CommandRefused(f"The subject can be at most {SUBJECT_MAX_CHARS} characters.")
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise CommandRefused("Severity must be 1 (critical), 2, 3 or 4 (low).")
    if channel not in CHANNELS:
        raise CommandRefused("The channel must be email, phone, chat or portal.")
    if len(description or "") > DESCRIPTION_MAX_CHARS:
        raise CommandRefused(f"The description can be at most {DESCRIPTION_MAX_CHARS} characters.")
    customer = session.get(Customer, customer_id)
    if customer is None or not customer.is_active:
        raise CommandRefused(f"There is no active customer with id {customer_id}.")
    actor_id = session.exec(select(User.id).where(User.username == actor)).first()
    case = Case(
        customer_id=customer_id,
        subject=subject,
        description=description or "",
        severity=int(severity),
        is_outage=bool(is_outage),
        channel=channel,
        status="new",
        opened_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    session.add(
        CaseEvent(
            case_id=case.id, at=now, actor_id=actor_id, kind="status", to_status="new", note=""
        )
    )
    record_audit(
        session=session,
        actor=actor,
        action="open_case",
        entity="case",
        entity_id=case.id,
        detail={
            "customer_id": customer_id,
            "severity": case.severity,
            "channel": channel,
            "is_outage": case.is_outage,
        },
    )
    return case


def record_case_event(
    *,
    session: Session,
    case_id: int,
    actor_id: int,
    actor: str,
    action: str,
    note: str = "",
    assignee_id: int | None = None,
    now: datetime | None = None,
) -> CaseEvent:
    """Take `action` on a case: append its event(s), update the mirrored fields, audit it.

    Returns the event the action is about (the reply, the assignment or the status change).
    The first public reply on a new case also appends the status event new -> open. Solving
    sets `solved_at` to this solve; reopening clears it, so it is the last solve of a solved or
    closed case. `escalated_to` is the level of the latest transfer and stays after the case
    comes back, so the case is known to have been transferred.
    """
    note = note or ""
    if len(note) > NOTE_MAX_CHARS:
        raise CommandRefused(f"A note can be at most {NOTE_MAX_CHARS} characters.")
    # Lock first, then read the status as it is now, not as the caller last saw it.
    case = session.exec(for_update(select(Case).where(Case.id == case_id))).first()
    if case is None:
        raise CommandRefused(f"There is no case with id {case_id}.")
    # Read the clock only once the lock is held, so events are stamped in the order they apply.
    now = _checked_now(now)
    try:
        new_status = check_action(case.status, action)
    except IllegalTransition as exc:
        raise CommandRefused(str(exc)) from exc
    acting = session.get(User, actor_id)
    if acting is None or not acting.is_active:
        raise CommandRefused("Only an active staff member can act on a case.")

    old_status = case.status
    detail: dict[str, object] = {"action": action, "from": old_status}
    if action == "assign":
        assignee = _checked_assignee(session, assignee_id, case)
        event = _event(case, now, actor_id, "assign", note=_assign_note(assignee, note))
        events = [event]
        detail["assignee_id"] = assignee.id
        case.assignee_id = assignee.id
    elif action == "public_reply":
        event = _event(case, now, actor_id, "public_reply", note=note)
        events = [event]
        if case.first_response_at is None:
            case.first_response_at = now
        if new_status is not None:
            # After the reply, at the same instant: the reply is what opened the case.
            events.append(
                _event(case, now, actor_id, "status", from_status=old_status, to_status=new_status)
            )
    else:
        event = _event(
            case, now, actor_id, "status", from_status=old_status, to_status=new_status, note=note
        )
        events = [event]
    session.add_all(events)

    if new_status is not None:
        _mirror_status(case, old_status, new_status, now)
    case.version += 1
    case.updated_at = now
    session.add(case)
    session.flush()
    detail["to"] = case.status
    record_audit(
        session=session,
        actor=actor,
        action=f"case_{action}",
        entity="case",
        entity_id=case_id,
        detail=detail,
    )
    return event


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
    detail = dict(row._mapping)
    detail["contacts"] = contacts_of(session=session, customer_id=detail["customer_id"])
    detail["events"] = case_events(session=session, case_id=case_id)
    return detail


def case_events(*, session: Session, case_id: int) -> pd.DataFrame:
    """A case's history in time order (ties in the order written), with the actor's name."""
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


# --- helpers ---------------------------------------------------------------------------------


def _checked_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("`now` must be a time-zone-aware datetime.")
    return now.astimezone(UTC)


def _event(
    case: Case,
    now: datetime,
    actor_id: int,
    kind: str,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str = "",
) -> CaseEvent:
    return CaseEvent(
        case_id=case.id,
        at=now,
        actor_id=actor_id,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )


def _checked_assignee(session: Session, assignee_id: int | None, case: Case) -> User:
    if assignee_id is None:
        raise CommandRefused("Choose who to assign the case to.")
    assignee = session.get(User, assignee_id)
    if assignee is None or not assignee.is_active or Role.CSM not in parse_roles(assignee.roles):
        raise CommandRefused("A case can only be assigned to an active user with the csm role.")
    if case.assignee_id == assignee.id:
        raise CommandRefused(f"The case is already assigned to {assignee.name}.")
    return assignee


def _assign_note(assignee: User, note: str) -> str:
    assigned = f"Assigned to {assignee.name}."
    return f"{assigned}\n{note}" if note else assigned


def _mirror_status(case: Case, old_status: str, new_status: str, now: datetime) -> None:
    case.status = new_status
    if new_status == "solved":
        case.solved_at = now
    elif new_status == "closed":
        case.closed_at = now
    elif old_status == "solved" and new_status == "open":
        case.solved_at = None
    if new_status in ESCALATION_LEVELS:
        case.escalated_to = ESCALATION_LEVELS[new_status]
