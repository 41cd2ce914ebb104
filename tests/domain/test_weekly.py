from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.weekly import (
    DATA_POINTS,
    GRANULARITIES,
    MAX,
    MEAN,
    SUM,
    change_percent,
    change_percents,
    change_text,
    comparison_days,
    days_over,
    last_complete_week,
    recent_weeks,
    reconciliation_note,
    so_far_text,
    today_in,
    trend_window,
    week_end,
    week_label,
    week_option_label,
    week_start,
)


@pytest.mark.parametrize(
    ("day", "monday"),
    [
        (date(2026, 11, 16), date(2026, 11, 16)),  # Monday is its own week's start
        (date(2026, 11, 21), date(2026, 11, 16)),
        (date(2026, 11, 22), date(2026, 11, 16)),  # Sunday closes the week, not the next one
        (date(2026, 11, 23), date(2026, 11, 23)),
        (date(2027, 1, 3), date(2026, 12, 28)),  # across New Year
        (date(2024, 3, 3), date(2024, 2, 26)),  # across a leap day
    ],
)
def test_week_start_is_the_monday(day, monday):
    assert week_start(day) == monday


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
def test_every_day_lies_in_the_seven_days_of_its_week(day):
    start = week_start(day)
    assert start.weekday() == 0
    assert start <= day <= week_end(start) == start + timedelta(days=6)


@pytest.mark.parametrize(
    ("start", "label", "option"),
    [
        (date(2026, 11, 16), "2026-W47 (16–22 Nov)", "Week 47 · 16–22 Nov 2026"),
        (date(2026, 11, 30), "2026-W49 (30 Nov–6 Dec)", "Week 49 · 30 Nov–6 Dec 2026"),
        (
            date(2026, 12, 28),
            "2026-W53 (28 Dec 2026–3 Jan 2027)",
            "Week 53 · 28 Dec 2026–3 Jan 2027",
        ),
        (
            date(2025, 12, 29),
            "2026-W01 (29 Dec 2025–4 Jan 2026)",
            "Week 1 · 29 Dec 2025–4 Jan 2026",
        ),
        (date(2026, 11, 19), "2026-W47 (16–22 Nov)", "Week 47 · 16–22 Nov 2026"),  # mid-week
    ],
)
def test_week_labels(start, label, option):
    assert week_label(start) == label
    assert week_option_label(start) == option


@pytest.mark.parametrize(
    ("today", "last"),
    [
        (date(2026, 11, 28), date(2026, 11, 16)),  # Saturday
        (date(2026, 11, 29), date(2026, 11, 16)),  # Sunday: the current week is still running
        (date(2026, 11, 30), date(2026, 11, 23)),  # Monday: last week has just completed
    ],
)
def test_last_complete_week(today, last):
    assert last_complete_week(today) == last


def test_today_in_the_region_differs_from_utc_near_midnight():
    moment = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # Sunday night in UTC
    assert today_in("Australia/Sydney", moment) == date(2026, 11, 23)
    assert today_in("America/New_York", moment) == date(2026, 11, 22)
    assert last_complete_week(today_in("Australia/Sydney", moment)) == date(2026, 11, 16)
    assert last_complete_week(today_in("America/New_York", moment)) == date(2026, 11, 9)
    with pytest.raises(ValueError, match="aware"):
        today_in("UTC", datetime(2026, 11, 22))


def test_recent_weeks_and_trend_window():
    assert recent_weeks(date(2026, 11, 18), 3) == [
        date(2026, 11, 16),
        date(2026, 11, 9),
        date(2026, 11, 2),
    ]
    assert trend_window(date(2026, 11, 16), 12) == (date(2026, 8, 31), date(2026, 11, 23))
    assert trend_window(date(2026, 11, 20), 1) == (date(2026, 11, 16), date(2026, 11, 23))
    with pytest.raises(ValueError):
        trend_window(date(2026, 11, 16), 0)


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        (15, 12, 25.0),
        (6, 8, -25.0),
        (5, 5, 0.0),
        (0, 4, -100.0),
        (3, 0, None),  # from zero: no percentage
        (0, 0, None),
        (None, 4, None),
        (4, None, None),
        (float("nan"), 4, None),
        (4, float("nan"), None),
    ],
)
def test_change_percent(current, previous, expected):
    result = change_percent(current, previous)
    assert result == (None if expected is None else pytest.approx(expected))


def test_change_percents_pairs_values():
    assert change_percents([2, 3], [1, 0]) == [100.0, None]
    with pytest.raises(ValueError):
        change_percents([1, 2], [1])


@pytest.mark.parametrize(
    ("percent", "text"),
    [
        (12.34, "▲ 12.3 %"),
        (-4.0, "▼ 4.0 %"),
        (0.0, "0.0 %"),
        (0.04, "0.0 %"),
        (None, ""),
        (float("nan"), ""),
    ],
)
def test_change_text(percent, text):
    assert change_text(percent) == text


def test_each_data_point_uses_the_aggregate_that_fits_it():
    durations = {"open_time_s", "import_s", "export_s", "processing_s"}
    assert {c for c, p in DATA_POINTS.items() if p.aggregate == MEAN} == durations
    assert {c for c, p in DATA_POINTS.items() if p.aggregate == SUM} == {
        "times_accessed",
        "changes",
    }
    assert {c for c, p in DATA_POINTS.items() if p.aggregate == MAX} == {"users"}
    assert all(DATA_POINTS[c].higher_is_worse for c in durations)
    assert list(GRANULARITIES) == ["workspace", "model", "container", "user"]
    for granularity in GRANULARITIES.values():
        assert set(granularity.data_points) <= set(DATA_POINTS)


def test_a_week_in_progress_is_compared_over_the_same_weekdays():
    monday = date(2026, 11, 30)
    wednesday = date(2026, 12, 2)
    assert days_over(monday, wednesday) == 2  # Monday and Tuesday are over
    assert comparison_days(monday, wednesday) == (
        (monday, wednesday),
        (date(2026, 11, 23), date(2026, 11, 25)),
    )
    assert so_far_text(monday, wednesday) == "so far: Mon–Tue"
    assert days_over(monday, date(2026, 12, 7)) == 7 and so_far_text(monday, None) == ""
    assert comparison_days(monday, None)[1] == (date(2026, 11, 23), monday)


def test_a_breakdown_that_does_not_add_up_says_why():
    assert reconciliation_note("model", "Times accessed", 10, 30) is None
    assert reconciliation_note("container", "Times accessed", 30, 30) is None
    container = reconciliation_note("container", "Times accessed", 7709, 14512)
    assert container.startswith("Times accessed: these dashboards account for 7,709 of the")
    assert "landed on no dashboard" in container
    users = reconciliation_note("user", "Times accessed", None, 1460)
    assert "account for 0 of the enrolled models' 1,460" in users
    assert "end-user list" in users
    assert "count more than the models report" in reconciliation_note("user", "Changes", 9, 4)
