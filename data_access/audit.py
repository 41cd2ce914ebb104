"""The audit trail: every write command appends one row in the same transaction."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlmodel import Session, select

from data_access.models import AuditLog, utc_now


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
