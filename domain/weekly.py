"""Weekly report arithmetic: Monday-to-Sunday weeks, their labels, week-over-week change and
which aggregate each data point uses.

Daily figures are keyed by the region's calendar day, so a week is simply the seven calendar
days from a Monday; no time-zone conversion happens here. Pure rules only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

WEEK = timedelta(days=7)
SUM, MEAN, MAX = "sum", "mean", "max"


@dataclass(frozen=True)
class DataPoint:
    """One weekly figure: the daily column it comes from and how a week of days is combined."""

    column: str
    label: str
    aggregate: str  # SUM, MEAN or MAX of the daily values
    unit: str  # "s" for durations, "" for counts
    higher_is_worse: bool
    help: str


DATA_POINTS: dict[str, DataPoint] = {
    point.column: point
    for point in (
        DataPoint(
            "open_time_s",
            "Open time",
            MEAN,
            "s",
            True,
            "Model (or dashboard) open time: the average of the week's daily values, in seconds.",
        ),
        DataPoint(
            "import_s", "Import", MEAN, "s", True, "Import duration: average of daily values (s)."
        ),
        DataPoint(
            "export_s", "Export", MEAN, "s", True, "Export duration: average of daily values (s)."
        ),
        DataPoint(
            "processing_s",
            "Processing",
            MEAN,
            "s",
            True,
            "Processing time: average of daily values (s).",
        ),
        DataPoint(
            "times_accessed",
            "Times accessed",
            SUM,
            "",
            False,
            "Times opened during the week (total of the daily counts).",
        ),
        DataPoint(
            "users",
            "Users",
            MAX,
            "",
            False,
            "The highest daily user count of the week: the daily figures do not say whether "
            "Monday's and Tuesday's users are the same people, so weekly distinct users cannot "
            "be derived.",
        ),
        DataPoint(
            "changes", "Changes", SUM, "", False, "Changes made during the week (daily total)."
        ),
    )
}


@dataclass(frozen=True)
class Granularity:
    key: str
    label: str
    entity_label: str
    context_label: str | None  # what the `context` column holds beside each entity
    data_points: tuple[str, ...]


_MODEL_POINTS = tuple(DATA_POINTS)
GRANULARITIES: dict[str, Granularity] = {
    g.key: g
    for g in (
        Granularity("workspace", "Workspace", "Workspace", None, _MODEL_POINTS),
        Granularity("model", "Model", "Model", "Workspace", _MODEL_POINTS),
        Granularity(
            "container",
            "Container",
            "Dashboard",
            "Model",
            ("times_accessed", "users", "changes", "open_time_s"),
        ),
        Granularity("user", "User", "User", "E-mail", ("times_accessed", "changes")),
    )
}


def week_start(day: date) -> date:
    """The Monday of the week holding `day` (a Sunday belongs to the week that began six days
    before, not the next one)."""
    return day - timedelta(days=day.weekday())


def week_end(start: date) -> date:
    """The Sunday that closes the week beginning on `start`."""
    return week_start(start) + timedelta(days=6)


def _span_text(start: date, with_year: bool) -> str:
    """'16–22 Nov', '30 Nov–6 Dec', '28 Dec 2026–3 Jan 2027' (the year only when asked or when
    the week straddles New Year)."""
    start = week_start(start)
    end = week_end(start)
    if start.year != end.year:
        return f"{start.day} {start:%b} {start.year}–{end.day} {end:%b} {end.year}"
    year = f" {end.year}" if with_year else ""
    if start.month != end.month:
        return f"{start.day} {start:%b}–{end.day} {end:%b}{year}"
    return f"{start.day}–{end.day} {end:%b}{year}"


def week_label(start: date) -> str:
    """'2026-W47 (16–22 Nov)': the ISO week (whose year can differ from the calendar year near
    New Year: Monday 29 Dec 2025 starts 2026-W01)."""
    iso_year, iso_week, _ = week_start(start).isocalendar()
    return f"{iso_year}-W{iso_week:02d} ({_span_text(start, with_year=False)})"


def week_option_label(start: date) -> str:
    """'Week 47 · 16–22 Nov 2026', for pickers."""
    _, iso_week, _ = week_start(start).isocalendar()
    return f"Week {iso_week} · {_span_text(start, with_year=True)}"


def last_complete_week(today: date) -> date:
    """The Monday of the latest week whose Sunday is before `today` (on a Sunday the current
    week is still running, so the previous one is the last complete week)."""
    return week_start(today) - WEEK


def today_in(timezone: str, now: datetime) -> date:
    """The calendar day it is in `timezone` at the aware instant `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be time-zone aware.")
    return now.astimezone(ZoneInfo(timezone)).date()


def recent_weeks(last: date, count: int) -> list[date]:
    """`count` week starts ending with the week of `last`, newest first."""
    newest = week_start(last)
    return [newest - i * WEEK for i in range(count)]


def trend_window(end_week: date, weeks: int) -> tuple[date, date]:
    """First day and the day after the last of `weeks` whole weeks ending with `end_week`."""
    if weeks < 1:
        raise ValueError("A trend needs at least one week.")
    last = week_start(end_week)
    return last - (weeks - 1) * WEEK, last + WEEK


def days_over(start: date, today: date | None) -> int:
    """How many of the week's days are over on `today`: 7 for a past week, fewer for the week in
    progress (today itself is not over: its figures arrive with tomorrow's load).

    Without `today` every week counts as complete.
    """
    if today is None:
        return 7
    return max(0, min(7, (today - week_start(start)).days))


def comparison_days(start: date, today: date | None) -> tuple[tuple[date, date], tuple[date, date]]:
    """The [first, end) days of the week and of the stretch of the week before it is compared
    with: the same weekdays, so Monday to Wednesday of a week in progress meets Monday to
    Wednesday of the previous week, never a whole week."""
    first = week_start(start)
    days = timedelta(days=days_over(first, today))
    return (first, first + days), (first - WEEK, first - WEEK + days)


def so_far_text(start: date, today: date | None) -> str:
    """'' for a complete week; 'so far: Mon–Wed' for one still running."""
    days = days_over(start, today)
    if days >= 7:
        return ""
    if days == 0:
        return "not started"
    first = week_start(start)
    last = first + timedelta(days=days - 1)
    return f"so far: {first:%a}" if days == 1 else f"so far: {first:%a}–{last:%a}"


def reconciliation_note(
    granularity: str, label: str, rows_total: float | None, models_total: float | None
) -> str | None:
    """Why the rows of a Container or User view do not add up to the models' own total.

    Workspace and Model rows are the model figures themselves. Dashboard and user activity come
    from their own daily feeds: an open that lands on no dashboard, or that someone outside the
    customer's end-user list made (an integration, an administrator), is in the model's figure
    only. None when the totals agree or there is nothing to compare.
    """
    if granularity in ("workspace", "model") or _missing(models_total):
        return None
    rows = 0.0 if _missing(rows_total) else float(rows_total)
    models = float(models_total)
    if rows == models:
        return None
    if granularity == "container":
        source = "dashboards"
        reason = (
            "opens of the model that landed on no dashboard, and dashboards without activity "
            "figures, count only in the model figures"
        )
    else:
        source = "named end users"
        reason = (
            "activity by people who are not on the customer's end-user list (integrations, "
            "administrators) counts only in the model figures"
        )
    if rows > models:
        reason = f"the {source}' own daily figures count more than the models report"
    return (
        f"{label}: these {source} account for {rows:,.0f} of the enrolled models' "
        f"{models:,.0f}; {reason}."
    )


def change_percent(current: float | None, previous: float | None) -> float | None:
    """Week-over-week change in percent; None when either week has no value or the previous
    week was zero (a rise from nothing has no meaningful percentage)."""
    if _missing(current) or _missing(previous) or previous == 0:
        return None
    return (float(current) - float(previous)) / abs(float(previous)) * 100.0


def change_percents(current: Iterable, previous: Iterable) -> list[float | None]:
    return [change_percent(c, p) for c, p in zip(current, previous, strict=True)]


def change_text(percent: float | None) -> str:
    """'▲ 12.3 %', '▼ 4.0 %', '0.0 %'; empty when there is no change to show.

    No change has no sign at all: a leading '=' would read as a formula in a spreadsheet.
    """
    if _missing(percent):
        return ""
    rounded = round(float(percent), 1)
    if rounded > 0:
        return f"▲ {rounded:.1f} %"
    if rounded < 0:
        return f"▼ {abs(rounded):.1f} %"
    return "0.0 %"


def _missing(value: object) -> bool:
    """None, NaN and pandas' NA all mean 'no value'."""
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True
