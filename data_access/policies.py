"""Tier policy rows: the editable source of every tier number in the product."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields

import pandas as pd
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused, record_audit
from data_access.locking import for_update
from data_access.models import TierPolicyRow, utc_now
from domain.roles import Role
from domain.tiers import DEFAULT_POLICIES, HYPERCARE_RESOURCES, TIER_LABELS, TierPolicy

POLICY_FIELDS = tuple(field.name for field in fields(TierPolicy))
READ_ONLY_FIELDS = frozenset({"tier", "updated_at"})
"""Columns of `policies_frame` that identify or stamp a row; an edit never sets them."""


def seed_default_policies(*, session: Session) -> None:
    """Insert the SPEC's default rows for tiers that have none yet (existing rows are kept)."""
    existing = set(session.exec(select(TierPolicyRow.tier)).all())
    for policy in DEFAULT_POLICIES:
        if policy.tier not in existing:
            session.add(TierPolicyRow(label=TIER_LABELS[policy.tier], **asdict(policy)))


def tier_policies(*, session: Session) -> dict[str, TierPolicy]:
    rows = session.exec(select(TierPolicyRow)).all()
    return {
        row.tier: TierPolicy(**{name: getattr(row, name) for name in POLICY_FIELDS}) for row in rows
    }


def tier_labels(*, session: Session) -> dict[str, str]:
    return dict(session.exec(select(TierPolicyRow.tier, TierPolicyRow.label)).all())


def policies_frame(*, session: Session) -> pd.DataFrame:
    return pd.read_sql(
        select(TierPolicyRow).order_by(TierPolicyRow.first_response_minutes.desc()),
        session.connection(),
    )


def _validate(values: dict) -> None:
    counts = (
        "first_response_minutes",
        "model_optimisations_per_year",
        "monitored_models_cap",
        "weekly_report_models_cap",
        "qbr_inputs_per_year",
        "adoption_surveys_per_year",
        "coe_benchmarks_per_year",
        "sev1_goal_minutes",
    )
    for name in counts:
        if name in values and (
            values[name] is None or int(values[name]) < 0 or values[name] != int(values[name])
        ):
            raise CommandRefused(
                f"{name.replace('_', ' ').capitalize()} must be a whole number of 0 or more."
            )
    if "first_response_minutes" in values and int(values["first_response_minutes"]) < 1:
        raise CommandRefused("First response minutes must be at least 1.")
    if "resolution_business_days" in values and (
        values["resolution_business_days"] is None
        or not 0 < float(values["resolution_business_days"]) <= 365
    ):
        raise CommandRefused("Resolution business days must be more than 0 and at most 365.")
    if "label" in values and not str(values["label"] or "").strip():
        raise CommandRefused("A tier needs a label.")
    if "hypercare_resource" in values and values["hypercare_resource"] not in HYPERCARE_RESOURCES:
        raise CommandRefused(
            f"HyperCare resource must be {', '.join(HYPERCARE_RESOURCES[:-1])} "
            f"or {HYPERCARE_RESOURCES[-1]}."
        )


def update_policy(*, session: Session, actor: Actor, tier: str, changes: dict) -> TierPolicyRow:
    """Change some fields of one tier's policy (an admin only); validated, audited with before
    and after."""
    authorise(session, actor, roles=(Role.ADMIN,))
    row = session.exec(for_update(select(TierPolicyRow).where(TierPolicyRow.tier == tier))).first()
    if row is None:
        raise CommandRefused(f"There is no tier called {tier!r}.")
    unknown = set(changes) - set(POLICY_FIELDS) - {"label"}
    if unknown:
        raise CommandRefused(f"{sorted(unknown)[0]!r} is not a tier policy field.")
    _validate(changes)
    before = {name: getattr(row, name) for name in changes}
    if before == changes:
        return row
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utc_now()
    session.add(row)
    record_audit(
        session=session,
        actor=actor.username,
        action="update_tier_policy",
        entity="tier_policy",
        entity_id=tier,
        detail={"from": before, "to": changes},
    )
    return row


def set_tier_policies(
    *, session: Session, actor: Actor, desired: Iterable[Mapping[str, object]]
) -> list[str]:
    """Make the tier policies read as `desired`, one mapping per tier (its `tier` and the values
    wanted, e.g. the rows of an edited `policies_frame`); returns the tiers that changed.

    Only the fields that differ from the stored row are written, each changed tier audited with
    before and after (`update_policy`), all in the caller's one transaction: a refused value in
    any tier leaves every tier as it was. Values come as the table editor gives them: numpy
    scalars are taken as plain values and an emptied cell as a missing value (refused)."""
    authorise(session, actor, roles=(Role.ADMIN,))
    changed = []
    for record in desired:
        tier = str(record["tier"])
        row = session.exec(
            for_update(select(TierPolicyRow).where(TierPolicyRow.tier == tier))
        ).first()
        if row is None:
            raise CommandRefused(f"There is no tier called {tier!r}.")
        wanted = {
            name: _plain(value) for name, value in record.items() if name not in READ_ONLY_FIELDS
        }
        changes = {
            name: value
            for name, value in wanted.items()
            if not hasattr(row, name) or getattr(row, name) != value
        }
        if changes:
            update_policy(session=session, actor=actor, tier=tier, changes=changes)
            changed.append(tier)
    return changed


def _plain(value: object) -> object:
    """A table cell as a plain Python value: numpy scalars unwrapped, NaN and NaT as None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
