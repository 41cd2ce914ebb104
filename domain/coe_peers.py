"""The CoE benchmark against peers: which customers a snapshot is compared with, where it stands
among them, and the next steps that follow (SPEC: "QBR and Centre of Excellence").

Peers are the other HyperCare customers with a snapshot for the same quarter. They are chosen in
widening bands: the same tier and size band; when that gives fewer than `MIN_PEERS`, the same tier
of any size; then every HyperCare tier. A percentile is never shown over fewer than `MIN_PEERS`
values: a "percentile" among two peers says nothing.

Percentile rule: the share of peers with a lower value plus half the share with the same value,
0-100 (so a customer equal to every peer sits at 50, and the peer median sits at about 50). The
customer itself is never one of its peers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from domain.coe import (
    FLAG_FIELDS,
    METRICS,
    CoeValues,
    format_metric,
    maturity_label,
    metric_values,
    number_text,
)
from domain.quarters import Quarter

MIN_PEERS = 5
MAX_NEXT_STEPS = 5
WORKSPACE_FULL_PCT = 90.0  # a workspace estate this full of its allowance needs action
ACTIVE_SHARE_GAP_PTS = 10.0  # this far below the peer median is worth a sentence


# --- Peers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """Another customer that could be a peer: its tier, size band and the quarter's values."""

    customer_id: int
    tier: str
    size_band: str
    values: CoeValues


@dataclass(frozen=True)
class PeerGroup:
    """The peers chosen and the sentence that says which band they come from."""

    band: str  # "tier_size", "tier" or "hypercare"
    peers: tuple[Candidate, ...]
    sentence: str

    @property
    def enough(self) -> bool:
        return len(self.peers) >= MIN_PEERS


def _customers(count: int) -> str:
    return f"{count} customer{'' if count == 1 else 's'}"


def _others(count: int, noun: str) -> str:
    """`1 other customer`, `3 other customers`."""
    return f"{count} other {noun}{'' if count == 1 else 's'}"


def choose_peers(
    *,
    customer_id: int,
    tier: str,
    size_band: str,
    candidates: Iterable[Candidate],
    hypercare_tiers: Iterable[str],
    tier_label: str,
    quarter: Quarter,
) -> PeerGroup:
    """The narrowest band with at least `MIN_PEERS` peers: same tier and size, same tier, then
    every HyperCare tier; the sentence says which band was used and why it was widened."""
    pool = [
        c for c in candidates if c.customer_id != customer_id and c.tier in set(hypercare_tiers)
    ]
    same_size = tuple(c for c in pool if c.tier == tier and c.size_band == size_band)
    if len(same_size) >= MIN_PEERS:
        return PeerGroup(
            "tier_size",
            same_size,
            f"Compared with {_customers(len(same_size))} on {tier_label} of the same size "
            f"({size_band}) with a benchmark for {quarter.label}.",
        )
    same_tier = tuple(c for c in pool if c.tier == tier)
    if len(same_size) == 0:
        too_few = (
            f"No other {tier_label} customer of the same size ({size_band}) has a benchmark "
            f"for {quarter.label}"
        )
    else:
        too_few = (
            f"Only {_others(len(same_size), tier_label + ' customer')} of the same size "
            f"({size_band}) {'has' if len(same_size) == 1 else 'have'} a benchmark for "
            f"{quarter.label}, fewer than {MIN_PEERS}"
        )
    if len(same_tier) >= MIN_PEERS:
        return PeerGroup(
            "tier",
            same_tier,
            f"{too_few}; compared with all {_customers(len(same_tier))} on {tier_label} "
            "of any size instead.",
        )
    any_size = "none" if not same_tier else f"only {len(same_tier)}"
    everyone = tuple(pool)
    if len(everyone) >= MIN_PEERS:
        return PeerGroup(
            "hypercare",
            everyone,
            f"{too_few}, and {any_size} of any size; compared with all "
            f"{_customers(len(everyone))} on a HyperCare tier instead.",
        )
    if not everyone:
        sentence = (
            f"No other customer on a HyperCare tier has a benchmark for {quarter.label}: "
            "no percentile is shown."
        )
    else:
        sentence = (
            f"Only {_others(len(everyone), 'customer')} on a HyperCare tier "
            f"{'has' if len(everyone) == 1 else 'have'} a benchmark for {quarter.label}, fewer "
            f"than {MIN_PEERS}: no percentile is shown."
        )
    return PeerGroup("hypercare", everyone, sentence)


def percentile(value: float, peer_values: Sequence[float]) -> float | None:
    """The share of peers below `value` plus half the share equal to it, 0-100; None with fewer
    than `MIN_PEERS` peer values (a percentile of two peers says nothing)."""
    if len(peer_values) < MIN_PEERS:
        return None
    below = sum(1 for peer in peer_values if peer < value)
    ties = sum(1 for peer in peer_values if peer == value)
    return 100.0 * (below + 0.5 * ties) / len(peer_values)


def peer_median(peer_values: Sequence[float]) -> float | None:
    """The middle peer value (the mean of the two middle ones for an even count); None when there
    are fewer than `MIN_PEERS` peer values."""
    if len(peer_values) < MIN_PEERS:
        return None
    return float(statistics.median(peer_values))


@dataclass(frozen=True)
class MetricComparison:
    key: str
    label: str
    value: float | None
    percentile: float | None
    peer_median: float | None
    peers: int  # peers with a value for this measure

    @property
    def value_text(self) -> str:
        return format_metric(self.key, self.value)

    @property
    def median_text(self) -> str:
        return format_metric(self.key, self.peer_median)

    @property
    def percentile_text(self) -> str:
        return "—" if self.percentile is None else f"{self.percentile:.0f}"


@dataclass(frozen=True)
class Comparison:
    """A snapshot against its peer group: a row per measure, peer shares of the yes/no facts,
    and the suggested next steps."""

    group: PeerGroup
    metrics: tuple[MetricComparison, ...]
    flag_shares: Mapping[str, float | None]  # share of peers (0-100) with ALM / a data hub
    next_steps: tuple[str, ...]

    def metric(self, key: str) -> MetricComparison:
        for row in self.metrics:
            if row.key == key:
                return row
        raise KeyError(key)


def compare(values: CoeValues, group: PeerGroup) -> Comparison:
    """Percentile and peer median per measure, over the peers that have a value for it."""
    mine = metric_values(values)
    theirs = [metric_values(peer.values) for peer in group.peers]
    rows = []
    for metric in METRICS:
        peer_values = [row[metric.key] for row in theirs if row[metric.key] is not None]
        value = mine[metric.key]
        rows.append(
            MetricComparison(
                key=metric.key,
                label=metric.label,
                value=value,
                percentile=None if value is None else percentile(value, peer_values),
                peer_median=peer_median(peer_values),
                peers=len(peer_values),
            )
        )
    shares: dict[str, float | None] = {}
    for name in FLAG_FIELDS:
        flags = [bool(getattr(peer.values, name)) for peer in group.peers]
        shares[name] = 100.0 * sum(flags) / len(flags) if len(flags) >= MIN_PEERS else None
    comparison = Comparison(group, tuple(rows), shares, ())
    return Comparison(group, tuple(rows), shares, next_steps(values, comparison))


# --- Next steps -------------------------------------------------------------------------------


def _per(value: float) -> str:
    """`3`, `2.5`: how many production models one builder carries."""
    rounded = round(value, 1)
    return f"{rounded:.0f}" if float(rounded).is_integer() else f"{rounded:.1f}"


def _builders_step(values: CoeValues, comparison: Comparison) -> str | None:
    median = comparison.metric("builders_per_model").peer_median
    models, builders = values.production_models, values.certified_builders
    if median is None or median <= 0 or models <= 0:
        return None
    if builders / models >= median * 0.75:
        return None
    needed = math.ceil(models * median - 1e-9) - builders  # 9 × (1/3) is 3, not 4
    if needed <= 0:
        return None
    peers_text = f"peers at the median have 1 per {_per(1 / median)}"
    plural = "s" if needed > 1 else ""
    if builders == 0:
        return (
            f"No certified model builder for {models} production models: {peers_text}; "
            f"certify {needed} model builder{plural} to reach the peer median."
        )
    return (
        f"1 builder for {_per(models / builders)} production models: {peers_text}; "
        f"certify {needed} more model builder{plural} to reach the peer median."
    )


def _active_step(values: CoeValues, comparison: Comparison) -> str | None:
    row = comparison.metric("active_share_pct")
    if row.value is None or row.peer_median is None:
        return None
    if row.value > row.peer_median - ACTIVE_SHARE_GAP_PTS:
        return None
    idle = values.licensed_users - values.active_users
    return (
        f"{row.value:.0f} % of licensed users were active in the last 30 days: peers at the "
        f"median reach {row.peer_median:.0f} %; review the {idle:,} licences nobody used and "
        "plan training or reassignment."
    )


def _workspace_step(values: CoeValues, _comparison: Comparison) -> str | None:
    use = metric_values(values)["workspace_use_pct"]
    if use is None or use < WORKSPACE_FULL_PCT:
        return None
    return (
        f"Workspaces use {use:.0f} % of their allowance "
        f"({number_text(values.workspace_size_gb)} of "
        f"{number_text(values.workspace_allowance_gb)} GB): archive unused models or plan more "
        "space before the limit is reached."
    )


def _flag_step(name: str, sentence: str):
    def step(values: CoeValues, comparison: Comparison) -> str | None:
        share = comparison.flag_shares.get(name)
        if getattr(values, name) or share is None or share < 50:
            return None
        return sentence.format(share=f"{share:.0f} %", models=values.production_models)

    return step


def _maturity_step(values: CoeValues, comparison: Comparison) -> str | None:
    median = comparison.metric("maturity_stage").peer_median
    stage = values.maturity_stage
    if stage == 0:
        return (
            "The CoE relies on partners only (stage 0): certify in-house model builders to reach "
            "stage 1 (emerging)."
        )
    if median is None or stage >= median or stage >= 3:
        return None
    return (
        f"CoE maturity stage {maturity_label(stage)} is below the peer median "
        f"({format_metric('maturity_stage', median)}): name a CoE lead and an internal "
        f"certification plan to reach stage {maturity_label(stage + 1)}."
    )


def _missing_role_step(name: str, sentence: str):
    """A step for a role the customer has nobody in while the peer median has at least one."""

    def step(values: CoeValues, comparison: Comparison) -> str | None:
        median = comparison.metric(name).peer_median
        if getattr(values, name) > 0 or median is None or median < 1:
            return None
        return sentence.format(median=number_text(median), models=values.production_models)

    return step


_RULES = (
    _builders_step,
    _active_step,
    _workspace_step,
    _flag_step(
        "alm_in_use",
        "ALM is not in use for {models} production models while {share} of peers use it: set it "
        "up so changes move from development to production under control.",
    ),
    _flag_step(
        "data_hub",
        "No data hub while {share} of peers load data through one: a data hub gives every model "
        "one source of shared data.",
    ),
    _maturity_step,
    _missing_role_step(
        "certified_architects",
        "No certified solution architect for {models} production models: peers at the median "
        "have {median}; certify one to own the model design.",
    ),
    _missing_role_step(
        "master_planners",
        "No master planner: peers at the median have {median}; train one to lead planning design "
        "with the business.",
    ),
)


def next_steps(values: CoeValues, comparison: Comparison) -> tuple[str, ...]:
    """At most `MAX_NEXT_STEPS` concrete sentences, most important first: builders per model,
    active share of licences, workspace space, ALM, data hub, maturity, architects, planners."""
    steps = [sentence for rule in _RULES if (sentence := rule(values, comparison))]
    return tuple(steps[:MAX_NEXT_STEPS])


NO_STEP_SENTENCE = "No next step stands out: the CoE is at or above its peers on every measure."
