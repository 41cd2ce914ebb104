"""How the open-case queue reads: clock and state labels, live countdowns, local due times.

Pure display rules over a queue frame (`data_access.queue.queue_frame`), no database. The queue
is read and its clocks computed once per page run; between runs the countdowns only move with
time, so `live_countdowns` recomputes what is left from the due instants already in the frame
(business minutes for resolution). `week_start` is the viewer's week the SLA summary counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from domain import clocks as rules
from domain.clocks import (
    FIRST_RESPONSE,
    RESOLUTION,
    RESPOND_NOW,
    business_minutes_left,
    case_states,
)
from domain.durations import business_countdown_text, countdown_text, duration_text
from domain.sla import BusinessCalendar

CLOCK_LABELS = {
    RESPOND_NOW: "Respond now",
    FIRST_RESPONSE: "First response",
    RESOLUTION: "Resolution guideline",
}
STATE_LABELS = {
    rules.RESPOND_NOW_LATE: "🔴 Respond now (goal missed)",
    rules.RESPOND_NOW: "🚨 Respond now",
    rules.BREACHED: "🔴 Breached",
    rules.AT_RISK: "🟠 At risk",
    rules.PAUSED: "⏸️ Paused",
    rules.WITH_L2: "🔵 With L2",
    rules.WITH_L3: "🔵 With L3",
    rules.EXCLUDED: "🔵 Back from L2/L3",
    rules.ON_TRACK: "🟢 On track",
    rules.MET: "✅ Met",
}
BREACHED = STATE_LABELS[rules.BREACHED]
AT_RISK = STATE_LABELS[rules.AT_RISK]
PAUSED = STATE_LABELS[rules.PAUSED]
ON_TRACK = STATE_LABELS[rules.ON_TRACK]
RESPOND_NOW_LATE = STATE_LABELS[rules.RESPOND_NOW_LATE]
RESPOND_NOW_IN_GOAL = STATE_LABELS[rules.RESPOND_NOW]
DATE_TIME_FORMAT = "%d %b %Y %H:%M"  # the one date format of the queue: 28 Nov 2026 14:05


def live_countdowns(
    queue: pd.DataFrame, now: datetime, calendars: Mapping[str, BusinessCalendar]
) -> pd.DataFrame:
    """The moving parts of queue rows at `now`: remaining_minutes, countdown and state.

    Cheap (one calendar look-up per region, no database): first response counts calendar
    minutes to its due instant (support is 24/7); resolution counts business minutes left on
    the region's calendar, so the evening and a short pause do not make it jump. The state is
    `domain.clocks.case_states` at `now`: a running clock whose due instant has since passed
    turns breached, one nearing it turns at risk. A severity 1 case waiting for its reply shows
    the time since opening instead, "goal missed" once past the internal goal, never breached.
    """
    now_stamp = pd.Timestamp(now)
    on_resolution = (queue["clock"] == RESOLUTION).to_numpy(dtype=bool)
    paused = (queue["res_state"] == "paused").to_numpy(dtype=bool)
    excluded = (queue["res_state"] == "excluded").to_numpy(dtype=bool)
    wall_left = (queue["due"] - now_stamp).dt.total_seconds() / 60
    business_left = business_minutes_left(
        queue["due_business"], queue["region"], calendars, now_stamp
    )
    # A paused clock does not move: its business minutes left are the ones read.
    business_left = business_left.where(~paused, queue["res_remaining_minutes"])
    remaining = business_left.where(on_resolution, wall_left)
    late = np.where(
        on_resolution & paused, queue["res_remaining_minutes"] < 0, (wall_left < 0).to_numpy()
    )
    target = queue["res_target_minutes"].where(on_resolution, queue["fr_target_minutes"])
    state = case_states(
        clock=queue["clock"].to_numpy(dtype=object),
        status=queue["status"].to_numpy(dtype=object),
        res_state=queue["res_state"].to_numpy(dtype=object),
        late=late,
        remaining_minutes=remaining.to_numpy(dtype=float),
        target_minutes=target.to_numpy(dtype=float),
    )
    elapsed = (now_stamp - queue["opened_at"]).dt.total_seconds() / 60
    # Plain lists: iterating pandas' Arrow-backed strings row by row costs several times more.
    countdown = [
        _countdown(kind, left, waited, res_state, per_day, is_late)
        for kind, left, waited, res_state, per_day, is_late in zip(
            queue["clock"].tolist(),
            remaining.tolist(),
            elapsed.tolist(),
            queue["res_state"].tolist(),
            queue["minutes_per_day"].tolist(),
            late.tolist(),
            strict=True,
        )
    ]
    return pd.DataFrame(
        {
            "remaining_minutes": remaining.where(~(on_resolution & (paused | excluded)), np.nan),
            "countdown": countdown,
            "state": pd.Series(state, index=queue.index).map(STATE_LABELS),
        },
        index=queue.index,
    )


def _countdown(
    kind: str,
    remaining: float,
    elapsed: float,
    resolution_state: str,
    minutes_per_day: float,
    late: bool,
) -> str:
    if kind == RESPOND_NOW:
        return f"Respond now · open {duration_text(elapsed)}"
    if kind == FIRST_RESPONSE:
        return countdown_text(remaining)
    if resolution_state == "paused":
        if late:
            return f"Paused · {business_countdown_text(remaining, minutes_per_day, late)}"
        return "Paused: pending customer"
    if resolution_state == "excluded":
        return "Excluded: with L2/L3"
    return business_countdown_text(remaining, minutes_per_day, late)


def clock_states(queue: pd.DataFrame) -> pd.DataFrame:
    """Boolean columns at_risk, breached and paused (the row's state), for the state filter."""
    return pd.DataFrame(
        {
            "at_risk": queue["state"].eq(rules.AT_RISK),
            "breached": queue["state"].eq(rules.BREACHED),
            "paused": queue["state"].eq(rules.PAUSED),
        },
        index=queue.index,
    )


def local_due_text(due: pd.Series, timezones: pd.Series) -> pd.Series:
    """Each due instant as '28 Nov 2026 14:05' in its own region's zone, converted once per zone."""
    text = pd.Series("", index=due.index, dtype=object)
    for zone in timezones.dropna().unique():
        rows = ((timezones == zone) & due.notna()).to_numpy()
        if not rows.any():
            continue
        text[rows] = due[rows].dt.tz_convert(ZoneInfo(zone)).dt.strftime(DATE_TIME_FORMAT)
    return text


def week_start(now: datetime, timezone: str) -> datetime:
    """Monday 00:00 of `now`'s week in the viewer's `timezone`, as an aware instant.

    Edge case: at Sunday 23:30 in New York it is already Monday in UTC; the viewer's own week
    is the one they read the summary in, so it is still the week that began last Monday.
    """
    local = pd.Timestamp(now).tz_convert(ZoneInfo(timezone))
    monday = (local - timedelta(days=local.weekday())).normalize()
    return monday.tz_convert("UTC").to_pydatetime()
