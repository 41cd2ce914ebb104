"""Business-time arithmetic: worked examples first, then properties over random instants."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import sla
from domain.sla import DEFAULT_WEEKLY_HOURS, BusinessCalendar, calendar_from_region

NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
LONDON = ZoneInfo("Europe/London")

OFFICE_HOURS = DEFAULT_WEEKLY_HOURS  # Monday-Friday 09:00-17:00
LUNCH_BREAK = {day: [(time(9), time(12)), (time(13), time(17))] for day in range(5)}
ALWAYS_OPEN = {day: [(time(0), time(0))] for day in range(7)}


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


@pytest.fixture(scope="module")
def office() -> BusinessCalendar:
    return BusinessCalendar("America/New_York", OFFICE_HOURS)


# --- worked examples ----------------------------------------------------------------------------


def test_friday_afternoon_plus_four_hours_is_monday_noon(office: BusinessCalendar) -> None:
    assert office.add_business_minutes(ny(2026, 1, 9, 16), 240) == ny(2026, 1, 12, 12)


def test_landing_on_closing_time_returns_closing_time(office: BusinessCalendar) -> None:
    assert office.add_business_minutes(ny(2026, 1, 9, 9), 480) == ny(2026, 1, 9, 17)
    assert office.add_business_minutes(ny(2026, 1, 9, 9), 480.0001) > ny(2026, 1, 12, 9)


def test_results_are_utc(office: BusinessCalendar) -> None:
    assert office.add_business_minutes(ny(2026, 1, 9, 16), 240).tzinfo == UTC


def test_public_holiday_is_skipped() -> None:
    calendar = calendar_from_region("America/New_York", "US")
    assert date(2026, 1, 19) in calendar.holidays  # Martin Luther King Jr. Day
    assert calendar.add_business_minutes(ny(2026, 1, 16, 16), 240) == ny(2026, 1, 20, 12)
    assert calendar.business_minutes_between(ny(2026, 1, 16, 9), ny(2026, 1, 21, 9)) == 960


def test_tokyo_golden_week() -> None:
    hours = {day: [(time(9), time(18))] for day in range(5)}
    calendar = calendar_from_region("Asia/Tokyo", "JP", weekly_hours=hours)
    friday = datetime(2026, 5, 1, 17, tzinfo=TOKYO)
    # Monday 4 to Wednesday 6 May are holidays (the 6th substitutes for Sunday the 3rd).
    assert {date(2026, 5, 4), date(2026, 5, 5), date(2026, 5, 6)} <= calendar.holidays
    assert calendar.add_business_minutes(friday, 120) == datetime(2026, 5, 7, 10, tzinfo=TOKYO)
    assert calendar.add_business_minutes(friday.astimezone(UTC), 120) == datetime(
        2026, 5, 7, 1, tzinfo=UTC
    )


def test_new_york_spring_forward(office: BusinessCalendar) -> None:
    # Friday 6 March is EST (UTC-5); Monday 9 March is EDT (UTC-4): local hours stay 09-17.
    result = office.add_business_minutes(ny(2026, 3, 6, 16), 120)
    assert result == ny(2026, 3, 9, 10) == datetime(2026, 3, 9, 14, tzinfo=UTC)
    assert office.business_minutes_between(ny(2026, 3, 6, 9), ny(2026, 3, 9, 17)) == 960


def test_new_york_fall_back(office: BusinessCalendar) -> None:
    result = office.add_business_minutes(ny(2026, 10, 30, 16), 120)
    assert result == ny(2026, 11, 2, 10) == datetime(2026, 11, 2, 15, tzinfo=UTC)


def test_period_across_the_skipped_or_repeated_hour_counts_real_time() -> None:
    night_shift = BusinessCalendar("America/New_York", {6: [(time(1), time(4))]})
    spring = night_shift.business_minutes_between(ny(2026, 3, 8, 0), ny(2026, 3, 8, 5))
    autumn = night_shift.business_minutes_between(ny(2026, 11, 1, 0), ny(2026, 11, 1, 5))
    ordinary = night_shift.business_minutes_between(ny(2026, 3, 15, 0), ny(2026, 3, 15, 5))
    assert (spring, ordinary, autumn) == (120, 180, 240)


def test_around_the_clock_calendar_counts_a_23_hour_day() -> None:
    calendar = BusinessCalendar("America/New_York", ALWAYS_OPEN)
    assert calendar.working_minutes_per_day == 1440
    assert calendar.business_minutes_between(ny(2026, 3, 7), ny(2026, 3, 9)) == 47 * 60
    start = datetime(2026, 3, 7, 12, tzinfo=UTC)
    assert calendar.add_business_minutes(start, 1440) == start + timedelta(days=1)


def test_lunch_break() -> None:
    calendar = BusinessCalendar("Europe/London", LUNCH_BREAK)
    monday = datetime(2026, 1, 12, tzinfo=LONDON)
    assert calendar.add_business_minutes(monday.replace(hour=11, minute=30), 60) == monday.replace(
        hour=13, minute=30
    )
    assert calendar.add_business_minutes(monday.replace(hour=11), 60) == monday.replace(hour=12)
    assert (
        calendar.business_minutes_between(monday.replace(hour=11), monday.replace(hour=14)) == 120
    )
    assert calendar.working_minutes_per_day == 420


def test_start_outside_hours_counts_from_next_opening(office: BusinessCalendar) -> None:
    saturday = ny(2026, 1, 10, 10)
    assert office.add_business_minutes(saturday, 30) == ny(2026, 1, 12, 9, 30)
    assert office.business_minutes_between(saturday, ny(2026, 1, 12, 9, 30)) == 30


def test_adding_zero_minutes(office: BusinessCalendar) -> None:
    inside = ny(2026, 1, 12, 10, 15)
    assert office.add_business_minutes(inside, 0) == inside
    assert office.add_business_minutes(ny(2026, 1, 12, 7), 0) == ny(2026, 1, 12, 9)
    assert office.add_business_minutes(ny(2026, 1, 9, 17), 0) == ny(2026, 1, 12, 9)


def test_minutes_between_backwards_is_zero(office: BusinessCalendar) -> None:
    assert office.business_minutes_between(ny(2026, 1, 12, 12), ny(2026, 1, 12, 10)) == 0


def test_sub_minute_precision(office: BusinessCalendar) -> None:
    result = office.add_business_minutes(ny(2026, 1, 12, 16, 59, 30), 1.5)
    assert result == ny(2026, 1, 13, 9, 1)
    between = office.business_minutes_between(ny(2026, 1, 12, 9), ny(2026, 1, 12, 9, 0, 45, 500))
    assert between == pytest.approx(0.75 + 500e-6 / 60, abs=1e-12)


def test_typical_day_is_the_mean_of_working_days() -> None:
    short_friday = {day: [(time(9), time(17))] for day in range(4)} | {4: [(time(9), time(15))]}
    calendar = BusinessCalendar("UTC", short_friday)
    assert calendar.working_minutes_per_day == (4 * 480 + 360) / 5


def test_far_years_extend_the_table(office: BusinessCalendar) -> None:
    assert office.add_business_minutes(ny(1971, 3, 5, 16), 120) == ny(1971, 3, 8, 10)
    assert office.add_business_minutes(ny(2099, 12, 31, 16), 120) == ny(2100, 1, 1, 10)
    always = BusinessCalendar("UTC", ALWAYS_OPEN)
    start, end = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    assert always.business_minutes_between(start, end) == (end - start) / timedelta(minutes=1)


def test_region_calendar_closures_and_worked_holidays() -> None:
    closure, christmas = date(2026, 12, 24), date(2026, 12, 25)
    calendar = calendar_from_region(
        "Europe/London", "GB", extra_closures=[closure], worked_holidays=[christmas]
    )
    assert closure in calendar.holidays
    assert christmas not in calendar.holidays
    assert date(2026, 12, 28) in calendar.holidays  # Boxing Day (substitute)


def test_next_opening_and_working_periods(office: BusinessCalendar) -> None:
    assert office.next_opening(ny(2026, 1, 10, 12)) == ny(2026, 1, 12, 9)
    assert office.next_opening(ny(2026, 1, 12, 12)) == ny(2026, 1, 12, 12)
    assert office.working_periods(ny(2026, 1, 9, 12), ny(2026, 1, 12, 10)) == [
        (ny(2026, 1, 9, 12), ny(2026, 1, 9, 17)),
        (ny(2026, 1, 12, 9), ny(2026, 1, 12, 10)),
    ]


def test_calendar_pickles_and_compares_by_value(office: BusinessCalendar) -> None:
    copy = pickle.loads(pickle.dumps(office))
    assert copy == office and hash(copy) == hash(office)
    assert copy.add_business_minutes(ny(2026, 1, 9, 16), 240) == ny(2026, 1, 12, 12)
    assert copy != BusinessCalendar("America/Chicago", OFFICE_HOURS)


def test_copies_and_equal_calendars_share_one_period_table(monkeypatch) -> None:
    """A cached read gives each page run a fresh copy: the copy reuses the table built for an
    equal calendar instead of building it again; a different calendar builds its own."""
    builds: list[str] = []
    build = BusinessCalendar._build_table

    def counted(self, first_year, last_year):
        builds.append(self._timezone)
        return build(self, first_year, last_year)

    monkeypatch.setattr(BusinessCalendar, "_build_table", counted)
    monkeypatch.setattr(sla, "_SHARED_TABLES", {})  # nothing shared from earlier tests
    holidays = [date(2031, 12, 25)]
    first = BusinessCalendar("Europe/Lisbon", LUNCH_BREAK, holidays)
    moment = datetime(2031, 3, 3, 10, tzinfo=UTC)
    due = first.add_business_minutes(moment, 600)
    assert builds == ["Europe/Lisbon"]

    copy = pickle.loads(pickle.dumps(first))
    again = BusinessCalendar("Europe/Lisbon", LUNCH_BREAK, holidays)
    assert copy.add_business_minutes(moment, 600) == again.add_business_minutes(moment, 600) == due
    assert builds == ["Europe/Lisbon"]

    other = BusinessCalendar("Europe/Lisbon", LUNCH_BREAK, [date(2031, 12, 26)])
    assert other.add_business_minutes(moment, 600) == due
    assert builds == ["Europe/Lisbon", "Europe/Lisbon"]


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("weekly_hours", [{}, {0: []}, {day: () for day in range(7)}])
def test_calendar_without_working_time_is_refused(weekly_hours: dict) -> None:
    with pytest.raises(ValueError, match="at least one working period"):
        BusinessCalendar("UTC", weekly_hours)


@pytest.mark.parametrize(
    ("weekly_hours", "message"),
    [
        ({0: [(time(17), time(9))]}, "open before it closes"),
        ({0: [(time(9), time(9))]}, "open before it closes"),
        ({1: [(time(9), time(13)), (time(12), time(17))]}, "Tuesday: working periods overlap"),
        ({7: [(time(9), time(17))]}, "0 \\(Monday\\) to 6 \\(Sunday\\)"),
        ({0: [("09:00", "17:00")]}, "two datetime.time values"),
        ({0: [(time(9, tzinfo=UTC), time(17))]}, "without tzinfo"),
    ],
)
def test_invalid_periods_are_refused(weekly_hours: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar("UTC", weekly_hours)


def test_unknown_zone_and_country_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        BusinessCalendar("Mars/Olympus_Mons", OFFICE_HOURS)
    with pytest.raises(ValueError, match="country"):
        calendar_from_region("UTC", "XX")


def test_naive_datetimes_are_refused(office: BusinessCalendar) -> None:
    naive = datetime(2026, 1, 12, 10)
    with pytest.raises(ValueError, match="Naive"):
        office.add_business_minutes(naive, 10)
    with pytest.raises(ValueError, match="Naive"):
        office.business_minutes_between(naive, ny(2026, 1, 12, 12))
    with pytest.raises(ValueError, match="Naive"):
        office.to_business_minutes(pd.Series(pd.to_datetime(["2026-01-12 10:00"])))


@pytest.mark.parametrize("minutes", [-1, float("nan"), float("inf")])
def test_negative_or_non_finite_minutes_are_refused(
    office: BusinessCalendar, minutes: float
) -> None:
    with pytest.raises(ValueError, match="minutes"):
        office.add_business_minutes(ny(2026, 1, 12, 10), minutes)


# --- vectorised API -----------------------------------------------------------------------------


def test_vectorised_functions_accept_pandas_in_any_zone_and_missing_values(
    office: BusinessCalendar,
) -> None:
    instants = pd.Series(pd.to_datetime(["2026-01-09 16:00", None]).tz_localize("America/New_York"))
    values = office.to_business_minutes(instants)
    assert np.isnan(values[1])
    due = office.add_business_minutes_array(instants, 240)
    assert due[0] == pd.Timestamp("2026-01-12 12:00", tz="America/New_York")
    assert pd.isna(due[1])
    back = office.from_business_minutes([values[0] + 240, np.nan])
    assert back[0] == due[0] and pd.isna(back[1])


def test_vectorised_add_refuses_negative_minutes(office: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        office.add_business_minutes_array(pd.Series([pd.Timestamp.now(tz="UTC")]), -5)


# --- properties -----------------------------------------------------------------------------------

CALENDARS = {
    "new_york_office": calendar_from_region("America/New_York", "US"),
    "london_lunch_break": calendar_from_region("Europe/London", "GB", weekly_hours=LUNCH_BREAK),
    "around_the_clock": BusinessCalendar("Australia/Sydney", ALWAYS_OPEN),
    "new_york_night_shift": BusinessCalendar(
        "America/New_York",
        {5: [(time(22), time(0))], 6: [(time(0), time(2, 30)), (time(3), time(6))]},
    ),
    "tokyo": calendar_from_region(
        "Asia/Tokyo", "JP", weekly_hours={day: [(time(8, 45), time(17, 30))] for day in range(6)}
    ),
}

calendars = st.sampled_from(sorted(CALENDARS)).map(CALENDARS.__getitem__)
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
minutes = st.floats(min_value=0, max_value=30_000, allow_nan=False, allow_infinity=False)


def _is_working_or_closing(calendar: BusinessCalendar, instant: datetime) -> bool:
    window = calendar.working_periods(instant - timedelta(days=1), instant + timedelta(days=1))
    return any(opens <= instant <= closes for opens, closes in window)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, minutes)
def test_adding_then_measuring_gives_back_the_minutes(
    calendar: BusinessCalendar, start: datetime, amount: float
) -> None:
    result = calendar.add_business_minutes(start, amount)
    assert calendar.business_minutes_between(start, result) == pytest.approx(amount, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, minutes)
def test_results_land_inside_working_hours_or_on_a_closing(
    calendar: BusinessCalendar, start: datetime, amount: float
) -> None:
    result = calendar.add_business_minutes(start, amount)
    assert result >= start
    assert _is_working_or_closing(calendar, result)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, instants, minutes, minutes)
def test_adding_is_monotonic_in_start_and_minutes(
    calendar: BusinessCalendar, first: datetime, second: datetime, small: float, large: float
) -> None:
    first, second = sorted([first, second])
    small, large = sorted([small, large])
    assert calendar.add_business_minutes(first, small) <= calendar.add_business_minutes(
        second, small
    )
    assert calendar.add_business_minutes(first, small) <= calendar.add_business_minutes(
        first, large
    )


@settings(max_examples=100, deadline=None)
@given(calendars, st.lists(st.tuples(instants, minutes), min_size=1, max_size=20))
def test_vectorised_functions_agree_with_scalar_ones(
    calendar: BusinessCalendar, pairs: list[tuple[datetime, float]]
) -> None:
    starts = pd.Series([start for start, _ in pairs], dtype="datetime64[us, UTC]")
    amounts = np.array([amount for _, amount in pairs])
    expected_due = [calendar.add_business_minutes(start, amount) for start, amount in pairs]
    assert list(calendar.add_business_minutes_array(starts, amounts)) == expected_due

    values = calendar.to_business_minutes(starts)
    ends = [start for start, _ in reversed(pairs)]
    for (start, _), end, value, end_value in zip(pairs, ends, values, values[::-1], strict=True):
        expected = calendar.business_minutes_between(start, end)
        assert max(end_value - value, 0) == pytest.approx(expected, abs=1e-6)

    # The earliest instant with a start's value never comes after the start, and has that value.
    earliest = calendar.from_business_minutes(values)
    assert (earliest <= starts.array).all()
    assert calendar.to_business_minutes(earliest) == pytest.approx(values, abs=1e-6)


def _reference_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """Local wall time to UTC the slow way: first occurrence if repeated, end of gap if skipped."""
    candidates = []
    for fold in (0, 1):
        instant = local.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == local:
            candidates.append(instant)
    if candidates:
        return min(candidates)
    low = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= local:
            high = middle
        else:
            low = middle
    return high


def _reference_minutes_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Business minutes day by day, from the calendar's description alone."""
    zone = ZoneInfo(calendar.timezone)
    total = timedelta()
    day = start.astimezone(zone).date() - timedelta(days=1)
    while day <= end.astimezone(zone).date() + timedelta(days=1):
        if day not in calendar.holidays:
            for opens, closes in calendar.weekly_hours.get(day.weekday(), ()):
                closing_day = day + timedelta(days=1) if closes == time(0) else day
                period_start = _reference_instant(datetime.combine(day, opens), zone)
                period_end = _reference_instant(datetime.combine(closing_day, closes), zone)
                overlap = min(period_end, end) - max(period_start, start)
                total += max(overlap, timedelta())
        day += timedelta(days=1)
    return total / timedelta(minutes=1)


@settings(max_examples=150, deadline=None)
@given(calendars, instants, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20)))
def test_minutes_between_agrees_with_a_day_by_day_reference(
    calendar: BusinessCalendar, start: datetime, span: timedelta
) -> None:
    end = start + span
    expected = _reference_minutes_between(calendar, start, end)
    assert calendar.business_minutes_between(start, end) == pytest.approx(expected, abs=1e-6)
