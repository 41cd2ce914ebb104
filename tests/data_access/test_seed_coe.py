"""The demo seed's CoE benchmarks: one snapshot per quarter, each debited on the day it was taken,
within the yearly allowance, never before the HyperCare start or in the future, none for Basic."""

from __future__ import annotations

from collections import Counter

from sqlmodel import Session, select

from data_access.coe import coe_history
from data_access.models import CoeSnapshot, Customer, EntitlementEntry
from data_access.policies import tier_policies
from domain.coe import CoeValues, validation_errors
from domain.entitlements import Entitlement, allowance, subscription_year
from domain.quarters import Quarter
from domain.tiers import Tier
from tests.conftest import SEED_TODAY

COE = Entitlement.COE_BENCHMARK.value


def test_each_snapshot_uses_one_benchmark_on_its_day_within_the_allowance(seeded):
    with Session(seeded) as session:
        customers = {c.id: c for c in session.exec(select(Customer)).all()}
        policies = tier_policies(session=session)
        snapshots = session.exec(select(CoeSnapshot)).all()
        debits = session.exec(select(EntitlementEntry).where(EntitlementEntry.kind == COE)).all()
    assert snapshots and debits
    assert sorted((s.customer_id, s.taken_on) for s in snapshots) == sorted(
        (d.customer_id, d.at.date()) for d in debits
    )
    assert sorted((s.customer_id, Quarter.parse(s.quarter).label) for s in snapshots) == sorted(
        (d.customer_id, d.reason.removeprefix("CoE benchmark ")) for d in debits
    )
    per_year = Counter(
        (d.customer_id, subscription_year(customers[d.customer_id].hypercare_start, d.at.date()))
        for d in debits
    )
    for (customer_id, _), used in per_year.items():
        customer = customers[customer_id]
        assert customer.tier != Tier.BASIC
        assert used <= allowance(policies[customer.tier], COE)
    for snapshot in snapshots:
        customer = customers[snapshot.customer_id]
        quarter = Quarter.parse(snapshot.quarter)
        assert quarter.contains(snapshot.taken_on)
        assert customer.hypercare_start <= snapshot.taken_on <= SEED_TODAY
        assert (
            validation_errors(
                CoeValues.of(snapshot),
                quarter=quarter,
                hypercare_start=customer.hypercare_start,
                today=SEED_TODAY,
            )
            == []
        ), (customer.name, snapshot.quarter)


def test_a_coe_grows_builders_and_maturity_never_fall(seeded):
    with Session(seeded) as session:
        ids = session.exec(select(Customer.id).where(Customer.tier != Tier.BASIC)).all()
        histories = [coe_history(session=session, customer_id=i) for i in ids]
    assert any(len(history) > 1 for history in histories)
    for history in histories:
        assert history["certified_builders"].is_monotonic_increasing
        assert history["maturity_stage"].is_monotonic_increasing
        assert (history["active_users"] <= history["licensed_users"]).all()
