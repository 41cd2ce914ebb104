from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func
from sqlmodel import select

from data_access import customers
from data_access.audit import CommandRefused
from data_access.models import AuditLog, Case, Customer, TierChange, User
from data_access.policies import (
    policies_frame,
    set_tier_policies,
    tier_policies,
    update_policy,
)
from data_access.scope import Scope
from domain.entitlements import subscription_year
from domain.lifecycle import OPEN_STATUSES
from domain.tiers import DEFAULT_POLICIES
from tests.conftest import SEED_TODAY
from tests.data_access.actors import admin


def user_id(session, username):
    return session.exec(select(User.id).where(User.username == username)).one()


def test_csm_sees_only_own_customers(seeded, session):
    csm = user_id(session, "csm.emea")
    scope = Scope(user_id=csm, all_customers=False)
    frame = customers.customers_in_scope(session=session, scope=scope)
    assert not frame.empty
    own = session.exec(
        select(Customer.id).where(
            (Customer.csm_id == csm) | (Customer.hypercare_resource_id == csm)
        )
    ).all()
    assert set(frame["id"]) == set(own)
    everyone = customers.customers_in_scope(
        session=session, scope=Scope(user_id=csm, all_customers=True)
    )
    assert len(everyone) == session.exec(select(func.count()).select_from(Customer)).one()
    other = next(i for i in everyone["id"] if i not in set(own))
    # Narrowed to another CSM's customer (the customer page's link), the CSM still sees nothing.
    assert customers.customers_in_scope(session=session, scope=scope.narrowed_to(other)).empty
    assert customers.portfolio(
        session=session, scope=scope.narrowed_to(other), now=datetime.now(UTC)
    ).empty


def test_a_picker_reads_the_same_customers_by_name_and_the_chosen_one_whole(seeded, session):
    """`customer_names_in_scope` lists what `customers_in_scope` does, in its order, with id and
    name only; the chosen one's whole row is `customers_in_scope` narrowed to it."""
    for username, everyone in (("manager", True), ("csm.emea", False), ("resource.na", False)):
        scope = Scope(user_id=user_id(session, username), all_customers=everyone)
        whole = customers.customers_in_scope(session=session, scope=scope)
        names = customers.customer_names_in_scope(session=session, scope=scope)
        assert list(names.columns) == ["id", "name"]
        assert names.equals(whole[["id", "name"]]), username
        chosen = int(names["id"].iloc[-1])
        one = customers.customers_in_scope(session=session, scope=scope.narrowed_to(chosen))
        # The same values (a nullable id column alone may be read as int where the whole list
        # holds NaN beside it, so values are compared, not dtypes).
        assert records(one) == records(whole[whole["id"] == chosen])


def records(frame):
    return [
        {name: None if value is None or value != value else value for name, value in row.items()}
        for row in frame.to_dict("records")
    ]


def test_hypercare_resource_sees_assigned_customers(seeded, session):
    resource = user_id(session, "resource.na")
    frame = customers.customers_in_scope(
        session=session, scope=Scope(user_id=resource, all_customers=False)
    )
    assert not frame.empty
    assert (frame["hypercare_resource_id"] == resource).all()


def test_portfolio_counts_match_the_cases(seeded, session):
    scope = Scope(user_id=user_id(session, "manager"), all_customers=True)
    now = datetime.now(UTC)
    frame = customers.portfolio(session=session, scope=scope, now=now)
    open_total = session.exec(
        select(func.count()).select_from(Case).where(Case.status.in_(OPEN_STATUSES))
    ).one()
    assert frame["open_cases"].sum() == open_total
    assert (frame[["sev1", "sev2", "sev3", "sev4"]].sum(axis=1) == frame["open_cases"]).all()
    assert (frame["breaching"] <= frame["open_cases"]).all()
    today = now.date()
    for row in frame.to_dict("records"):  # a start still to come renews a year after it
        renews = subscription_year(row["hypercare_start"], max(row["hypercare_start"], today))[1]
        assert (row["next_renewal"], row["days_to_renewal"]) == (renews, (renews - today).days)


def test_customer_tier_change_is_recorded_and_audited(seeded, session):
    customer = session.exec(select(Customer).where(Customer.tier == "basic")).first()
    fields = customers.CustomerFields(
        name=customer.name,
        tier="professional",
        region_id=customer.region_id,
        csm_id=customer.csm_id,
        hypercare_resource_id=user_id(session, "resource.emea"),
        hypercare_start=customer.hypercare_start,
        size_band=customer.size_band,
        licensed_users=customer.licensed_users,
        industry=customer.industry,
    )
    customers.update_customer(
        session=session, actor=admin(session), customer_id=customer.id, fields=fields
    )
    session.commit()
    change = session.exec(
        select(TierChange).where(
            TierChange.customer_id == customer.id, TierChange.from_tier == "basic"
        )
    ).one()
    assert change.to_tier == "professional"
    assert session.exec(select(AuditLog).where(AuditLog.action == "update_customer")).one()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": " "}, "name is required"),
        ({"tier": "platinum"}, "no tier called"),
        ({"hypercare_start": date(2999, 1, 1)}, "cannot be in the future"),
        ({"csm_id": -5}, "not an active user with the csm role"),
    ],
)
def test_invalid_customer_refused_without_writing(seeded, session, change, message):
    region = session.exec(select(Customer.region_id)).first()
    before = session.exec(select(func.count()).select_from(Customer)).one()
    values = dict(
        name="Brand New Co",
        tier="enterprise",
        region_id=region,
        csm_id=None,
        hypercare_resource_id=None,
        hypercare_start=SEED_TODAY,
    )
    values.update(change)
    with pytest.raises(CommandRefused, match=message):
        customers.create_customer(
            session=session, actor=admin(session), fields=customers.CustomerFields(**values)
        )
    session.rollback()
    assert session.exec(select(func.count()).select_from(Customer)).one() == before


def test_basic_customer_gets_no_hypercare_resource(seeded, session):
    region = session.exec(select(Customer.region_id)).first()
    fields = customers.CustomerFields(
        name="Plain Co",
        tier="basic",
        region_id=region,
        csm_id=None,
        hypercare_resource_id=user_id(session, "resource.na"),
        hypercare_start=SEED_TODAY,
    )
    with pytest.raises(CommandRefused, match="no HyperCare resource"):
        customers.create_customer(session=session, actor=admin(session), fields=fields)


def test_contact_needs_details_for_its_preferred_channel(seeded, session):
    customer_id = session.exec(select(Customer.id)).first()
    with pytest.raises(CommandRefused, match="give the contact's phone"):
        customers.add_contact(
            session=session,
            actor=admin(session),
            customer_id=customer_id,
            fields=customers.ContactFields(name="Pat", preferred_channel="phone", email="p@x.io"),
        )
    contact = customers.add_contact(
        session=session,
        actor=admin(session),
        customer_id=customer_id,
        fields=customers.ContactFields(name="Pat", preferred_channel="chat", chat_handle="@pat"),
    )
    session.commit()
    assert contact.id is not None


def test_tier_policies_come_from_rows_and_edits_are_audited(seeded, session):
    policies = tier_policies(session=session)
    assert {p.tier: p for p in DEFAULT_POLICIES} == policies
    update_policy(
        session=session,
        actor=admin(session),
        tier="enterprise",
        changes={"first_response_minutes": 45},
    )
    session.commit()
    assert tier_policies(session=session)["enterprise"].first_response_minutes == 45
    with pytest.raises(CommandRefused, match="at least 1"):
        update_policy(
            session=session,
            actor=admin(session),
            tier="enterprise",
            changes={"first_response_minutes": 0},
        )


def test_saving_the_edited_policy_table_writes_only_the_changed_tiers(seeded, session):
    rows = policies_frame(session=session)
    edited = rows.copy()
    edited.loc[edited["tier"] == "enterprise", "first_response_minutes"] = 40
    edited.loc[edited["tier"] == "basic", "label"] = "Starter"
    audits = session.exec(select(func.count()).select_from(AuditLog)).one()
    changed = set_tier_policies(
        session=session, actor=admin(session), desired=edited.to_dict("records")
    )
    session.commit()
    assert sorted(changed) == ["basic", "enterprise"]
    assert tier_policies(session=session)["enterprise"].first_response_minutes == 40
    assert session.exec(select(func.count()).select_from(AuditLog)).one() == audits + 2
    unchanged = policies_frame(session=session)
    assert (
        set_tier_policies(
            session=session, actor=admin(session), desired=unchanged.to_dict("records")
        )
        == []
    )


def test_one_refused_tier_leaves_every_tier_as_it_was(seeded, session):
    edited = policies_frame(session=session)
    edited.loc[edited["tier"] == "enterprise", "first_response_minutes"] = 41
    edited.loc[edited["tier"] == "basic", "resolution_business_days"] = float("nan")
    with pytest.raises(CommandRefused, match="Resolution business days"):
        set_tier_policies(session=session, actor=admin(session), desired=edited.to_dict("records"))
    session.rollback()
    assert tier_policies(session=session) == {p.tier: p for p in DEFAULT_POLICIES}
    unnamed = policies_frame(session=session)
    unnamed.loc[unnamed["tier"] == "basic", "label"] = " "
    with pytest.raises(CommandRefused, match="A tier needs a label"):
        set_tier_policies(session=session, actor=admin(session), desired=unnamed.to_dict("records"))


def test_admin_downgrade_over_the_caps_is_refused_and_nothing_changes(seeded, session):
    from data_access.models import PlanningModel

    enrolled = select(PlanningModel.customer_id).where(PlanningModel.in_monitoring)
    customer = session.exec(
        select(Customer).where(Customer.tier == "enterprise", Customer.id.in_(enrolled))
    ).first()
    fields = customers.CustomerFields(
        name=customer.name,
        tier="basic",
        region_id=customer.region_id,
        csm_id=customer.csm_id,
        hypercare_resource_id=None,
        hypercare_start=customer.hypercare_start,
        size_band=customer.size_band,
        licensed_users=customer.licensed_users,
        industry=customer.industry,
    )
    with pytest.raises(CommandRefused, match="Entitlements page"):
        customers.update_customer(
            session=session, actor=admin(session), customer_id=customer.id, fields=fields
        )
    session.rollback()
    session.expire_all()
    assert session.get(Customer, customer.id).tier == "enterprise"
    assert not session.exec(
        select(TierChange).where(
            TierChange.customer_id == customer.id, TierChange.to_tier == "basic"
        )
    ).all()
