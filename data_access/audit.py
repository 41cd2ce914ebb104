"""The audit trail: every write command appends one row in the same transaction."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlmodel import Session, select

from data_access.models import AuditLog, utc_now

if TYPE_CHECKING:
    from data_access.actor import Actor


class CommandRefused(ValueError):
    """A write a person can fix: the message is one sentence saying what is wrong."""


def record_audit(
    *, session: Session, actor: str, action: str, entity: str, entity_id: Any, detail: Any = None
) -> AuditLog:
    row = AuditLog(
        at=utc_now(),
        actor=actor,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        detail=json.dumps(detail, default=str, sort_keys=True) if detail is not None else "",
    )
    session.add(row)
    return row


def recent_audit(*, session: Session, limit: int = 200) -> pd.DataFrame:
    statement = (
        select(
            AuditLog.at,
            AuditLog.actor,
            AuditLog.action,
            AuditLog.entity,
            AuditLog.entity_id,
            AuditLog.detail,
        )
        .order_by(AuditLog.id.desc())
        .limit(limit)
    )
    return pd.read_sql(statement, session.connection())


def record_export(*, session: Session, actor: Actor, file_name: str, rows: int) -> AuditLog:
    """A CSV download is audited like a write: who took which file, with how many rows."""
    from data_access.actor import authorise
    from domain.roles import Role

    authorise(session, actor, roles=[role.value for role in Role])
    return record_audit(
        session=session,
        actor=actor.username,
        action="export_csv",
        entity="file",
        entity_id=file_name,
        detail={"rows": rows},
    )
