"""Case queue order: who gets picked up next, and a short reason for every position.

1. Severity 1 or outage, oldest first: they precede everything, HyperCare priority included.
2. Priority tiers (HyperCare), earliest next SLA deadline first, then oldest.
3. Everyone else, strictly first come, first served: deadlines play no part.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import numpy as np
import pandas as pd

from domain.clocks import duration_text
from domain.sla import US_PER_MINUTE
from domain.tiers import TIER_LABELS

URGENT = 1
PRIORITY = 2
FIRST_COME_FIRST_SERVED = 3

_RUNNING_STATES = ("running", "breached")
_NONE = np.iinfo(np.int64).max


def order_queue(
    frame: pd.DataFrame, priority_tiers: Collection[str], now: datetime
) -> pd.DataFrame:
    """The open cases sorted into queue order, with queue_group, queue_position and queue_reason.

    `frame` holds case_id, tier, severity, is_outage, opened_at and the clock columns of
    `compute_clocks` (fr_due, fr_at, res_due, res_state). A priority case's deadline is the
    earliest due time of its running clocks: first response until the first reply, and resolution
    unless paused or excluded. Edge case: a priority case with no running clock (waiting on the
    customer, or with L2/L3) sorts after the ones with deadlines, oldest first.
    """
    now_stamp = pd.Timestamp(now)
    if now_stamp.tzinfo is None:
        raise ValueError(f"`now` must be time-zone aware, got {now!r}.")
    now_us = _micros(pd.Series([now_stamp]))[0]
    urgent = (frame["severity"].eq(1) | frame["is_outage"].eq(True)).to_numpy(dtype=bool)
    priority = frame["tier"].isin(priority_tiers).to_numpy(dtype=bool)
    group = np.where(urgent, URGENT, np.where(priority, PRIORITY, FIRST_COME_FIRST_SERVED))

    not_replied = pd.isna(frame["fr_at"]).to_numpy(dtype=bool)
    resolution_running = frame["res_state"].isin(_RUNNING_STATES).to_numpy(dtype=bool)
    deadline = np.minimum(
        np.where(not_replied, _micros(frame["fr_due"]), _NONE),
        np.where(resolution_running, _micros(frame["res_due"]), _NONE),
    )
    opened = _micros(frame["opened_at"])
    sort_key = np.where(group == PRIORITY, deadline, opened)
    order = np.lexsort((frame["case_id"].to_numpy(), opened, sort_key, group))

    reasons = [
        _reason(group_of_case, row, (now_us - opened_at) / US_PER_MINUTE, due, now_us)
        for group_of_case, row, opened_at, due in zip(
            group, frame.itertuples(index=False), opened, deadline, strict=True
        )
    ]
    queue = frame.iloc[order].copy()
    queue["queue_group"] = group[order]
    queue["queue_position"] = np.arange(1, len(queue) + 1)
    queue["queue_reason"] = np.asarray(reasons, dtype=object)[order]
    return queue


def _reason(group: int, row: tuple, waited_minutes: float, deadline_us: int, now_us: int) -> str:
    """One line saying why the case sits in its group, e.g. "Severity 1 – open 12m"."""
    label = TIER_LABELS.get(row.tier, str(row.tier).title())
    if group == URGENT:
        kind = "Severity 1" if row.severity == 1 else "Outage"
        return f"{kind} – open {duration_text(waited_minutes)}"
    if group == FIRST_COME_FIRST_SERVED:
        return f"{label} – queued {duration_text(waited_minutes)}"
    if deadline_us == _NONE:
        if row.res_state == "paused":
            return f"{label} – clock paused, waiting on customer"
        if row.res_state == "excluded":
            return f"{label} – with L2/L3, no SLA deadline"
        return f"{label} – no SLA deadline"
    left = (deadline_us - now_us) / US_PER_MINUTE
    when = f"due in {duration_text(left)}" if left > 0 else f"overdue by {duration_text(left)}"
    return f"{label} – {when}"


def _micros(column: pd.Series) -> np.ndarray:
    """UTC microseconds as int64; missing times become `_NONE`, which sorts last."""
    values = pd.DatetimeIndex(pd.to_datetime(column, utc=True)).as_unit("us").asi8.copy()
    values[pd.isna(column).to_numpy(dtype=bool)] = _NONE
    return values
