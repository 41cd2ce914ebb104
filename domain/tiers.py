"""Tier names and the default tier policies.

This module is the one place the SPEC's tier numbers are written down. They seed the editable
`tier_policy` rows; everything else (pages, rules, tests) reads the rows, never these literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tier(StrEnum):
    BASIC = "basic"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


TIER_LABELS: dict[str, str] = {
    Tier.BASIC: "Basic",
    Tier.PROFESSIONAL: "HyperCare Professional",
    Tier.ENTERPRISE: "HyperCare Enterprise",
}

HYPERCARE_TIERS = frozenset({Tier.PROFESSIONAL, Tier.ENTERPRISE})
HYPERCARE_RESOURCES: tuple[str, ...] = ("none", "assigned", "dedicated")
"""Who a tier's customers get: no named person, an assigned CSM, or a dedicated one."""


@dataclass(frozen=True)
class TierPolicy:
    """One tier's commitments and allowances (the SPEC's tier table)."""

    tier: str
    first_response_minutes: int
    resolution_business_days: float
    priority_queueing: bool
    hypercare_resource: str  # one of HYPERCARE_RESOURCES
    model_optimisations_per_year: int
    monitored_models_cap: int
    weekly_report_models_cap: int
    qbr_inputs_per_year: int
    adoption_surveys_per_year: int
    coe_benchmarks_per_year: int
    vip_events: bool
    product_programmes: bool
    sev1_goal_minutes: int = 15


DEFAULT_POLICIES: tuple[TierPolicy, ...] = (
    TierPolicy(
        tier=Tier.BASIC,
        first_response_minutes=120,
        resolution_business_days=10,
        priority_queueing=False,
        hypercare_resource="none",
        model_optimisations_per_year=0,
        monitored_models_cap=0,
        weekly_report_models_cap=0,
        qbr_inputs_per_year=0,
        adoption_surveys_per_year=0,
        coe_benchmarks_per_year=0,
        vip_events=False,
        product_programmes=False,
    ),
    TierPolicy(
        tier=Tier.PROFESSIONAL,
        first_response_minutes=90,
        resolution_business_days=6,
        priority_queueing=True,
        hypercare_resource="assigned",
        model_optimisations_per_year=2,
        monitored_models_cap=10,
        weekly_report_models_cap=10,
        qbr_inputs_per_year=4,
        adoption_surveys_per_year=1,
        coe_benchmarks_per_year=4,
        vip_events=True,
        product_programmes=True,
    ),
    TierPolicy(
        tier=Tier.ENTERPRISE,
        first_response_minutes=60,
        resolution_business_days=3,
        priority_queueing=True,
        hypercare_resource="dedicated",
        model_optimisations_per_year=4,
        monitored_models_cap=25,
        weekly_report_models_cap=25,
        qbr_inputs_per_year=4,
        adoption_surveys_per_year=1,
        coe_benchmarks_per_year=4,
        vip_events=True,
        product_programmes=True,
    ),
)
