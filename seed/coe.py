"""Demo CoE benchmarks: one snapshot per quarter since each HyperCare customer's start.

A benchmark is debited when it happens: each snapshot uses one `coe_benchmark` on the day it is
taken, as `data_access.coe_commands.record_coe_snapshot` does, never before the customer's HyperCare
start, never in the future and never past the tier's yearly allowance (a quarter that would pass
it is skipped, as a real CoE team would). Basic customers have none.

The figures grow the way a CoE does: builders are certified a few at a time, production models
and workspace use grow, ALM and a data hub once adopted stay, and the maturity stage only rises.
Size bands set the scale (a large customer has more builders, models and users). A generator of
its own (from the demo seed) keeps the rest of the demo data as it was.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from data_access.bulk import bulk_insert
from data_access.models import CoeSnapshot, EntitlementEntry
from domain.entitlements import Entitlement, subscription_year
from domain.quarters import Quarter, quarters_between

# size band -> (builders, production models, workspace allowance in GB) at the start
SCALE: dict[str, tuple[tuple[int, int], tuple[int, int], float]] = {
    "small": ((1, 3), (3, 8), 100.0),
    "medium": ((2, 6), (8, 20), 250.0),
    "large": ((4, 12), (18, 40), 600.0),
}


def _customers(connection: Connection) -> pd.DataFrame:
    return pd.read_sql(
        text(
            "SELECT c.id, c.tier, c.size_band, c.licensed_users, c.hypercare_start, c.csm_id, "
            "r.timezone, t.coe_benchmarks_per_year AS allowance "
            "FROM customer c JOIN region r ON r.id = c.region_id "
            "JOIN tier_policy t ON t.tier = c.tier "
            "WHERE c.is_active ORDER BY c.id"
        ),
        connection,
    )


def _taken_on(rng: np.random.Generator, quarter: Quarter, start: date, today: date) -> date | None:
    """A day three to eight weeks into the quarter, on or after the HyperCare start and not after
    today; None when the quarter has no such day."""
    first = max(quarter.first_day, start)
    last = min(quarter.last_day, today)
    if first > last:
        return None
    wanted = quarter.first_day + timedelta(days=int(rng.integers(21, 57)))
    return min(max(wanted, first), last)


class _Footprint:
    """One customer's CoE as it grows from quarter to quarter."""

    def __init__(self, rng: np.random.Generator, size_band: str, licensed_now: int, quarters: int):
        builders, models, allowance = SCALE.get(size_band, SCALE["medium"])
        self.rng = rng
        self.builders = int(rng.integers(builders[0], builders[1] + 1))
        self.models = int(rng.integers(models[0], models[1] + 1))
        self.architects = int(rng.random() < 0.5)
        self.planners = int(rng.random() < 0.3)
        self.workspaces = max(1, self.models // 5)
        self.allowance = allowance
        self.size = allowance * float(rng.uniform(0.25, 0.5))
        # licences grow towards today's figure on the customer record
        self.licensed = max(20, int(licensed_now * float(rng.uniform(0.7, 0.9))))
        self.licensed_step = max(0, (licensed_now - self.licensed) // max(quarters - 1, 1))
        self.licensed_now = licensed_now
        self.active_share = float(rng.uniform(0.45, 0.8))
        self.alm = bool(rng.random() < 0.3)
        self.hub = bool(rng.random() < 0.25)
        self.stage = int(rng.choice(3, p=[0.3, 0.45, 0.25]))

    def snapshot(self) -> dict:
        active = min(self.licensed, int(round(self.licensed * self.active_share)))
        return {
            "certified_builders": self.builders,
            "certified_architects": self.architects,
            "master_planners": self.planners,
            "production_models": self.models,
            "workspaces": self.workspaces,
            "workspace_size_gb": round(self.size, 1),
            "workspace_allowance_gb": self.allowance,
            "licensed_users": self.licensed,
            "active_users": active,
            "alm_in_use": self.alm,
            "data_hub": self.hub,
            "maturity_stage": self.stage,
        }

    def grow(self) -> None:
        rng = self.rng
        self.builders += int(rng.choice(3, p=[0.5, 0.35, 0.15]))
        self.models += int(rng.choice(4, p=[0.35, 0.35, 0.2, 0.1]))
        self.workspaces = max(self.workspaces, self.models // 5 + int(rng.random() < 0.2))
        self.architects += int(rng.random() < 0.12)
        self.planners += int(rng.random() < 0.08)
        self.size = min(self.allowance * 0.98, self.size * float(rng.uniform(1.02, 1.15)))
        if self.size > self.allowance * 0.9 and rng.random() < 0.5:
            self.allowance *= 2  # the customer bought more space
        self.licensed = min(self.licensed_now, self.licensed + self.licensed_step)
        self.active_share = float(np.clip(self.active_share + rng.normal(0.01, 0.04), 0.3, 0.97))
        self.alm = self.alm or bool(rng.random() < 0.15)
        self.hub = self.hub or bool(rng.random() < 0.1)
        if self.stage < 3 and rng.random() < 0.15 + 0.02 * self.builders:
            self.stage += 1


def coe_benchmarks(connection: Connection, *, seed: int, now: datetime) -> dict[str, int]:
    """Insert every HyperCare customer's quarterly CoE snapshots and their debits up to `now`."""
    rng = np.random.default_rng((seed, 0xC0E))
    snapshots: list[dict] = []
    ledger: list[dict] = []
    for customer in _customers(connection).itertuples():
        allowance = int(customer.allowance)
        if allowance <= 0:
            continue
        start = pd.Timestamp(customer.hypercare_start).date()
        today = now.astimezone(ZoneInfo(customer.timezone)).date()
        if today < start:
            continue
        quarters = quarters_between(Quarter.containing(start), Quarter.containing(today))
        footprint = _Footprint(rng, customer.size_band, int(customer.licensed_users), len(quarters))
        used: dict[date, int] = {}
        for position, quarter in enumerate(quarters):
            if position:
                footprint.grow()
            taken_on = _taken_on(rng, quarter, start, today)
            if taken_on is None:
                continue
            year = subscription_year(start, taken_on)[0]
            if used.get(year, 0) >= allowance:
                continue
            used[year] = used.get(year, 0) + 1
            at = min(now, datetime.combine(taken_on, time(10), tzinfo=UTC))
            snapshots.append(
                {
                    "customer_id": customer.id,
                    "quarter": quarter.key,
                    "taken_on": taken_on.isoformat(),
                    **footprint.snapshot(),
                    "recorded_by_id": customer.csm_id,
                    "updated_at": at,
                }
            )
            ledger.append(
                {
                    "customer_id": customer.id,
                    "kind": Entitlement.COE_BENCHMARK.value,
                    "at": at,
                    "delta": -1,
                    "reason": f"CoE benchmark {quarter.label}",
                    "actor_id": customer.csm_id,
                    "request_id": None,
                }
            )
    for table, rows in ((CoeSnapshot, snapshots), (EntitlementEntry, ledger)):
        frame = pd.DataFrame(rows)
        if frame.empty:
            continue
        for column in ("at", "updated_at"):
            if column in frame.columns:
                frame[column] = pd.to_datetime(frame[column], utc=True)
        bulk_insert(connection, table.__table__, frame)
    return {"coe_snapshot": len(snapshots), "coe_benchmark_debits": len(ledger)}
