"""The arrays `domain.clocks.compute_clocks` measures, built once for all cases.

Each case's status history becomes intervals (`CaseTimeline`), and each case's region calendar a
small integer code (`RegionCalendars`), so the clocks of 100,000 cases are measured with array
operations and one calendar call per region: no Python loop over cases. Instants are int64
microseconds since the epoch in UTC; `NAT` marks a missing one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from domain.lifecycle import RESOLVED_STATUSES, TRANSFER_STATUSES
from domain.sla import BusinessCalendar

TRANSFERRED_STATUSES = frozenset(TRANSFER_STATUSES)
NAT = np.iinfo(np.int64).min
_NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class CaseTimeline:
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
    ) -> CaseTimeline:
        n = len(case_ids)
        position = pd.Index(case_ids).get_indexer(events["case_id"])
        at = column_us(events["at"], "at")
        kind = events["kind"].to_numpy(dtype=object)
        known = position >= 0
        if np.any(known & (at == NAT)):
            raise ValueError("Every event needs an `at` time.")

        replies = known & (kind == "public_reply")
        first_reply = np.full(n, _NEVER, dtype=np.int64)
        np.minimum.at(first_reply, position[replies], at[replies])
        first_reply[first_reply == _NEVER] = NAT

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

        transferred = is_any(statuses, TRANSFERRED_STATUSES)
        transferred_events = is_any(to_status, TRANSFERRED_STATUSES)
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
        resolved = is_any(self.statuses, RESOLVED_STATUSES)
        resolved_before = np.zeros(len(resolved), dtype=bool)
        resolved_before[1:] = resolved[:-1]
        spell_start = resolved & (_group_edges(self.owner)[0] | ~resolved_before)
        last_spell = np.full(len(opened), NAT, dtype=np.int64)
        np.maximum.at(
            last_spell,
            self.owner[spell_start],
            np.maximum(self.starts, opened[self.owner])[spell_start],
        )
        return np.maximum(np.where(resolved_now, last_spell, now_us), opened)


class RegionCalendars:
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
        result = np.full(len(starts_us), NAT, dtype=np.int64)
        for code, calendar in enumerate(self.calendars):
            chosen = self.codes == code
            due = calendar.add_business_minutes_array(
                starts_us[chosen].view("datetime64[us]"), minutes[chosen]
            )
            result[chosen] = due.as_unit("us").asi8
        return result


def _group_edges(owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the first and the last row of each case in an array sorted by case."""
    first = np.ones(len(owner), dtype=bool)
    last = np.ones(len(owner), dtype=bool)
    first[1:] = last[:-1] = owner[1:] != owner[:-1]
    return first, last


def is_any(values: np.ndarray, group: Collection[str]) -> np.ndarray:
    """Element-wise membership for object arrays that may hold None (np.isin would sort them)."""
    return pd.Series(values, dtype=object).isin(group).to_numpy()


def column_us(column: pd.Series, name: str) -> np.ndarray:
    """A column of aware datetimes as UTC microseconds; naive datetimes are refused."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind == "M":
        raise ValueError(f"`{name}` must hold time-zone-aware datetimes.")
    return pd.DatetimeIndex(pd.to_datetime(column, utc=True)).as_unit("us").asi8
