"""Case queue order: who gets picked up next, and a short reason for every position.

1. Severity 1 or outage, oldest first: they precede everything, HyperCare priority included.
2. Priority tiers (HyperCare), earliest next SLA deadline first, then oldest.
3. Everyone else, strictly first come, first served: deadlines play no part.

A live queue polls for cases written since its last read; `queue_changes` says which are new
(a toast each) and whether the table must be read again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from domain.durations import duration_text
from domain.sla import US_PER_MINUTE

URGENT = 1
PRIORITY = 2
FIRST_COME_FIRST_SERVED = 3

_RUNNING_STATES = ("running", "breached")
_NONE = np.iinfo(np.int64).max


def order_queue(
    frame: pd.DataFrame,
    priority_tiers: Collection[str],
    now: datetime,
    *,
    tier_labels: Mapping[str, str],
) -> pd.DataFrame:
    """The open cases sorted into queue order, with queue_group, queue_position and queue_reason.

    `frame` holds case_id, tier, severity, is_outage, opened_at and the clock columns of
    `compute_clocks` (fr_due, fr_at, res_due, res_state). A priority case's deadline is the
    earliest due time of its running clocks: first response until the first reply, and resolution
    unless paused or excluded. Edge case: a priority case with no running clock (waiting on the
    customer, or with L2/L3) sorts after the ones with deadlines, oldest first. Reasons name
    the tier by `tier_labels` (the policy rows' labels), so a renamed tier reads renamed.
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
        _reason(
            group_of_case,
            row,
            tier_labels.get(row.tier, str(row.tier).title()),
            (now_us - opened_at) / US_PER_MINUTE,
            due,
            now_us,
        )
        for group_of_case, row, opened_at, due in zip(
            group, frame.itertuples(index=False), opened, deadline, strict=True
        )
    ]
    queue = frame.iloc[order].copy()
    queue["queue_group"] = group[order]
    queue["queue_position"] = np.arange(1, len(queue) + 1)
    queue["queue_reason"] = np.asarray(reasons, dtype=object)[order]
    return queue


def _reason(
    group: int, row: tuple, label: str, waited_minutes: float, deadline_us: int, now_us: int
) -> str:
    """One line saying why the case sits in its group, e.g. "Severity 1 – open 12m"."""
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


def search_matches(queue: pd.DataFrame, text: str) -> pd.Series:
    """Rows whose case number is `text` (with or without '#'), or whose subject or customer
    name contains it, ignoring case; the text is matched literally, never as a pattern."""
    needle = text.strip().lower()
    number = needle.removeprefix("#")
    by_id = queue["case_id"].astype(str) == number if number.isdigit() else False
    haystack = queue["subject"].str.lower() + " " + queue["customer"].str.lower()
    return haystack.str.contains(needle, regex=False) | by_id


@dataclass(frozen=True)
class QueueChanges:
    """What a poll of recently written cases means for a live queue.

    `seen` is the updated_at of every case the page now knows about, `toasts` one sentence per
    case that newly joined the queue, and `reload` whether the table must be read again.
    """

    seen: dict[int, pd.Timestamp]
    toasts: tuple[str, ...]
    reload: bool


def queue_changes(
    seen: Mapping[int, pd.Timestamp],
    changed: pd.DataFrame,
    queued: Collection[int],
    open_statuses: Collection[str],
) -> QueueChanges:
    """Compare a poll (`changed`: case_id, updated_at, status, severity, is_outage, customer)
    with what the page has seen and the case ids it shows (`queued`).

    A row is news when its case is unknown or its updated_at differs from the one seen. News
    about an open case not in the queue is a new case, and gets a toast; any news about an
    open case, or about a queued case that has since closed, means the queue is read again.
    Edge case: polls overlap in time (a write committed late carries an earlier updated_at), so
    the same row read twice is not news.
    """
    known = dict(seen)
    news = [
        row
        for row in changed.itertuples(index=False)
        if known.get(int(row.case_id)) != pd.Timestamp(row.updated_at)
    ]
    toasts = []
    reload = False
    for row in news:
        case_id = int(row.case_id)
        known[case_id] = pd.Timestamp(row.updated_at)
        is_open = row.status in open_statuses
        if is_open and case_id not in queued:
            toasts.append(new_case_sentence(row))
        reload = reload or is_open or case_id in queued
    return QueueChanges(seen=known, toasts=tuple(toasts), reload=reload)


def new_case_sentence(row) -> str:
    """'New Severity 1: #5011 Tailspin Logistics' (outages say 'New outage')."""
    kind = "outage" if bool(row.is_outage) else f"Severity {int(row.severity)}"
    return f"New {kind}: #{int(row.case_id)} {row.customer}"
