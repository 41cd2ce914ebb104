"""Spans of time as people read them: "3h 10m", "2 bd 4h", "2h 14m left", "overdue by 35m".

Calendar spans count 24-hour days; business spans count the region calendar's working day, so
"1 bd" is a working day, never 24 hours. Used by the case clocks and wherever a span is shown.
"""

from __future__ import annotations

import pandas as pd


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
