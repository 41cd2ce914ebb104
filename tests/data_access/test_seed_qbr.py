"""The demo seed's QBR history: inputs debited when each QBR was held, within the allowance."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlmodel import Session, select

from data_access.entitlement_ledger import entitlement_balances
from data_access.models import Customer, EntitlementEntry, QbrNote
from data_access.policies import tier_policies
from data_access.qbr_notes import notes_section
from domain.entitlements import Entitlement, allowance, subscription_year
from domain.quarters import Quarter
from domain.tiers import Tier
from tests.conftest import SEED_TODAY

QBR = Entitlement.QBR_INPUT.value


def test_each_qbr_held_uses_one_input_on_its_day_within_the_allowance(seeded):
    with Session(seeded) as session:
        customers = {c.id: c for c in session.exec(select(Customer)).all()}
        policies = tier_policies(session=session)
        debits = session.exec(select(EntitlementEntry).where(EntitlementEntry.kind == QBR)).all()
        held = session.exec(select(QbrNote).where(QbrNote.held_on.is_not(None))).all()
        balances = {
            customer_id: entitlement_balances(
                session=session, customer_id=customer_id, on=SEED_TODAY
            )
            for customer_id in customers
        }
    assert held and debits
    assert sorted((n.customer_id, n.held_on) for n in held) == sorted(
        (d.customer_id, d.at.date()) for d in debits
    )
    per_year = Counter(
        (d.customer_id, subscription_year(customers[d.customer_id].hypercare_start, d.at.date()))
        for d in debits
    )
    for (customer_id, _), used in per_year.items():
        customer = customers[customer_id]
        assert customer.tier != Tier.BASIC
        assert used <= allowance(policies[customer.tier], QBR)
    assert all(d.at.date() >= customers[d.customer_id].hypercare_start for d in debits)
    used_now = [
        int(frame.loc[frame["kind"] == QBR, "used"].iloc[0])
        for customer_id, frame in balances.items()
        if customers[customer_id].tier != Tier.BASIC
    ]
    assert any(used_now), "every HyperCare customer shows no QBR input used"


def test_open_actions_from_earlier_quarters_are_carried_into_the_current_quarter(seeded):
    now = datetime.combine(SEED_TODAY, datetime.min.time(), tzinfo=UTC)
    carried = []
    with Session(seeded) as session:
        for customer in session.exec(select(Customer).where(Customer.tier != Tier.BASIC)).all():
            section = notes_section(
                session=session, customer=customer, quarter=Quarter.containing(SEED_TODAY), now=now
            )
            for table in section.tables:
                carried += [a for a in table.frame["Agreed"] if a.startswith("carried from")]
    assert carried
