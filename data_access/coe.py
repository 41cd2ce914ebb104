"""The CoE benchmark's reads: a customer's snapshots, the comparison with peers, and the QBR's
CoE section. Peers, percentiles and next steps are the pure rules of `domain.coe_peers`; recording
snapshots (by a form or a CSV file) is `data_access.coe_commands`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from sqlmodel import Session, select

from data_access.models import CoeSnapshot, Customer, User
from data_access.policies import tier_labels, tier_policies
from domain.coe import (
    FIELD_LABELS,
    FLAG_FIELDS,
    METRICS,
    VALUE_FIELDS,
    CoeValues,
    format_metric,
    metric_values,
)
from domain.coe_peers import (
    MIN_PEERS,
    NO_STEP_SENTENCE,
    Candidate,
    Comparison,
    choose_peers,
    compare,
)
from domain.qbr import Chart, Figure, Section, Table, change_text
from domain.quarters import Quarter

# --- Reading snapshots ------------------------------------------------------------------------


def _snapshot(session: Session, customer_id: int, quarter: Quarter) -> CoeSnapshot | None:
    return session.exec(
        select(CoeSnapshot).where(
            CoeSnapshot.customer_id == customer_id, CoeSnapshot.quarter == quarter.key
        )
    ).first()


def included_tiers(*, session: Session) -> list[str]:
    """Tiers whose policy includes the CoE benchmark (read from the policy rows, never a list)."""
    return [tier for tier, p in tier_policies(session=session).items() if p.coe_benchmarks_per_year]


def not_included(*, session: Session, tier: str) -> str | None:
    """The sentence saying the tier has no CoE benchmark, or None when it has one."""
    if tier in included_tiers(session=session):
        return None
    label = tier_labels(session=session).get(tier, tier)
    return f"The CoE benchmark is not part of {label}; it comes with the HyperCare tiers."


def _candidates(
    session: Session,
    quarter: Quarter,
    tiers: list[str],
    *,
    tier: str | None = None,
    size_band: str | None = None,
) -> list[Candidate]:
    """The quarter's snapshots of active customers on `tiers` (`ix_coe_snapshot_quarter`), read
    as plain rows: one per possible peer, whatever the number of quarters on record; only those
    on `tier` and of `size_band`, where given."""
    table = CoeSnapshot.__table__
    statement = (
        select(table.c.customer_id, Customer.tier, Customer.size_band, *table.c[VALUE_FIELDS])
        .join(Customer, Customer.id == table.c.customer_id)
        .where(table.c.quarter == quarter.key, Customer.is_active, Customer.tier.in_(tiers))
    )
    if tier is not None:
        statement = statement.where(Customer.tier == tier)
    if size_band is not None:
        statement = statement.where(Customer.size_band == size_band)
    rows = session.exec(statement).all()
    return [Candidate(row.customer_id, row.tier, row.size_band, CoeValues.of(row)) for row in rows]


def _peer_candidates(
    session: Session, customer: Customer, quarter: Quarter, tiers: list[str]
) -> list[Candidate]:
    """Enough of the quarter's candidates for `choose_peers` to choose as it would from all of
    them: those of the customer's tier and size when they are `MIN_PEERS` others or more (it
    then looks no further), else those of its tier when they are, else all. On 2,000 customers
    the first is a tenth of the read and of the `CoeValues` made (16 ms to 3 ms)."""
    for narrowed in (
        {"tier": customer.tier, "size_band": customer.size_band},
        {"tier": customer.tier},
    ):
        candidates = _candidates(session, quarter, tiers, **narrowed)
        if sum(c.customer_id != customer.id for c in candidates) >= MIN_PEERS:
            return candidates
    return _candidates(session, quarter, tiers)


@dataclass(frozen=True)
class CoeComparison:
    """A customer's snapshot of one quarter against its peers, and the previous quarter's."""

    customer_id: int
    quarter: Quarter
    values: CoeValues
    previous: CoeValues | None
    taken_on: date
    comparison: Comparison

    @property
    def next_steps(self) -> tuple[str, ...]:
        return self.comparison.next_steps or (NO_STEP_SENTENCE,)

    def table(self) -> pd.DataFrame:
        """One row per measure with its value, percentile and peer median as shown, then ALM and
        data hub with the share of peers that have them."""
        rows = [
            {
                "Measure": row.label,
                "Value": row.value_text,
                "Percentile": row.percentile_text,
                "Peer median": row.median_text,
            }
            for row in self.comparison.metrics
        ]
        for name in FLAG_FIELDS:
            share = self.comparison.flag_shares.get(name)
            rows.append(
                {
                    "Measure": FIELD_LABELS[name],
                    "Value": "Yes" if getattr(self.values, name) else "No",
                    "Percentile": "—",
                    "Peer median": "—" if share is None else f"{share:.0f} % of peers",
                }
            )
        return pd.DataFrame(rows, columns=["Measure", "Value", "Percentile", "Peer median"])

    def chart_data(self) -> pd.DataFrame:
        """The measures that have a percentile (none with fewer than five peers)."""
        rows = [
            {
                "metric": row.label,
                "percentile": row.percentile,
                "value": row.value_text,
                "peer_median": row.median_text,
                "peers": row.peers,
            }
            for row in self.comparison.metrics
            if row.percentile is not None
        ]
        return pd.DataFrame(rows, columns=["metric", "percentile", "value", "peer_median", "peers"])


def coe_comparison(*, session: Session, customer_id: int, quarter: Quarter) -> CoeComparison | None:
    """The quarter's snapshot against peers of the same tier and size (widened when fewer than
    five); None when the customer has no snapshot for the quarter."""
    customer = session.get(Customer, customer_id)
    snapshot = _snapshot(session, customer_id, quarter)
    if customer is None or snapshot is None:
        return None
    previous = _snapshot(session, customer_id, quarter.previous())
    labels = tier_labels(session=session)
    hypercare_tiers = included_tiers(session=session)
    group = choose_peers(
        customer_id=customer_id,
        tier=customer.tier,
        size_band=customer.size_band,
        candidates=_peer_candidates(session, customer, quarter, hypercare_tiers),
        hypercare_tiers=hypercare_tiers,
        tier_label=labels.get(customer.tier, customer.tier),
        quarter=quarter,
    )
    values = CoeValues.of(snapshot)
    return CoeComparison(
        customer_id=customer_id,
        quarter=quarter,
        values=values,
        previous=None if previous is None else CoeValues.of(previous),
        taken_on=snapshot.taken_on,
        comparison=compare(values, group),
    )


def coe_history(*, session: Session, customer_id: int) -> pd.DataFrame:
    """Every snapshot of a customer, oldest quarter first, with the derived measures and who
    recorded it (`updated_at` in UTC)."""
    statement = (
        select(CoeSnapshot, User.name)
        .join(User, User.id == CoeSnapshot.recorded_by_id, isouter=True)
        .where(CoeSnapshot.customer_id == customer_id)
        .order_by(CoeSnapshot.quarter)
    )
    rows = []
    for snapshot, recorded_by in session.exec(statement).all():
        values = CoeValues.of(snapshot)
        derived = metric_values(values)
        rows.append(
            {
                "quarter": Quarter.parse(snapshot.quarter).code,
                "taken_on": snapshot.taken_on,
                **values.as_dict(),
                "workspace_use_pct": derived["workspace_use_pct"],
                "active_share_pct": derived["active_share_pct"],
                "builders_per_model": derived["builders_per_model"],
                "recorded_by": recorded_by,
                "updated_at": snapshot.updated_at,
            }
        )
    columns = [
        "quarter",
        "taken_on",
        *VALUE_FIELDS,
        "workspace_use_pct",
        "active_share_pct",
        "builders_per_model",
        "recorded_by",
        "updated_at",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
    return frame


# --- The QBR section --------------------------------------------------------------------------

SECTION_TITLE = "CoE benchmark"
_FIGURES: tuple[tuple[str, str], ...] = (
    ("certified_builders", ""),
    ("certified_architects", ""),
    ("master_planners", ""),
    ("production_models", ""),
    ("workspaces", ""),
    ("workspace_use_pct", " pts"),
    ("licensed_users", ""),
    ("active_users", ""),
    ("active_share_pct", " pts"),
    ("maturity_stage", ""),
)


def _figures(found: CoeComparison) -> tuple[Figure, ...]:
    now = metric_values(found.values)
    before = None if found.previous is None else metric_values(found.previous)
    labels = {metric.key: metric.label for metric in METRICS}
    figures = []
    for key, unit in _FIGURES:
        value = now[key]
        previous = None if before is None else before[key]
        help_text = ""
        if key == "workspace_use_pct":
            help_text = (
                f"{format_metric('workspaces', found.values.workspace_size_gb)} of "
                f"{format_metric('workspaces', found.values.workspace_allowance_gb)} GB"
            )
        figures.append(
            Figure(
                label=labels[key],
                text=format_metric(key, value),
                change=change_text(value, previous, unit=unit),
                value=value,
                previous=previous,
                help=help_text,
            )
        )
    for name in FLAG_FIELDS:
        value = float(getattr(found.values, name))
        previous = None if found.previous is None else float(getattr(found.previous, name))
        figures.append(
            Figure(
                label=FIELD_LABELS[name],
                text="Yes" if value else "No",
                change=(
                    ""
                    if previous is None
                    else "no change"
                    if previous == value
                    else f"was {'Yes' if previous else 'No'}"
                ),
                value=value,
                previous=previous,
            )
        )
    return tuple(figures)


def coe_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """The QBR's CoE section: the quarter's footprint against the previous quarter, percentiles
    and peer medians, the percentile chart, and the peer band and next steps as notes."""
    refusal = not_included(session=session, tier=customer.tier)
    if refusal is not None:
        return Section(key="coe", title=SECTION_TITLE, empty=refusal)
    found = coe_comparison(session=session, customer_id=customer.id, quarter=quarter)
    if found is None:
        return Section(
            key="coe", title=SECTION_TITLE, empty=f"No CoE benchmark was taken in {quarter.label}."
        )
    chart_data = found.chart_data()
    charts = ()
    if len(chart_data):
        charts = (
            Chart(
                kind="coe_percentiles",
                title=f"Percentile among peers, {quarter.label} (peer median = 50)",
                data=chart_data,
            ),
        )
    taken = f"Benchmark taken on {found.taken_on:%d %b %Y}."
    return Section(
        key="coe",
        title=SECTION_TITLE,
        figures=_figures(found),
        tables=(Table(title="Against peers", frame=found.table()),),
        charts=charts,
        notes=(taken, found.comparison.group.sentence, *found.next_steps),
    )
