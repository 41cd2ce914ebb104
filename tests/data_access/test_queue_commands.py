"""Bulk case actions from the queue: all or nothing, scope and assignee checked per customer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.models import AuditLog, Case, CaseEvent, Customer, User
from data_access.queue_commands import bulk_case_action
from domain.lifecycle import OPEN_STATUSES


def actor(session: Session, username: str) -> Actor:
    user = session.exec(select(User).where(User.username == username)).one()
    return Actor(id=user.id, username=user.username, roles=tuple(user.roles.split(",")))


def open_cases_of(session: Session, customer: Customer, status: str = "open") -> list[int]:
    return list(
        session.exec(
            select(Case.id)
            .where(Case.customer_id == customer.id, Case.status == status)
            .order_by(Case.id)
        ).all()
    )


def own_customer(session: Session, username: str) -> Customer:
    """The actor's own customer (as CSM) with the most open cases."""
    me = actor(session, username)
    customers = session.exec(select(Customer).where(Customer.csm_id == me.id)).all()
    return max(
        customers, key=lambda customer: (len(open_cases_of(session, customer)), -customer.id)
    )


def events_of(session: Session, ids: list[int]) -> int:
    return len(session.exec(select(CaseEvent.id).where(CaseEvent.case_id.in_(ids))).all())


def test_bulk_assign_assigns_every_case_in_one_go(seeded, session):
    customer = own_customer(session, "csm.emea")
    ids = open_cases_of(session, customer)[:3]
    assert len(ids) >= 2
    me = actor(session, "csm.emea")
    already_mine = sum(session.get(Case, i).assignee_id == me.id for i in ids)
    changed = bulk_case_action(
        session=session, actor=me, case_ids=ids, action="assign", assignee_id=me.id
    )
    session.commit()
    assert changed == len(ids) - already_mine  # cases already theirs are left as they are
    assert {session.get(Case, i).assignee_id for i in ids} == {me.id}
    audit = session.exec(select(AuditLog).where(AuditLog.action == "bulk_case_assign")).one()
    assert audit.actor == "csm.emea"
    # Doing it again changes nothing and is not an error.
    assert (
        bulk_case_action(
            session=session, actor=me, case_ids=ids, action="assign", assignee_id=me.id
        )
        == 0
    )


def test_bulk_status_change_is_refused_whole_when_one_case_cannot_move(seeded, session):
    customer = own_customer(session, "csm.emea")
    open_ids = open_cases_of(session, customer)[:2]
    solved = session.exec(
        select(Case.id)
        .join(Customer)
        .where(Customer.csm_id == customer.csm_id, Case.status == "solved")
        .order_by(Case.id)
    ).first()
    assert open_ids and solved
    me = actor(session, "csm.emea")
    before = events_of(session, [*open_ids, solved])
    with pytest.raises(CommandRefused) as refused:
        bulk_case_action(
            session=session, actor=me, case_ids=[*open_ids, solved], action="set_pending"
        )
    session.rollback()
    message = str(refused.value)
    assert message.startswith("Nothing was changed") and f"#{solved}" in message
    assert {session.get(Case, i).status for i in open_ids} == {"open"}
    assert events_of(session, [*open_ids, solved]) == before

    bulk_case_action(session=session, actor=me, case_ids=open_ids, action="set_pending")
    session.commit()
    assert {session.get(Case, i).status for i in open_ids} == {"pending_customer"}


def test_bulk_action_outside_the_portfolio_is_refused(seeded, session):
    theirs = own_customer(session, "csm.na")
    ids = (
        open_cases_of(session, theirs)[:1]
        + open_cases_of(session, own_customer(session, "csm.emea"))[:1]
    )
    with pytest.raises(CommandRefused, match="not in your portfolio"):
        bulk_case_action(
            session=session, actor=actor(session, "csm.emea"), case_ids=ids, action="solve"
        )
    session.rollback()
    assert session.get(Case, ids[0]).status in OPEN_STATUSES


def test_a_case_is_assigned_only_to_someone_who_can_see_its_customer(seeded, session):
    emea = own_customer(session, "csm.emea")
    ids = open_cases_of(session, emea)[:2]
    outsider = actor(session, "csm.na")
    assert outsider.id not in (emea.csm_id, emea.hypercare_resource_id)
    with pytest.raises(CommandRefused, match="does not look after"):
        bulk_case_action(
            session=session,
            actor=actor(session, "manager"),
            case_ids=ids,
            action="assign",
            assignee_id=outsider.id,
        )
    session.rollback()
    with pytest.raises(CommandRefused, match="Select at least one case"):
        bulk_case_action(
            session=session, actor=actor(session, "manager"), case_ids=[], action="solve"
        )
    with pytest.raises(CommandRefused, match="cannot be done in bulk"):
        bulk_case_action(
            session=session,
            actor=actor(session, "manager"),
            case_ids=ids,
            action="public_reply",
            now=datetime.now(UTC),
        )
