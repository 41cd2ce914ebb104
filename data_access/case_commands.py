"""Case commands: open a case, act on it (reply, note, assign, severity, status changes).

Every command starts with `authorise` (the actor's role and the customer's scope, read fresh and
locked), then locks the case row and re-reads its status, so two people acting on the same case
at once are serialised: the second sees the first one's change, and is refused with one sentence
when that change made their action illegal. Every action appends event rows, which the clocks
replay, mirrors the result on the case row for fast reads, and appends an audit row.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from data_access.actor import Actor, authorise, authorise_row
from data_access.audit import CommandRefused, record_audit
from data_access.checks import utc_moment
from data_access.models import Case, CaseEvent, Contact, Customer, User
from domain.contacts import CASE_CHANNELS
from domain.lifecycle import (
    ESCALATION_LEVELS,
    OPEN_STATUSES,
    SEVERITY_LABELS,
    IllegalTransition,
    check_action,
)
from domain.roles import Role, parse_roles, sees_all_customers

SEVERITIES = (1, 2, 3, 4)
NOTE_MAX_CHARS = 5000
DESCRIPTION_MAX_CHARS = 20_000
SUBJECT_MAX_CHARS = 300
REASON_MAX_CHARS = 500
UNAWARE_NOW = "The time of a case action must be a time-zone-aware date and time."
CASE_ROLES = (Role.CSM, Role.MANAGER, Role.ADMIN)


def open_case(
    *,
    session: Session,
    actor: Actor,
    customer_id: int,
    subject: str,
    severity: int,
    channel: str,
    is_outage: bool = False,
    description: str = "",
    contact_id: int | None = None,
    now: datetime | None = None,
) -> Case:
    """Create a case in status `new` with its first event (None -> new) at `now`.

    Only staff who may act on the customer open its cases. The customer's contact who reported
    it, when named, must be one of that customer's contacts; the opening event's note says who
    reported it and how, since the case itself keeps no contact.
    """
    customer = authorise(session, actor, roles=CASE_ROLES, customer_id=customer_id)
    now = utc_moment(now, refusal=UNAWARE_NOW)
    subject = (subject or "").strip()
    description = (description or "").strip()
    if not subject:
        raise CommandRefused("A case needs a subject.")
    if len(subject) > SUBJECT_MAX_CHARS:
        raise CommandRefused(f"The subject can be at most {SUBJECT_MAX_CHARS} characters.")
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise CommandRefused("Severity must be 1 (critical), 2, 3 or 4 (low).")
    if channel not in CASE_CHANNELS:
        raise CommandRefused("The channel must be email, phone, chat or portal.")
    if len(description) > DESCRIPTION_MAX_CHARS:
        raise CommandRefused(f"The description can be at most {DESCRIPTION_MAX_CHARS} characters.")
    if not customer.is_active:
        raise CommandRefused(f"{customer.name} is no longer an active customer.")
    reporter = ""
    if contact_id is not None:
        contact = session.get(Contact, contact_id)
        if contact is None or contact.customer_id != customer_id:
            raise CommandRefused(f"That contact is not one of {customer.name}'s contacts.")
        reporter = f"Reported by {contact.name} by {channel}."
    case = Case(
        customer_id=customer_id,
        subject=subject,
        description=description,
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
            case_id=case.id,
            at=now,
            actor_id=actor.user_id,
            kind="status",
            to_status="new",
            note=reporter,
        )
    )
    record_audit(
        session=session,
        actor=actor.username,
        action="open_case",
        entity="case",
        entity_id=case.id,
        detail={
            "customer_id": customer_id,
            "severity": case.severity,
            "channel": channel,
            "is_outage": case.is_outage,
            "contact_id": contact_id,
        },
    )
    return case


def record_case_event(
    *,
    session: Session,
    actor: Actor,
    case_id: int,
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
    comes back, so the case is known to have been transferred. A case is assigned only to an
    active CSM who can see its customer.
    """
    note = note or ""
    if len(note) > NOTE_MAX_CHARS:
        raise CommandRefused(f"A note can be at most {NOTE_MAX_CHARS} characters.")
    case, customer = _locked_case(session, actor, case_id)
    # Read the clock only once the lock is held, so events are stamped in the order they apply.
    now = utc_moment(now, refusal=UNAWARE_NOW)
    try:
        new_status = check_action(case.status, action)
    except IllegalTransition as exc:
        raise CommandRefused(str(exc)) from exc

    old_status = case.status
    detail: dict[str, object] = {"action": action, "from": old_status}
    if action == "assign":
        assignee = _checked_assignee(session, assignee_id, case, customer)
        event = _event(case, now, actor.user_id, "assign", note=_assign_note(assignee, note))
        events = [event]
        detail["assignee_id"] = assignee.id
        case.assignee_id = assignee.id
    elif action == "public_reply":
        event = _event(case, now, actor.user_id, "public_reply", note=note)
        events = [event]
        if case.first_response_at is None:
            case.first_response_at = now
        if new_status is not None:
            # After the reply, at the same instant: the reply is what opened the case.
            events.append(
                _event(
                    case, now, actor.user_id, "status", from_status=old_status, to_status=new_status
                )
            )
    else:
        event = _event(
            case,
            now,
            actor.user_id,
            "status",
            from_status=old_status,
            to_status=new_status,
            note=note,
        )
        events = [event]
    session.add_all(events)

    if new_status is not None:
        _mirror_status(case, old_status, new_status, now)
    _touch(session, case, now)
    detail["to"] = case.status
    record_audit(
        session=session,
        actor=actor.username,
        action=f"case_{action}",
        entity="case",
        entity_id=case_id,
        detail=detail,
    )
    return event


def add_internal_note(
    *, session: Session, actor: Actor, case_id: int, note: str, now: datetime | None = None
) -> CaseEvent:
    """Append an internal note (staff only, never sent to the customer); a closed case is final."""
    note = (note or "").strip()
    if not note:
        raise CommandRefused("Write the note before adding it.")
    if len(note) > NOTE_MAX_CHARS:
        raise CommandRefused(f"A note can be at most {NOTE_MAX_CHARS} characters.")
    case, _ = _locked_case(session, actor, case_id)
    now = utc_moment(now, refusal=UNAWARE_NOW)
    if case.status == "closed":
        raise CommandRefused(
            "A closed case is final and cannot be changed; open a new case instead."
        )
    event = _event(case, now, actor.user_id, "internal_note", note=note)
    session.add(event)
    _touch(session, case, now)
    record_audit(
        session=session,
        actor=actor.username,
        action="case_internal_note",
        entity="case",
        entity_id=case_id,
        detail={"status": case.status},
    )
    return event


def change_severity(
    *,
    session: Session,
    actor: Actor,
    case_id: int,
    severity: int,
    reason: str,
    now: datetime | None = None,
) -> CaseEvent:
    """Change an open case's severity, with a reason kept in the event and the audit.

    The clocks read the severity from the case row, so the new severity applies to the whole
    case from now on (a severity 1 case has no response target, only the internal goal).
    """
    reason = (reason or "").strip()
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise CommandRefused("Severity must be 1 (critical), 2, 3 or 4 (low).")
    if not reason:
        raise CommandRefused("Say why the severity changes.")
    if len(reason) > REASON_MAX_CHARS:
        raise CommandRefused(f"The reason can be at most {REASON_MAX_CHARS} characters.")
    case, _ = _locked_case(session, actor, case_id)
    now = utc_moment(now, refusal=UNAWARE_NOW)
    if case.status not in OPEN_STATUSES:
        raise CommandRefused("Only an open case's severity can change; reopen it first.")
    if case.severity == severity:
        raise CommandRefused(f"The case is already {SEVERITY_LABELS[severity]}.")
    old = case.severity
    note = f"{SEVERITY_LABELS[old]} → {SEVERITY_LABELS[severity]}: {reason}"
    event = _event(case, now, actor.user_id, "severity", note=note)
    session.add(event)
    case.severity = int(severity)
    _touch(session, case, now)
    record_audit(
        session=session,
        actor=actor.username,
        action="case_change_severity",
        entity="case",
        entity_id=case_id,
        detail={"from": old, "to": case.severity, "reason": reason},
    )
    return event


def can_see_customer(user: User, customer: Customer) -> bool:
    """Managers and admins see every customer; anyone else only customers they are CSM or
    HyperCare resource for."""
    return sees_all_customers(parse_roles(user.roles)) or user.id in (
        customer.csm_id,
        customer.hypercare_resource_id,
    )


# --- helpers ---------------------------------------------------------------------------------


def _locked_case(session: Session, actor: Actor, case_id: int) -> tuple[Case, Customer]:
    """Authorise `actor` on the case's customer, then lock the case and read it fresh.

    Locks are taken user, customer, case, in the same order as every other command.
    """
    return authorise_row(
        session,
        actor,
        Case,
        case_id,
        roles=CASE_ROLES,
        missing=f"There is no case with id {case_id}.",
    )


def _touch(session: Session, case: Case, now: datetime) -> None:
    case.version += 1
    case.updated_at = now
    session.add(case)
    session.flush()


def _event(
    case: Case,
    now: datetime,
    actor_id: int | None,
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


def _checked_assignee(
    session: Session, assignee_id: int | None, case: Case, customer: Customer
) -> User:
    if assignee_id is None:
        raise CommandRefused("Choose who to assign the case to.")
    assignee = session.get(User, assignee_id)
    if assignee is None or not assignee.is_active or Role.CSM not in parse_roles(assignee.roles):
        raise CommandRefused("A case can only be assigned to an active user with the csm role.")
    if not can_see_customer(assignee, customer):
        raise CommandRefused(
            f"{assignee.name} cannot see {customer.name}; assign the case to its CSM, its "
            "HyperCare resource or a manager."
        )
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
