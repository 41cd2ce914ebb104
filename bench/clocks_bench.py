"""Time `compute_clocks` on 100 000 synthetic cases (~4 events each) across three regions.

Run: python bench/clocks_bench.py [--cases N] [--runs R]. Target: median under 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.clocks import compute_clocks  # noqa: E402
from domain.sla import calendar_from_region  # noqa: E402
from domain.tiers import DEFAULT_POLICIES  # noqa: E402

REGIONS = {
    "APAC": ("Asia/Singapore", "SG"),
    "EMEA": ("Europe/London", "GB"),
    "NA": ("America/New_York", "US"),
}
NOW = datetime(2026, 3, 20, 14, 30, tzinfo=UTC)
MINUTE = np.timedelta64(60_000_000, "us")


def synthetic_cases(count: int, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cases opened over the last 60 days; each gets opened, replied, pending, back, solved."""
    rng = np.random.default_rng(seed)
    now = np.datetime64(NOW.replace(tzinfo=None), "us")
    opened = now - (rng.uniform(0, 60 * 24 * 60, count) * MINUTE).astype("timedelta64[us]")
    case_ids = np.arange(1, count + 1)

    def later(start: np.ndarray, low: float, high: float) -> np.ndarray:
        return start + (rng.uniform(low, high, count) * MINUTE).astype("timedelta64[us]")

    to_open = later(opened, 1, 30)
    replied = later(opened, 5, 240)
    to_pending = later(to_open, 60, 3 * 24 * 60)
    back_to_open = later(to_pending, 60, 2 * 24 * 60)
    solved = later(back_to_open, 60, 5 * 24 * 60)
    transferred = rng.random(count) < 0.05
    steps = [
        (to_open, "status", "new", "open"),
        (replied, "public_reply", None, None),
        (to_pending, "status", "open", "pending_customer"),
        (back_to_open, "status", "pending_customer", "open"),
        (solved, "status", "open", "solved"),
    ]
    events = pd.concat(
        [
            pd.DataFrame(
                {"case_id": case_ids, "at": at, "kind": kind, "from_status": src, "to_status": dst}
            )
            for at, kind, src, dst in steps
        ],
        ignore_index=True,
    )
    transfer = pd.DataFrame(
        {
            "case_id": case_ids[transferred],
            "at": later(to_open, 10, 120)[transferred],
            "kind": "status",
            "from_status": "open",
            "to_status": "transferred_l2",
        }
    )
    events = pd.concat([events, transfer], ignore_index=True)
    events = events[events["at"] <= now].sample(frac=1, random_state=seed, ignore_index=True)
    events["at"] = events["at"].dt.tz_localize("UTC")

    last_status = (
        events[events["kind"] == "status"].sort_values("at").groupby("case_id")["to_status"].last()
    )
    cases = pd.DataFrame(
        {
            "case_id": case_ids,
            "tier": rng.choice(["basic", "professional", "enterprise"], count, p=[0.5, 0.3, 0.2]),
            "severity": rng.choice([1, 2, 3, 4], count, p=[0.03, 0.17, 0.5, 0.3]),
            "is_outage": rng.random(count) < 0.01,
            "region": rng.choice(list(REGIONS), count),
            "opened_at": pd.DatetimeIndex(opened).tz_localize("UTC"),
        }
    )
    cases["status"] = cases["case_id"].map(last_status).fillna("new")
    return cases, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()

    started = time.perf_counter()
    calendars = {
        region: calendar_from_region(zone, country) for region, (zone, country) in REGIONS.items()
    }
    calendars_seconds = time.perf_counter() - started
    cases, events = synthetic_cases(options.cases)
    policies = {policy.tier: policy for policy in DEFAULT_POLICIES}

    timings = []
    for _ in range(options.runs):
        started = time.perf_counter()
        clocks = compute_clocks(cases, events, policies, calendars, NOW)
        timings.append(time.perf_counter() - started)

    print(f"cases: {len(cases):,}  events: {len(events):,}  regions: {len(calendars)}")
    print(f"calendars built in {calendars_seconds:.3f} s (holidays 1970-2100)")
    print("runs (s): " + ", ".join(f"{seconds:.3f}" for seconds in timings))
    print(f"compute_clocks median of {options.runs}: {statistics.median(timings):.3f} s")
    states = clocks["res_state"].value_counts()
    print(
        "resolution states: " + ", ".join(f"{state} {count:,}" for state, count in states.items())
    )


if __name__ == "__main__":
    main()
