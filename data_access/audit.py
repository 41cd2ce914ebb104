"""The audit trail: every write command appends one row in the same transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import func, or_
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


@dataclass(frozen=True)
class AuditFilters:
    """What the admin narrows the audit log to; None (or blank) means any."""

    actor: str | None = None
    action: str | None = None
    entity: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None


@dataclass(frozen=True)
class AuditPage:
    """One page of matching audit rows, newest first, and where it sits among them."""

    rows: pd.DataFrame
    total: int
    page: int
    pages: int
    page_size: int

    @property
    def first_row(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.page_size + 1

    @property
    def last_row(self) -> int:
        return min(self.page * self.page_size, self.total)


def _matching(filters: AuditFilters) -> list:
    conditions = []
    if filters.actor:
        conditions.append(AuditLog.actor == filters.actor)
    if filters.action:
        conditions.append(AuditLog.action == filters.action)
    if filters.entity:
        conditions.append(AuditLog.entity == filters.entity)
    if filters.since is not None:
        conditions.append(AuditLog.at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditLog.at < filters.until)
    if filters.search and filters.search.strip():
        needle = f"%{filters.search.strip().lower()}%"
        conditions.append(
            or_(
                func.lower(AuditLog.detail).like(needle),
                func.lower(func.coalesce(AuditLog.entity_id, "")).like(needle),
            )
        )
    return conditions


def audit_page(
    *, session: Session, filters: AuditFilters, page: int = 1, page_size: int = 50
) -> AuditPage:
    """The audit rows matching `filters`, newest first, `page_size` at a time.

    A page beyond the last shows the last one (a filter may have shrunk the list under the
    admin's page number); every row stays reachable, however old.
    """
    conditions = _matching(filters)
    total = session.exec(select(func.count()).select_from(AuditLog).where(*conditions)).one()
    pages = max(1, -(-int(total) // page_size))
    page = min(max(1, page), pages)
    statement = (
        select(
            AuditLog.id,
            AuditLog.at,
            AuditLog.actor,
            AuditLog.action,
            AuditLog.entity,
            AuditLog.entity_id,
            AuditLog.detail,
        )
        .where(*conditions)
        .order_by(AuditLog.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    rows = pd.read_sql(statement, session.connection())
    return AuditPage(rows=rows, total=int(total), page=page, pages=pages, page_size=page_size)


def audit_choices(*, session: Session) -> dict[str, list[str]]:
    """The actors, actions and entities present in the log, for the admin's filter lists."""
    return {
        column.key: sorted(str(value) for value in _distinct_values(session, column))
        for column in (AuditLog.actor, AuditLog.action, AuditLog.entity)
    }


def _distinct_values(session: Session, column) -> list:
    """The distinct values of an indexed audit column, one index seek per value.

    The log only grows while its actors, actions and entities stay a few dozen, so rather than
    reading every row (`SELECT DISTINCT`), walk the index from one value to the next higher one:
    a recursive query both SQLite and PostgreSQL run as seeks (`ix_audit_log_<column>`).
    """
    walk = select(func.min(column).label("value")).cte("walk", recursive=True)
    higher = select(func.min(column)).where(column > walk.c.value).scalar_subquery()
    walk = walk.union_all(select(higher).where(walk.c.value.is_not(None)))
    return list(session.exec(select(walk.c.value).where(walk.c.value.is_not(None))))


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


def record_sign_out(*, session: Session, username: str) -> AuditLog:
    """A person signing out (the button, not a session ended by someone else) is audited."""
    return record_audit(
        session=session, actor=username, action="sign_out", entity="user", entity_id=None
    )
