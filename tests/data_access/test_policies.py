"""Tier policies: the domain's `TierPolicy` and the editable `tier_policy` table stay one shape."""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import get_type_hints

from data_access.models import TierPolicyRow
from data_access.policies import POLICY_FIELDS
from domain.tiers import TierPolicy

# What the table holds besides the policy itself: its editable name and when it last changed.
ROW_ONLY_FIELDS = {"label", "updated_at"}


def test_the_policy_row_has_exactly_the_domain_policy_fields_plus_its_own():
    domain_fields = {field.name: field for field in fields(TierPolicy)}
    row_fields = TierPolicyRow.model_fields
    assert set(row_fields) - ROW_ONLY_FIELDS == set(domain_fields)
    assert set(POLICY_FIELDS) == set(domain_fields)


def test_the_policy_row_types_and_defaults_match_the_domain_policy():
    domain_types = get_type_hints(TierPolicy)
    row_fields = TierPolicyRow.model_fields
    for field in fields(TierPolicy):
        assert row_fields[field.name].annotation == domain_types[field.name], field.name
        if field.default is not MISSING:
            assert row_fields[field.name].default == field.default, field.name
