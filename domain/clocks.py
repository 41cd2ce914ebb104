"""Case clocks: first response (calendar minutes) and resolution (business minutes), for many cases.

`compute_clocks` replays each case's status events into intervals and measures them with the
region's `BusinessCalendar`, vectorised per region: no Python loop over cases.

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

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import pandas as pd

from domain.lifecycle import RESOLVED_STATUSES, STATUSES, TRANSFER_STATUSES
from domain.sla import US_PER_MINUTE, BusinessCalendar

PAUSED_STATUSES = frozenset({"pending_customer", *RESOLVED_STATUSES})
TRANSFERRED_STATUSES = frozenset(TRANSFER_STATUSES)
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

_NAT = np.iinfo(np.int64).min
_NEVER = np.iinfo(np.int64).max


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
    opened = _column_us(cases["opened_at"], "opened_at")
    if np.any(opened == _NAT):
        raise ValueError("Every case needs an opened_at time.")
    status = cases["status"].to_numpy(dtype=object)
    resolved_now = _is_any(status, RESOLVED_STATUSES)
    severity_1 = cases["severity"].eq(1).fillna(False).to_numpy(dtype=bool)
    regions = _RegionCalendars(cases["region"], calendars)
    timeline = _Timeline.build(case_ids, opened, status, events, now_us)
    stopped_at = timeline.resolution_stop(resolved_now, opened, now_us)

    first_response = _first_response_clock(
        target=np.where(
            severity_1,
            _per_tier(cases["tier"], policies, "sev1_goal_minutes"),
            _per_tier(cases["tier"], policies, "first_response_minutes"),
        ),
        opened=opened,
        first_reply=timeline.first_reply,
        solved_at=np.where(resolved_now, stopped_at, _NAT),
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
            "respond_now": severity_1 & (timeline.first_reply == _NAT) & ~resolved_now,
            **first_response,
            **resolution,
        },
        index=pd.Index(case_ids, name="case_id"),
    )
    waiting_for_reply = (timeline.first_reply == _NAT) & ~resolved_now
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
    stopped = (first_reply != _NAT) | (solved_at != _NAT)
    stop = np.where(
        first_reply != _NAT, first_reply, np.where(solved_at != _NAT, solved_at, now_us)
    )
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
    timeline: _Timeline,
    regions: _RegionCalendars,
    pending_now: np.ndarray,
    resolved_now: np.ndarray,
) -> tuple[dict[str, object], np.ndarray]:
    """Business minutes from opening to `stopped_at`, less the paused intervals up to then.

    Returns the columns and whether each clock is past its due time (whatever its state says).
    """
    owner_stop = stopped_at[timeline.owner]
    starts = np.clip(timeline.starts, opened[timeline.owner], owner_stop)
    ends = np.clip(timeline.ends, starts, owner_stop)
    paused = _is_any(timeline.statuses, PAUSED_STATUSES)
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


def duration_text(minutes: float) -> str:
    """A span as "35m", "3h 10m", or from one day up "1d 3h", in whole minutes rounded down.

    Edge case: a positive span under a minute reads "<1m", so a live clock never shows "0m" early.
    """
    if pd.isna(minutes):
        return "—"
    minutes = abs(minutes)
    whole = int(minutes)
    if whole == 0:
        return "<1m" if minutes > 0 else "0m"
    days, rest = divmod(whole, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins}m" if mins else f"{hours}h"
    return f"{mins}m"


def countdown_text(remaining_minutes: float) -> str:
    """Remaining time as "2h 14m left", "due now" at exactly zero, or "overdue by 35m".

    No clock (NaN) reads "—".
    """
    if pd.isna(remaining_minutes):
        return "—"
    if remaining_minutes > 0:
        return f"{duration_text(remaining_minutes)} left"
    if remaining_minutes == 0:
        return "due now"
    return f"overdue by {duration_text(remaining_minutes)}"


def business_duration_text(minutes: float, minutes_per_day: float) -> str:
    """A span of business time: "3h 10m", or from one business day up "2 bd 4h".

    A business day is the region calendar's working day (8 hours by default), never 24 hours,
    so "1 bd" is what is left at 09:00 of a case due at 17:00.
    """
    if pd.isna(minutes):
        return "—"
    minutes = abs(minutes)
    if pd.isna(minutes_per_day) or minutes_per_day <= 0 or minutes < minutes_per_day:
        return duration_text(minutes)
    days, rest = divmod(int(minutes), int(minutes_per_day))
    hours = rest // 60
    return f"{days} bd {hours}h" if hours else f"{days} bd"


def business_countdown_text(remaining_minutes: float, minutes_per_day: float, late: bool) -> str:
    """Business time left ("1 bd 3h left"), "due now", or "overdue by 2h" once past due.

    Edge case: past a due time that fell at closing, no business minute has passed yet; the
    clock still reads "overdue" (it is breached), without a misleading "by 0m".
    """
    if pd.isna(remaining_minutes):
        return "—"
    if late:
        if remaining_minutes <= -1:
            return f"overdue by {business_duration_text(remaining_minutes, minutes_per_day)}"
        return "overdue"
    if remaining_minutes > 0:
        return f"{business_duration_text(remaining_minutes, minutes_per_day)} left"
    return "due now"


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


# --- building blocks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Timeline:
    """Every case's history as status intervals, plus per-case facts read from the events.

    Interval i belongs to case position `owner[i]`, starts at `starts[i]` and lasts until the next
    interval of the same case (`ends[i]`, or now for the last one). Each case has an initial
    interval starting at `opened_at`, then one per status event, in time order.
    """

    owner: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    statuses: np.ndarray
    first_reply: np.ndarray
    ever_transferred: np.ndarray

    @classmethod
    def build(
        cls,
        case_ids: np.ndarray,
        opened: np.ndarray,
        status: np.ndarray,
        events: pd.DataFrame,
        now_us: int,
    ) -> _Timeline:
        n = len(case_ids)
        position = pd.Index(case_ids).get_indexer(events["case_id"])
        at = _column_us(events["at"], "at")
        kind = events["kind"].to_numpy(dtype=object)
        known = position >= 0
        if np.any(known & (at == _NAT)):
            raise ValueError("Every event needs an `at` time.")

        replies = known & (kind == "public_reply")
        first_reply = np.full(n, _NEVER, dtype=np.int64)
        np.minimum.at(first_reply, position[replies], at[replies])
        first_reply[first_reply == _NEVER] = _NAT

        is_status = known & (kind == "status")
        order = np.lexsort((at[is_status], position[is_status]))
        event_owner = position[is_status][order]
        event_at = at[is_status][order]
        from_status = events["from_status"].to_numpy(dtype=object)[is_status][order]
        to_status = events["to_status"].to_numpy(dtype=object)[is_status][order]
        first_of_case, last_of_case = _group_edges(event_owner)

        initial_status = status.copy()
        first_from = from_status[first_of_case]
        initial_status[event_owner[first_of_case]] = np.where(
            pd.isna(first_from), "new", first_from
        )
        event_status = np.where(last_of_case, status[event_owner], to_status)

        owner = np.concatenate([np.arange(n), event_owner])
        order = np.argsort(owner, kind="stable")
        owner = owner[order]
        starts = np.concatenate([opened, event_at])[order]
        statuses = np.concatenate([initial_status, event_status])[order]
        ends = np.full(len(owner), now_us, dtype=np.int64)
        ends[:-1] = starts[1:]
        ends[_group_edges(owner)[1]] = now_us

        transferred = _is_any(statuses, TRANSFERRED_STATUSES)
        transferred_events = _is_any(to_status, TRANSFERRED_STATUSES)
        ever_transferred = (
            np.bincount(owner[transferred], minlength=n)
            + np.bincount(event_owner[transferred_events], minlength=n)
        ) > 0
        return cls(owner, starts, ends, statuses, first_reply, ever_transferred)

    def resolution_stop(
        self, resolved_now: np.ndarray, opened: np.ndarray, now_us: int
    ) -> np.ndarray:
        """When each resolution clock stops: now, or for a solved/closed case the moment it entered
        its final solved/closed spell (solved then closed stops at the solve; a reopen restarts)."""
        resolved = _is_any(self.statuses, RESOLVED_STATUSES)
        resolved_before = np.zeros(len(resolved), dtype=bool)
        resolved_before[1:] = resolved[:-1]
        spell_start = resolved & (_group_edges(self.owner)[0] | ~resolved_before)
        last_spell = np.full(len(opened), _NAT, dtype=np.int64)
        np.maximum.at(
            last_spell,
            self.owner[spell_start],
            np.maximum(self.starts, opened[self.owner])[spell_start],
        )
        return np.maximum(np.where(resolved_now, last_spell, now_us), opened)


class _RegionCalendars:
    """Each case's calendar as a small integer code, so work is done once per region."""

    def __init__(self, regions: pd.Series, calendars: Mapping[str, BusinessCalendar]) -> None:
        codes, names = pd.factorize(regions)
        missing = sorted({str(name) for name in names if name not in calendars})
        if missing or np.any(codes < 0):
            raise ValueError(f"No business calendar for regions: {missing or ['(blank)']}.")
        self.codes = codes
        self.calendars = [calendars[name] for name in names]

    def working_minutes_per_day(self) -> np.ndarray:
        per_region = [calendar.working_minutes_per_day for calendar in self.calendars]
        return np.array(per_region, dtype=float)[self.codes]

    def business_minutes(self, instants_us: np.ndarray, owners: np.ndarray) -> np.ndarray:
        """Cumulative business minutes of each instant on the calendar of case `owners[i]`."""
        codes = self.codes[owners]
        values = np.full(len(instants_us), np.nan)
        for code, calendar in enumerate(self.calendars):
            chosen = codes == code
            values[chosen] = calendar.to_business_minutes(
                instants_us[chosen].view("datetime64[us]")
            )
        return values

    def add_business_minutes(self, starts_us: np.ndarray, minutes: np.ndarray) -> np.ndarray:
        result = np.full(len(starts_us), _NAT, dtype=np.int64)
        for code, calendar in enumerate(self.calendars):
            chosen = self.codes == code
            due = calendar.add_business_minutes_array(
                starts_us[chosen].view("datetime64[us]"), minutes[chosen]
            )
            result[chosen] = due.as_unit("us").asi8
        return result


def _per_tier(tiers: pd.Series, policies: Mapping[str, ClockPolicy], attribute: str) -> np.ndarray:
    codes, names = pd.factorize(tiers)
    missing = sorted({str(name) for name in names if name not in policies})
    if missing or np.any(codes < 0):
        raise ValueError(f"No tier policy for tiers: {missing or ['(blank)']}.")
    per_tier = [float(getattr(policies[name], attribute)) for name in names]
    return np.array(per_tier, dtype=float)[codes]


def _group_edges(owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the first and the last row of each case in an array sorted by case."""
    first = np.ones(len(owner), dtype=bool)
    last = np.ones(len(owner), dtype=bool)
    first[1:] = last[:-1] = owner[1:] != owner[:-1]
    return first, last


def _is_any(values: np.ndarray, group: Collection[str]) -> np.ndarray:
    """Element-wise membership for object arrays that may hold None (np.isin would sort them)."""
    return pd.Series(values, dtype=object).isin(group).to_numpy()


def _fraction(used: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.divide(used, target, out=np.full(len(used), np.nan), where=target > 0)


def _column_us(column: pd.Series, name: str) -> np.ndarray:
    if isinstance(column.dtype, np.dtype) and column.dtype.kind == "M":
        raise ValueError(f"`{name}` must hold time-zone-aware datetimes.")
    return pd.DatetimeIndex(pd.to_datetime(column, utc=True)).as_unit("us").asi8


def _datetime_us(value: datetime) -> int:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"`now` must be time-zone aware, got {value!r}.")
    return int(pd.DatetimeIndex([stamp]).tz_convert("UTC").as_unit("us").asi8[0])


def _as_utc(values_us: np.ndarray) -> pd.arrays.DatetimeArray:
    return pd.DatetimeIndex(values_us.view("datetime64[us]")).tz_localize("UTC").array
