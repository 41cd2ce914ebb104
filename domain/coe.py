"""A CoE benchmark snapshot: what a person records about a customer's Centre of Excellence for a
quarter, the measures compared with peers, how they read, and when a snapshot can be recorded
(SPEC: "QBR and Centre of Excellence").

The peers, percentiles and next steps that compare a snapshot with other customers' are
`domain.coe_peers`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import date

from domain.quarters import Quarter

MAX_COUNT = 1_000_000
MAX_GB = 1_000_000.0

MATURITY_LABELS: dict[int, str] = {
    0: "Partners only",
    1: "Emerging",
    2: "In-house CoE",
    3: "Hybrid",
}
SIZE_BANDS: tuple[str, ...] = ("small", "medium", "large")


@dataclass(frozen=True)
class CoeValues:
    """One quarter's snapshot as entered (the `coe_snapshot` columns a person fills in)."""

    certified_builders: int = 0
    certified_architects: int = 0
    master_planners: int = 0
    production_models: int = 0
    workspaces: int = 0
    workspace_size_gb: float = 0.0
    workspace_allowance_gb: float = 0.0
    licensed_users: int = 0
    active_users: int = 0
    alm_in_use: bool = False
    data_hub: bool = False
    maturity_stage: int = 0

    @classmethod
    def of(cls, row: object) -> CoeValues:
        """From anything with the snapshot's attribute names (an ORM row, a named tuple)."""
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


VALUE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(CoeValues))
COUNT_FIELDS: tuple[str, ...] = (
    "certified_builders",
    "certified_architects",
    "master_planners",
    "production_models",
    "workspaces",
    "licensed_users",
    "active_users",
)
GB_FIELDS: tuple[str, ...] = ("workspace_size_gb", "workspace_allowance_gb")
FLAG_FIELDS: tuple[str, ...] = ("alm_in_use", "data_hub")

FIELD_LABELS: dict[str, str] = {
    "certified_builders": "Certified model builders",
    "certified_architects": "Certified solution architects",
    "master_planners": "Master planners",
    "production_models": "Production models",
    "workspaces": "Workspaces",
    "workspace_size_gb": "Workspace size (GB)",
    "workspace_allowance_gb": "Workspace allowance (GB)",
    "licensed_users": "Licensed users",
    "active_users": "Active users (30 days)",
    "alm_in_use": "ALM in use",
    "data_hub": "Data hub",
    "maturity_stage": "CoE maturity stage",
}


@dataclass(frozen=True)
class Metric:
    """A measure compared with peers; `unit` is "count", "pct" (0-100), "ratio" or "stage"."""

    key: str
    label: str
    unit: str
    help: str = ""


METRICS: tuple[Metric, ...] = (
    Metric("certified_builders", "Certified model builders", "count"),
    Metric("certified_architects", "Certified solution architects", "count"),
    Metric("master_planners", "Master planners", "count"),
    Metric("production_models", "Production models", "count"),
    Metric("workspaces", "Workspaces", "count"),
    Metric(
        "workspace_use_pct",
        "Workspace size against allowance",
        "pct",
        "Workspace size as a share of the allowance.",
    ),
    Metric("licensed_users", "Licensed users", "count"),
    Metric("active_users", "Active users (30 days)", "count"),
    Metric(
        "active_share_pct",
        "Active share of licences",
        "pct",
        "Users active in the last 30 days as a share of licensed users.",
    ),
    Metric(
        "builders_per_model",
        "Builders per production model",
        "ratio",
        "Certified model builders divided by production models.",
    ),
    Metric("maturity_stage", "CoE maturity stage", "stage", "0 partners only … 3 hybrid."),
)
METRIC_BY_KEY: dict[str, Metric] = {metric.key: metric for metric in METRICS}


def maturity_label(stage: int) -> str:
    """`2 · In-house CoE`."""
    return f"{stage} · {MATURITY_LABELS.get(stage, 'unknown')}"


def _share(part: float, whole: float) -> float | None:
    return None if whole <= 0 else 100.0 * part / whole


def metric_values(values: CoeValues) -> dict[str, float | None]:
    """Every compared measure of a snapshot; a ratio over zero is missing (None), never 0."""
    return {
        "certified_builders": float(values.certified_builders),
        "certified_architects": float(values.certified_architects),
        "master_planners": float(values.master_planners),
        "production_models": float(values.production_models),
        "workspaces": float(values.workspaces),
        "workspace_use_pct": _share(values.workspace_size_gb, values.workspace_allowance_gb),
        "licensed_users": float(values.licensed_users),
        "active_users": float(values.active_users),
        "active_share_pct": _share(values.active_users, values.licensed_users),
        "builders_per_model": (
            None
            if values.production_models <= 0
            else values.certified_builders / values.production_models
        ),
        "maturity_stage": float(values.maturity_stage),
    }


def number_text(value: float) -> str:
    """`1,200`, `2.5`: a whole number without decimals, else one."""
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def format_metric(key: str, value: float | None) -> str:
    """A measure as shown: "62 %", "0.33", "2 · In-house CoE", "1,200"; "—" when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    unit = METRIC_BY_KEY[key].unit
    if unit == "pct":
        return f"{value:.0f} %"
    if unit == "ratio":
        return f"{value:.2f}"
    if unit == "stage":
        if float(value).is_integer():
            return maturity_label(int(value))
        return f"{value:.1f}"
    return number_text(value)


# --- Validation -------------------------------------------------------------------------------


def validation_errors(
    values: CoeValues, *, quarter: Quarter, hypercare_start: date, today: date
) -> list[str]:
    """Every problem with a snapshot, one sentence each; an empty list means it can be recorded.

    A snapshot describes a quarter that has started and that does not end before the customer's
    HyperCare start; a count is a whole number from 0; active users cannot exceed licensed users;
    the workspace size cannot be negative and needs an allowance to be measured against.
    """
    problems: list[str] = []
    for name in COUNT_FIELDS:
        count = getattr(values, name)
        label = FIELD_LABELS[name]
        if isinstance(count, bool) or not isinstance(count, int):
            problems.append(f"{label} must be a whole number.")
        elif count < 0:
            problems.append(f"{label} cannot be negative ({count}).")
        elif count > MAX_COUNT:
            problems.append(f"{label} is implausibly large ({count:,}).")
    for name in GB_FIELDS:
        size = getattr(values, name)
        label = FIELD_LABELS[name]
        if not isinstance(size, int | float) or isinstance(size, bool) or math.isnan(size):
            problems.append(f"{label} must be a number.")
        elif size < 0:
            problems.append(f"{label} cannot be negative ({number_text(size)}).")
        elif size > MAX_GB:
            problems.append(f"{label} is implausibly large ({number_text(size)}).")
    if not problems:
        if values.active_users > values.licensed_users:
            problems.append(
                f"Active users ({values.active_users:,}) cannot exceed licensed users "
                f"({values.licensed_users:,})."
            )
        if values.workspace_size_gb > 0 and values.workspace_allowance_gb <= 0:
            problems.append(
                "A workspace size needs the workspace allowance it is measured against."
            )
        if values.workspace_size_gb > 0 and values.workspaces == 0:
            problems.append("A workspace size needs at least one workspace.")
    stage = values.maturity_stage
    if isinstance(stage, bool) or not isinstance(stage, int) or stage not in MATURITY_LABELS:
        problems.append(
            f"The CoE maturity stage must be 0 to 3 (0 partners only, 1 emerging, 2 in-house CoE, "
            f"3 hybrid), not {stage!r}."
        )
    for name in FLAG_FIELDS:
        if not isinstance(getattr(values, name), bool):
            problems.append(f"{FIELD_LABELS[name]} must be yes or no.")
    if quarter.first_day > today:
        problems.append(
            f"{quarter.label} has not started yet; the latest quarter is "
            f"{Quarter.containing(today).code}."
        )
    elif quarter.end_day <= hypercare_start:
        problems.append(
            f"{quarter.label} ends before the customer's HyperCare start on "
            f"{hypercare_start.isoformat()}; choose {Quarter.containing(hypercare_start).code} "
            "or later."
        )
    return problems
