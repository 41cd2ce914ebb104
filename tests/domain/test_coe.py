"""CoE benchmark rules against hand-computed fixtures: percentiles, peer bands, next steps."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from domain.coe import CoeValues, format_metric, metric_values, validation_errors
from domain.coe_peers import (
    MIN_PEERS,
    NO_STEP_SENTENCE,
    Candidate,
    PeerGroup,
    choose_peers,
    compare,
    peer_median,
    percentile,
)
from domain.quarters import Quarter

Q3 = Quarter(2026, 3)
HYPERCARE = ("professional", "enterprise")
BASE = CoeValues(
    certified_builders=3,
    certified_architects=1,
    master_planners=1,
    production_models=9,
    workspaces=2,
    workspace_size_gb=100.0,
    workspace_allowance_gb=200.0,
    licensed_users=1000,
    active_users=800,
    alm_in_use=True,
    data_hub=True,
    maturity_stage=2,
)


def candidate(customer_id: int, tier: str = "enterprise", size: str = "large", **values):
    return Candidate(customer_id, tier, size, replace(BASE, **values))


def group_of(*peers: Candidate) -> PeerGroup:
    return PeerGroup("tier_size", tuple(peers), "test peers")


# --- percentile and median ---------------------------------------------------------------------


def test_percentile_counts_peers_below_and_half_the_ties():
    # 2 peers below 5, 2 equal: (2 + 0.5 × 2) / 5 = 60 %
    assert percentile(5, [1, 2, 5, 5, 9]) == pytest.approx(60.0)
    assert percentile(0, [1, 2, 3, 4, 5]) == 0.0
    assert percentile(6, [1, 2, 3, 4, 5]) == 100.0
    # equal to every peer: exactly the middle
    assert percentile(7, [7, 7, 7, 7, 7, 7]) == 50.0


def test_no_percentile_or_median_over_fewer_than_five_peers():
    assert MIN_PEERS == 5
    assert percentile(3, [1, 2, 3, 4]) is None
    assert peer_median([1, 2, 3, 4]) is None
    assert percentile(3, [1, 2, 3, 4, 5]) == pytest.approx(50.0)


def test_peer_median_is_the_middle_value_or_the_mean_of_the_two_middle_ones():
    assert peer_median([9, 1, 5, 3, 7]) == 5.0
    assert peer_median([1, 2, 3, 4, 5, 10]) == 3.5


# --- derived ratios ----------------------------------------------------------------------------


def test_derived_ratios():
    derived = metric_values(BASE)
    assert derived["builders_per_model"] == pytest.approx(1 / 3)
    assert derived["active_share_pct"] == pytest.approx(80.0)
    assert derived["workspace_use_pct"] == pytest.approx(50.0)


def test_a_ratio_over_zero_is_missing_not_zero():
    derived = metric_values(
        replace(
            BASE,
            production_models=0,
            licensed_users=0,
            active_users=0,
            workspace_size_gb=0,
            workspace_allowance_gb=0,
        )
    )
    assert derived["builders_per_model"] is None
    assert derived["active_share_pct"] is None
    assert derived["workspace_use_pct"] is None
    assert format_metric("active_share_pct", None) == "—"


def test_formats():
    assert format_metric("active_share_pct", 61.6) == "62 %"
    assert format_metric("builders_per_model", 1 / 3) == "0.33"
    assert format_metric("maturity_stage", 2.0) == "2 · In-house CoE"
    assert format_metric("licensed_users", 1200.0) == "1,200"


# --- peer bands --------------------------------------------------------------------------------


def test_five_peers_of_the_same_tier_and_size_are_enough():
    peers = [candidate(i) for i in range(2, 7)] + [candidate(9, size="small")]
    group = choose_peers(
        customer_id=1,
        tier="enterprise",
        size_band="large",
        candidates=[candidate(1), *peers],
        hypercare_tiers=HYPERCARE,
        tier_label="HyperCare Enterprise",
        quarter=Q3,
    )
    assert group.band == "tier_size"
    assert sorted(p.customer_id for p in group.peers) == [2, 3, 4, 5, 6]
    assert group.sentence == (
        "Compared with 5 customers on HyperCare Enterprise of the same size (large) with a "
        "benchmark for Q3 2026."
    )


def test_fewer_than_five_of_the_same_size_widens_to_the_tier():
    peers = [candidate(i) for i in range(2, 6)] + [candidate(7, size="small")]
    peers += [candidate(8, tier="professional"), candidate(9, tier="basic")]
    group = choose_peers(
        customer_id=1,
        tier="enterprise",
        size_band="large",
        candidates=peers,
        hypercare_tiers=HYPERCARE,
        tier_label="HyperCare Enterprise",
        quarter=Q3,
    )
    assert group.band == "tier"
    assert sorted(p.customer_id for p in group.peers) == [2, 3, 4, 5, 7]
    assert group.sentence == (
        "Only 4 other HyperCare Enterprise customers of the same size (large) have a benchmark "
        "for Q3 2026, fewer than 5; compared with all 5 customers on HyperCare Enterprise of any "
        "size instead."
    )


def test_then_to_every_hypercare_tier_but_never_basic():
    peers = [candidate(2), candidate(3, size="small")]
    peers += [candidate(i, tier="professional", size="small") for i in range(4, 7)]
    peers += [candidate(i, tier="basic") for i in range(10, 20)]
    group = choose_peers(
        customer_id=1,
        tier="enterprise",
        size_band="large",
        candidates=peers,
        hypercare_tiers=HYPERCARE,
        tier_label="HyperCare Enterprise",
        quarter=Q3,
    )
    assert group.band == "hypercare" and group.enough
    assert sorted(p.customer_id for p in group.peers) == [2, 3, 4, 5, 6]
    assert group.sentence == (
        "Only 1 other HyperCare Enterprise customer of the same size (large) has a benchmark for "
        "Q3 2026, fewer than 5, and only 2 of any size; compared with all 5 customers on a "
        "HyperCare tier instead."
    )


def test_too_few_anywhere_says_so_and_shows_no_percentile():
    peers = [candidate(2), candidate(3, tier="professional")]
    group = choose_peers(
        customer_id=1,
        tier="enterprise",
        size_band="large",
        candidates=peers,
        hypercare_tiers=HYPERCARE,
        tier_label="HyperCare Enterprise",
        quarter=Q3,
    )
    assert not group.enough
    assert group.sentence == (
        "Only 2 other customers on a HyperCare tier have a benchmark for Q3 2026, fewer than 5: "
        "no percentile is shown."
    )
    result = compare(BASE, group)
    assert all(row.percentile is None and row.peer_median is None for row in result.metrics)
    assert all(share is None for share in result.flag_shares.values())


def test_no_other_customer_at_all():
    group = choose_peers(
        customer_id=1,
        tier="professional",
        size_band="small",
        candidates=[candidate(1, tier="professional", size="small")]
        + [candidate(i, tier="enterprise") for i in range(2, 7)],
        hypercare_tiers=HYPERCARE,
        tier_label="HyperCare Professional",
        quarter=Q3,
    )
    assert group.sentence == (
        "No other HyperCare Professional customer of the same size (small) has a benchmark for "
        "Q3 2026, and none of any size; compared with all 5 customers on a HyperCare tier instead."
    )
    alone = choose_peers(
        customer_id=1,
        tier="professional",
        size_band="small",
        candidates=[candidate(1)],
        hypercare_tiers=HYPERCARE,
        tier_label="HyperCare Professional",
        quarter=Q3,
    )
    assert alone.sentence == (
        "No other customer on a HyperCare tier has a benchmark for Q3 2026: no percentile is shown."
    )


# --- comparison and next steps ----------------------------------------------------------------


def five_peers(**values) -> PeerGroup:
    return group_of(*(candidate(i, **values) for i in range(2, 7)))


def test_compare_gives_percentile_and_median_per_measure():
    group = group_of(
        *(
            candidate(i, certified_builders=b, production_models=m)
            for i, (b, m) in enumerate([(1, 3), (2, 6), (3, 9), (4, 12), (8, 12)], start=2)
        )
    )
    result = compare(replace(BASE, certified_builders=3, production_models=9), group)
    builders = result.metric("certified_builders")
    # peers 1, 2, 3, 4, 8: two below 3, one equal -> (2 + 0.5) / 5
    assert builders.percentile == pytest.approx(50.0)
    assert builders.peer_median == 3.0
    ratio = result.metric("builders_per_model")
    # peers 1/3, 1/3, 1/3, 1/3, 2/3; ours 1/3: none below, four equal -> 2 / 5
    assert ratio.percentile == pytest.approx(40.0)
    assert ratio.peer_median == pytest.approx(1 / 3)


def test_one_builder_for_nine_models_against_one_per_three():
    group = five_peers(certified_builders=3, production_models=9)
    steps = compare(replace(BASE, certified_builders=1, production_models=9), group).next_steps
    assert steps[0] == (
        "1 builder for 9 production models: peers at the median have 1 per 3; "
        "certify 2 more model builders to reach the peer median."
    )


def test_no_builder_at_all():
    group = five_peers(certified_builders=1, production_models=4)
    steps = compare(replace(BASE, certified_builders=0, production_models=6), group).next_steps
    assert steps[0] == (
        "No certified model builder for 6 production models: peers at the median have 1 per 4; "
        "certify 2 model builders to reach the peer median."
    )


def test_low_active_share_names_the_idle_licences():
    group = five_peers(licensed_users=1000, active_users=800)
    steps = compare(replace(BASE, licensed_users=1000, active_users=500), group).next_steps
    assert steps == (
        "50 % of licensed users were active in the last 30 days: peers at the median reach 80 %; "
        "review the 500 licences nobody used and plan training or reassignment.",
    )


def test_a_nearly_full_workspace_and_missing_alm_and_data_hub():
    group = five_peers()
    mine = replace(BASE, workspace_size_gb=190.0, alm_in_use=False, data_hub=False)
    steps = compare(mine, group).next_steps
    assert steps == (
        "Workspaces use 95 % of their allowance (190 of 200 GB): archive unused models or plan "
        "more space before the limit is reached.",
        "ALM is not in use for 9 production models while 100 % of peers use it: set it up so "
        "changes move from development to production under control.",
        "No data hub while 100 % of peers load data through one: a data hub gives every model "
        "one source of shared data.",
    )


def test_maturity_below_the_peers_and_partners_only():
    group = five_peers(maturity_stage=3)
    below = compare(replace(BASE, maturity_stage=1), group).next_steps
    assert below == (
        "CoE maturity stage 1 · Emerging is below the peer median (3 · Hybrid): name a CoE lead "
        "and an internal certification plan to reach stage 2 · In-house CoE.",
    )
    partners = compare(replace(BASE, maturity_stage=0), group).next_steps
    assert partners[0].startswith("The CoE relies on partners only (stage 0)")


def test_at_the_median_everywhere_there_is_no_next_step():
    result = compare(BASE, five_peers())
    assert result.next_steps == ()
    assert NO_STEP_SENTENCE.startswith("No next step")


def test_at_most_five_next_steps():
    group = five_peers(certified_builders=9, maturity_stage=3)
    worst = CoeValues(
        certified_builders=1,
        production_models=9,
        workspaces=1,
        workspace_size_gb=199.0,
        workspace_allowance_gb=200.0,
        licensed_users=100,
        active_users=10,
        maturity_stage=1,
    )
    assert len(compare(worst, group).next_steps) == 5


def test_steps_need_peers_except_the_absolute_ones():
    few = group_of(candidate(2), candidate(3))
    mine = replace(BASE, certified_builders=1, workspace_size_gb=195.0, alm_in_use=False)
    assert compare(mine, few).next_steps == (
        "Workspaces use 98 % of their allowance (195 of 200 GB): archive unused models or plan "
        "more space before the limit is reached.",
    )


# --- validation --------------------------------------------------------------------------------


def errors(values: CoeValues, quarter: Quarter = Q3) -> list[str]:
    return validation_errors(
        values, quarter=quarter, hypercare_start=date(2025, 5, 10), today=date(2026, 11, 30)
    )


def test_a_plausible_snapshot_has_no_problem():
    assert errors(BASE) == []
    # the quarter holding the HyperCare start and the running quarter are both allowed
    assert errors(BASE, Quarter(2025, 2)) == []
    assert errors(BASE, Quarter(2026, 4)) == []


def test_each_problem_is_one_sentence():
    assert errors(replace(BASE, certified_builders=-1)) == [
        "Certified model builders cannot be negative (-1)."
    ]
    assert errors(replace(BASE, licensed_users=10, active_users=11)) == [
        "Active users (11) cannot exceed licensed users (10)."
    ]
    assert errors(replace(BASE, workspace_allowance_gb=0)) == [
        "A workspace size needs the workspace allowance it is measured against."
    ]
    assert errors(replace(BASE, workspace_size_gb=-2.5)) == [
        "Workspace size (GB) cannot be negative (-2.5)."
    ]
    assert errors(replace(BASE, maturity_stage=4)) == [
        "The CoE maturity stage must be 0 to 3 (0 partners only, 1 emerging, 2 in-house CoE, "
        "3 hybrid), not 4."
    ]
    assert errors(BASE, Quarter(2027, 1)) == [
        "Q1 2027 has not started yet; the latest quarter is 2026Q4."
    ]
    assert errors(BASE, Quarter(2025, 1)) == [
        "Q1 2025 ends before the customer's HyperCare start on 2025-05-10; choose 2025Q2 or later."
    ]


def test_every_problem_is_listed():
    bad = replace(BASE, certified_builders=-1, master_planners=-2, maturity_stage=9)
    assert len(errors(bad, Quarter(2030, 1))) == 4
