"""Scope on SQLite and PostgreSQL: a CSM's portfolio, plus customers of open cases assigned to them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused
from data_access.customers import open_cases_by_assignee
from data_access.models import Case, Customer, Region, User, utc_now
from data_access.policies import seed_default_policies
from data_access.scope import Scope
from domain.tiers import Tier
from tests.data_access.query_plans import full_scans, plan, recorded_statements


def add_user(session: Session, username: str, roles: str = "csm") -> User:
    user = User(
        username=username,
        name=username.title(),
        email=f"{username}@x.example",
        password_hash="x",
        roles=roles,
    )
    session.add(user)
    session.flush()
    return user


def visible(session: Session, scope: Scope) -> set[str]:
    return set(session.exec(select(Customer.name).where(scope.customer_filter())).all())


def test_an_assignee_keeps_seeing_the_customer_of_their_open_case_after_a_reassignment(session):
    seed_default_policies(session=session)
    region = Region(code="NA", name="NA", timezone="America/New_York", holiday_country="US")
    session.add(region)
    session.flush()
    old, new = add_user(session, "csm.old"), add_user(session, "csm.new")
    customer = Customer(
        name="Moved Co",
        tier=Tier.PROFESSIONAL,
        region_id=region.id,
        csm_id=old.id,
        hypercare_start=date.today() - timedelta(days=90),
    )
    session.add(customer)
    session.flush()
    case = Case(
        customer_id=customer.id,
        subject="Export fails",
        severity=2,
        channel="email",
        status="open",
        assignee_id=old.id,
        opened_at=utc_now() - timedelta(hours=3),
    )
    session.add(case)
    session.commit()
    former = Scope(user_id=old.id, all_customers=False)
    assert visible(session, former) == {"Moved Co"}

    customer.csm_id = new.id
    session.add(customer)
    session.commit()
    assert visible(session, former) == {"Moved Co"}
    assert visible(session, former.narrowed_to(customer.id)) == {"Moved Co"}
    assert visible(session, Scope(user_id=new.id, all_customers=False)) == {"Moved Co"}
    held = open_cases_by_assignee(session=session, customer_id=customer.id)
    assert held[["assignee", "open_cases"]].values.tolist() == [["Csm.Old", 1]]
    # Commands follow the same rule: the assignee may still work the case.
    acting = Actor(id=old.id, username="csm.old", roles=("csm",))
    assert authorise(session, acting, roles=("csm",), customer_id=customer.id).name == "Moved Co"
    session.rollback()

    case = session.get(Case, case.id)
    case.status = "solved"
    session.add(case)
    session.commit()
    assert visible(session, former) == set()
    with pytest.raises(CommandRefused, match="Moved Co is not in your portfolio."):
        authorise(session, acting, roles=("csm",), customer_id=customer.id)


def test_a_csms_scope_reads_only_their_open_cases_not_every_case_they_had(engine, session):
    """The assigned-open-cases part of the filter seeks (assignee, status) in
    `ix_case_assignee_status`: a CSM's closed cases of past years are not read (SQLite's plan)."""
    csm = add_user(session, "csm.plan")
    session.commit()
    with recorded_statements(engine) as statements:
        visible(session, Scope(user_id=csm.id, all_customers=False))
    assert full_scans(engine, statements, ["support_case", "customer"]) == []
    steps = [step for s, p in statements for step in plan(engine, s, p) if "support_case" in step]
    assert steps and all("(assignee_id=? AND status=?)" in step for step in steps), steps
