"""Write a case and its history straight into the tables, the way the case commands would.

The SLA and QBR tests need cases with exact timestamps in the past; writing the rows directly
keeps them about the figures, not about who may act (the commands' own tests cover that). The
lifecycle rules still decide each step, and the case row mirrors the events as the commands do.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session

from data_access.models import Case, CaseEvent
from domain.lifecycle import ESCALATION_LEVELS, check_action


def write_case(
    session: Session,
    *,
    customer_id: int,
    severity: int,
    opened: datetime,
    steps: Iterable[tuple[datetime, str]] = (),
    channel: str = "portal",
    actor_id: int | None = None,
) -> int:
    """A case opened at `opened`, then each (when, action) step in order; returns its id."""
    case = Case(
        customer_id=customer_id,
        subject=f"Opened {opened:%d %b %H:%M}",
        severity=severity,
        channel=channel,
        status="new",
        opened_at=opened,
        updated_at=opened,
    )
    session.add(case)
    session.flush()
    events = [_event(case.id, opened, actor_id, "status", None, "new")]
    for when, action in steps:
        new_status = check_action(case.status, action)
        if action == "public_reply":
            events.append(_event(case.id, when, actor_id, "public_reply"))
            case.first_response_at = case.first_response_at or when
        if new_status is not None:
            events.append(_event(case.id, when, actor_id, "status", case.status, new_status))
            if new_status == "solved":
                case.solved_at = when
            elif new_status == "closed":
                case.closed_at = when
            elif case.status == "solved" and new_status == "open":
                case.solved_at = None
            case.escalated_to = ESCALATION_LEVELS.get(new_status, case.escalated_to)
            case.status = new_status
        case.updated_at = when
    session.add(case)
    session.add_all(events)
    session.flush()
    return case.id


def _event(
    case_id: int,
    at: datetime,
    actor_id: int | None,
    kind: str,
    from_status: str | None = None,
    to_status: str | None = None,
) -> CaseEvent:
    return CaseEvent(
        case_id=case_id,
        at=at,
        actor_id=actor_id,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
    )
