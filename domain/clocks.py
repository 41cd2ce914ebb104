"""Case clocks: first response (calendar minutes) and resolution (business minutes), for many cases.

`compute_clocks` replays each case's status events into intervals and measures them with the
region's `BusinessCalendar`, vectorised per region: no Python loop over cases (the arrays it works
on are `domain.clock_arrays`). How a clock's time reads ("2h 14m left") is `domain.durations`.

The rules, in one place:

- First response counts calendar minutes (support is 24/7) from `opened_at` to the first public
  reply. Severity 1 has no response target; its clock runs against the internal goal instead and
  the case is flagged `respond_now` until someone replies.
- Resolution counts business minutes from `opened_at`, except time spent in `pending_customer`,
  `solved` or `closed`: a reopened case resumes its clock and the solved spell does not count. The
  due time moves back by every paused business minute, an open pending spell counting up to now.
- A case ever transferred to L2 or L3 is excluded from resolution statistics (state "excluded").
- A clock is breached once the instant it stopped (or now) is past its due time, so a resolution due
  Friday 17:00 is breached on Saturday even though no business minute has passed since.
- A case shows one clock at a time (`clock`): "respond now" for severity 1 until the first reply,
  the first response until the first reply otherwise, then resolution. Its `state` is that clock's
  (`case_states`): a severity 1 case past its internal goal is "respond now, late", never breached,
  and a first response missed before the reply no longer colours the row once resolution runs.
  `breached` and `at_risk` are that state, so tiles and portfolio counts agree with the rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

import numpy as np
import pandas as pd

from domain.clock_arrays import NAT, CaseTimeline, RegionCalendars, column_us, is_any
from domain.lifecycle import RESOLVED_STATUSES, STATUSES
from domain.sla import US_PER_MINUTE, BusinessCalendar

PAUSED_STATUSES = frozenset({"pending_customer", *RESOLVED_STATUSES})
AT_RISK_FRACTION = 0.25

RESPOND_NOW = "respond_now"
FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"

ON_TRACK = "on_track"
AT_RISK = "at_risk"
BREACHED = "breached"
PAUSED = "paused"
RESPOND_NOW_LATE = "respond_now_late"
WITH_L2 = "with_l2"
WITH_L3 = "with_l3"
EXCLUDED = "excluded"
MET = "met"

CLOCK_COLUMNS = (
    "elapsed_minutes",
    "respond_now",
    "fr_target_minutes",
    "fr_due",
    "fr_at",
    "fr_state",
    "fr_remaining_minutes",
    "fr_consumed",
    "res_target_minutes",
    "res_due",
    "res_business_minutes",
    "res_paused_minutes",
    "res_state",
    "res_remaining_minutes",
    "res_consumed",
    "clock",
    "state",
    "at_risk",
    "breached",
)


class ClockPolicy(Protocol):
    """The part of a tier policy the clocks read (`domain.tiers.TierPolicy` qualifies)."""

    first_response_minutes: float
    resolution_business_days: float
    sev1_goal_minutes: float


def compute_clocks(
    cases: pd.DataFrame,
    events: pd.DataFrame,
    policies: Mapping[str, ClockPolicy],
    calendars: Mapping[str, BusinessCalendar],
    now: datetime,
) -> pd.DataFrame:
    """Both clocks of every case at `now`, one row per case indexed by `case_id`.

    `cases` needs case_id, tier, severity, status, region and opened_at (aware);
    `events` needs case_id, at (aware), kind, from_status and to_status, in any order. Only
    "status" and "public_reply" events matter. After a case's last status event it is in its
    current `status`; before its first one it was in that event's `from_status`.

    Edge case: a solved or closed case without any public reply has its first-response clock
    stopped at the solve, so it ends "met" or "breached" rather than running forever.
    """
    case_ids = cases["case_id"].to_numpy()
    if pd.Index(case_ids).has_duplicates:
        raise ValueError("Each case must appear once in `cases`.")
    unknown_statuses = set(cases["status"]) - set(STATUSES)
    if unknown_statuses:
        raise ValueError(f"Unknown case statuses: {sorted(unknown_statuses)}.")

    now_us = _datetime_us(now)
    opened = column_us(cases["opened_at"], "opened_at")
    if np.any(opened == NAT):
        raise ValueError("Every case needs an opened_at time.")
    status = cases["status"].to_numpy(dtype=object)
    resolved_now = is_any(status, RESOLVED_STATUSES)
    severity_1 = cases["severity"].eq(1).fillna(False).to_numpy(dtype=bool)
    regions = RegionCalendars(cases["region"], calendars)
    timeline = CaseTimeline.build(case_ids, opened, status, events, now_us)
    stopped_at = timeline.resolution_stop(resolved_now, opened, now_us)

    first_response = _first_response_clock(
        target=np.where(
            severity_1,
            _per_tier(cases["tier"], policies, "sev1_goal_minutes"),
            _per_tier(cases["tier"], policies, "first_response_minutes"),
        ),
        opened=opened,
        first_reply=timeline.first_reply,
        solved_at=np.where(resolved_now, stopped_at, NAT),
        now_us=now_us,
    )
    resolution, res_late = _resolution_clock(
        target=_per_tier(cases["tier"], policies, "resolution_business_days")
        * regions.working_minutes_per_day(),
        opened=opened,
        stopped_at=stopped_at,
        timeline=timeline,
        regions=regions,
        pending_now=status == "pending_customer",
        resolved_now=resolved_now,
    )
    clocks = pd.DataFrame(
        {
            "elapsed_minutes": (now_us - opened) / US_PER_MINUTE,
            "respond_now": severity_1 & (timeline.first_reply == NAT) & ~resolved_now,
            **first_response,
            **resolution,
        },
        index=pd.Index(case_ids, name="case_id"),
    )
    waiting_for_reply = (timeline.first_reply == NAT) & ~resolved_now
    clock = np.select(
        [waiting_for_reply & severity_1, waiting_for_reply],
        [RESPOND_NOW, FIRST_RESPONSE],
        RESOLUTION,
    )
    on_first_response = clock != RESOLUTION
    clocks["clock"] = clock
    clocks["state"] = case_states(
        clock=clock,
        status=status,
        res_state=clocks["res_state"].to_numpy(dtype=object),
        # A clock paused after its due time stays breached.
        late=np.where(on_first_response, clocks["fr_state"] == "breached", res_late),
        remaining_minutes=np.where(
            on_first_response, clocks["fr_remaining_minutes"], clocks["res_remaining_minutes"]
        ),
        target_minutes=np.where(
            on_first_response, clocks["fr_target_minutes"], clocks["res_target_minutes"]
        ),
    )
    clocks["at_risk"] = clocks["state"] == AT_RISK
    clocks["breached"] = clocks["state"] == BREACHED
    return clocks[list(CLOCK_COLUMNS)]


def case_states(
    *,
    clock: np.ndarray,
    status: np.ndarray,
    res_state: np.ndarray,
    late: np.ndarray,
    remaining_minutes: np.ndarray,
    target_minutes: np.ndarray,
) -> np.ndarray:
    """The state a case shows: the state of the clock it shows (`clock`), never another one's.

    `late` says whether that clock is past its due instant, `remaining_minutes` and
    `target_minutes` are that clock's (business minutes for resolution). Severity 1 ("respond
    now") has no response target: past its internal goal it is `respond_now_late`, not breached.
    Resolution reads: with L2/L3 (or excluded once back), met, breached (also when paused after
    its due time), paused, at risk with under a quarter of its target left, else on track.
    Edge case: a resolution due Friday 17:00 is breached on Saturday with 0 business minutes over.
    """
    clock = np.asarray(clock, dtype=object)
    late = np.asarray(late, dtype=bool)
    res_state = pd.Series(np.asarray(res_state, dtype=object))
    status = pd.Series(np.asarray(status, dtype=object))
    remaining = np.asarray(remaining_minutes, dtype=float)
    target = np.asarray(target_minutes, dtype=float)
    with np.errstate(invalid="ignore"):
        short = remaining < AT_RISK_FRACTION * target
    respond_now = clock == RESPOND_NOW
    first_response = clock == FIRST_RESPONSE
    resolution = clock == RESOLUTION
    excluded = resolution & (res_state == "excluded").to_numpy()
    return np.select(
        [
            respond_now & late,
            respond_now,
            first_response & late,
            first_response & short,
            first_response,
            excluded & (status == "transferred_l2").to_numpy(),
            excluded & (status == "transferred_l3").to_numpy(),
            excluded,
            (res_state == "met").to_numpy(),
            late,
            (res_state == "paused").to_numpy(),
            short,
        ],
        [
            RESPOND_NOW_LATE,
            RESPOND_NOW,
            BREACHED,
            AT_RISK,
            ON_TRACK,
            WITH_L2,
            WITH_L3,
            EXCLUDED,
            MET,
            BREACHED,
            PAUSED,
            AT_RISK,
        ],
        ON_TRACK,
    ).astype(object)


def _first_response_clock(
    *,
    target: np.ndarray,
    opened: np.ndarray,
    first_reply: np.ndarray,
    solved_at: np.ndarray,
    now_us: int,
) -> dict[str, object]:
    """Calendar minutes from opening to the first public reply, or to the solve if none came."""
    due = opened + np.round(target * US_PER_MINUTE).astype(np.int64)
    stopped = (first_reply != NAT) | (solved_at != NAT)
    stop = np.where(first_reply != NAT, first_reply, np.where(solved_at != NAT, solved_at, now_us))
    late = stop > due
    state = np.select([late, stopped], ["breached", "met"], "running")
    return {
        "fr_target_minutes": target,
        "fr_due": _as_utc(due),
        "fr_at": _as_utc(first_reply),
        "fr_state": state,
        "fr_remaining_minutes": np.where(state == "met", np.nan, (due - stop) / US_PER_MINUTE),
        "fr_consumed": _fraction(np.maximum(stop - opened, 0) / US_PER_MINUTE, target),
    }


def _resolution_clock(
    *,
    target: np.ndarray,
    opened: np.ndarray,
    stopped_at: np.ndarray,
    timeline: CaseTimeline,
    regions: RegionCalendars,
    pending_now: np.ndarray,
    resolved_now: np.ndarray,
) -> tuple[dict[str, object], np.ndarray]:
    """Business minutes from opening to `stopped_at`, less the paused intervals up to then.

    Returns the columns and whether each clock is past its due time (whatever its state says).
    """
    owner_stop = stopped_at[timeline.owner]
    starts = np.clip(timeline.starts, opened[timeline.owner], owner_stop)
    ends = np.clip(timeline.ends, starts, owner_stop)
    paused = is_any(timeline.statuses, PAUSED_STATUSES)
    owner = timeline.owner[paused]
    n, m = len(opened), len(owner)
    value = regions.business_minutes(
        np.concatenate([opened, stopped_at, starts[paused], ends[paused]]),
        owners=np.concatenate([np.arange(n), np.arange(n), owner, owner]),
    )
    paused_minutes = np.bincount(
        owner, weights=value[2 * n + m :] - value[2 * n : 2 * n + m], minlength=n
    )
    business = np.maximum(value[n : 2 * n] - value[:n] - paused_minutes, 0.0)
    due = regions.add_business_minutes(opened, target + paused_minutes)
    late = stopped_at > due
    state = np.select(
        [timeline.ever_transferred, pending_now, late, resolved_now],
        ["excluded", "paused", "breached", "met"],
        "running",
    )
    columns = {
        "res_target_minutes": target,
        "res_due": _as_utc(due),
        "res_business_minutes": business,
        "res_paused_minutes": paused_minutes,
        "res_state": state,
        "res_remaining_minutes": target - business,
        "res_consumed": _fraction(business, target),
    }
    return columns, late


def business_minutes_left(
    due_business: pd.Series, regions: pd.Series, calendars: Mapping[str, BusinessCalendar], now
) -> pd.Series:
    """Business minutes from `now` to each due instant, on each row's region calendar.

    `due_business` holds the due instants as cumulative business minutes
    (`BusinessCalendar.to_business_minutes`), so a tick costs one calendar look-up per region.
    """
    left = pd.Series(np.nan, index=due_business.index, dtype=float)
    for region in regions.dropna().unique():
        rows = (regions == region).to_numpy()
        now_value = calendars[region].to_business_minutes(pd.DatetimeIndex([pd.Timestamp(now)]))[0]
        left[rows] = due_business[rows].to_numpy(dtype=float) - now_value
    return left


def _per_tier(tiers: pd.Series, policies: Mapping[str, ClockPolicy], attribute: str) -> np.ndarray:
    codes, names = pd.factorize(tiers)
    missing = sorted({str(name) for name in names if name not in policies})
    if missing or np.any(codes < 0):
        raise ValueError(f"No tier policy for tiers: {missing or ['(blank)']}.")
    per_tier = [float(getattr(policies[name], attribute)) for name in names]
    return np.array(per_tier, dtype=float)[codes]


def _fraction(used: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.divide(used, target, out=np.full(len(used), np.nan), where=target > 0)


def _datetime_us(value: datetime) -> int:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"`now` must be time-zone aware, got {value!r}.")
    return int(pd.DatetimeIndex([stamp]).tz_convert("UTC").as_unit("us").asi8[0])


def _as_utc(values_us: np.ndarray) -> pd.arrays.DatetimeArray:
    return pd.DatetimeIndex(values_us.view("datetime64[us]")).tz_localize("UTC").array
