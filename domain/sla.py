"""Business time: a region's working hours and holidays, and arithmetic in business minutes.

A `BusinessCalendar` turns local wall-clock working hours into a sorted table of UTC working
periods with the business time accumulated at each opening. "Add 240 business minutes" and "how many
business minutes between" then become binary searches on that table, vectorised with numpy, so the
clocks of 100 000 cases cost a few searches rather than a loop.

Conventions used throughout:

- Instants are time-zone aware; results come back in UTC. Arithmetic is exact to the microsecond.
- A working period is half-open, [opens, closes): 17:00 is not inside 09:00-17:00, but adding
  business minutes may *land* on 17:00 (Friday 09:00 + 480 minutes is Friday 17:00, not Monday).
- Daylight-saving changes: each period's local start and end are converted to instants, so a
  09:00-17:00 day is 8 hours on a change day, while a period that spans the skipped (or repeated)
  hour is an hour shorter (or longer) in real time. A local time inside the skipped hour moves
  forward to the end of the gap; a repeated local time means its first occurrence.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from holidays import country_holidays

WeeklyHours = Mapping[int, Sequence[tuple[time, time]]]

US_PER_MINUTE = 60_000_000
_US_PER_DAY = 86_400_000_000
_DAY_END = _US_PER_DAY  # a period closing at time(0) closes at the end of the day
_NAT = np.iinfo(np.int64).min

FIRST_YEAR = 1900
LAST_YEAR = 2200
DEFAULT_HOLIDAY_YEARS = range(1970, 2101)
DEFAULT_WEEKLY_HOURS: dict[int, tuple[tuple[time, time], ...]] = {
    weekday: ((time(9), time(17)),) for weekday in range(5)
}

# Business minute 0 of every calendar; close to today so float minutes keep microsecond precision.
_ANCHOR = datetime(2020, 1, 1, tzinfo=UTC)
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_BUILD_YEARS = (2015, 2035)
_GROWTH_YEARS = 10
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class _PeriodTable:
    """Working periods for local years first_year..last_year, as int64 microseconds.

    `opens`/`closes` are UTC instants since the Unix epoch; `cum_open`/`cum_close` are the business
    microseconds accumulated since the anchor at each period's opening and closing.
    """

    first_year: int
    last_year: int
    opens: np.ndarray
    closes: np.ndarray
    cum_open: np.ndarray
    cum_close: np.ndarray


_SHARED_TABLES: dict[tuple[Any, ...], _PeriodTable] = {}
"""The widest period table this process built for each calendar definition (`_key`). A cached read
hands every page run a fresh copy of the calendars, whose own table starts empty; the copy takes
the shared one instead of building it again (0.7 ms a calendar). Tables are never changed once
built, so threads share them as they are."""
_SHARED_TABLES_LIMIT = 64  # definitions (regions times their edits), at most ~0.2 MB each


class BusinessCalendar:
    """A region's working week in its time zone, minus whole-day closures (public holidays).

    `weekly_hours` maps 0 = Monday … 6 = Sunday to local (opens, closes) periods, for example
    `{0: [(time(9), time(12)), (time(13), time(17))]}` for a lunch break. A period ending at
    `time(0)` ends at midnight at the end of that day, so `(time(0), time(0))` is the whole day
    (24/7 support is that on every weekday). Periods crossing midnight are written as two periods
    on consecutive days. A calendar with no working time at all is refused.

    The UTC period table is built lazily and grows on demand to cover any year 1900-2200.
    """

    def __init__(
        self,
        timezone: str,
        weekly_hours: WeeklyHours,
        holidays: Iterable[date] = (),
    ) -> None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
            raise ValueError(f"Unknown time zone {timezone!r}.") from error
        self._timezone = timezone
        self._day_spans = _validated_day_spans(weekly_hours)
        self._holiday_days = _validated_holidays(holidays)
        self._periods: _PeriodTable | None = None
        self._lock = threading.Lock()

    # --- description -----------------------------------------------------------------------------

    @property
    def timezone(self) -> str:
        return self._timezone

    @property
    def weekly_hours(self) -> dict[int, tuple[tuple[time, time], ...]]:
        """The working periods per weekday, as given (sorted); days without hours are left out."""
        return {
            weekday: tuple((_offset_to_time(start), _offset_to_time(end)) for start, end in spans)
            for weekday, spans in enumerate(self._day_spans)
            if spans
        }

    @property
    def holidays(self) -> frozenset[date]:
        return frozenset(day.item() for day in self._holiday_days)

    @property
    def working_minutes_per_day(self) -> float:
        """Minutes of a typical working day: the mean over weekdays that have hours at all.

        "N business days" is N times this. With Mon-Thu 8h and Fri 6h it is 7.6h, so a resolution
        guideline does not depend on which weekday the case happened to open.
        """
        day_lengths = [sum(end - start for start, end in spans) for spans in self._day_spans]
        working = [length for length in day_lengths if length > 0]
        return sum(working) / len(working) / US_PER_MINUTE

    def __repr__(self) -> str:
        working_days = sum(1 for spans in self._day_spans if spans)
        return (
            f"<BusinessCalendar {self._timezone}: {working_days} working days a week, "
            f"{self.working_minutes_per_day:g} min a day, {len(self._holiday_days)} holidays>"
        )

    def _key(self) -> tuple[Any, ...]:
        return (self._timezone, self._day_spans, self._holiday_days.tobytes())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __getstate__(self) -> dict[str, Any]:
        return {
            "timezone": self._timezone,
            "day_spans": self._day_spans,
            "holiday_days": self._holiday_days,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._timezone = state["timezone"]
        self._day_spans = state["day_spans"]
        self._holiday_days = state["holiday_days"]
        self._periods = _SHARED_TABLES.get(self._key())
        self._lock = threading.Lock()

    # --- scalar API ------------------------------------------------------------------------------

    def add_business_minutes(self, start: datetime, minutes: float) -> datetime:
        """The instant `minutes` business minutes after `start`, counting from the next opening.

        Edge cases: landing exactly on a closing time returns that closing time; adding 0 minutes
        returns `start` when it is inside working hours and the next opening when it is not.
        Negative minutes raise ValueError.
        """
        start_us = np.array([_datetime_to_us(start)])
        result = self._add(start_us, np.array([_minutes_to_us(minutes)]))
        return _us_to_datetime(int(result[0]))

    def business_minutes_between(self, start: datetime, end: datetime) -> float:
        """Working minutes in [start, end); 0.0 when `end` is not after `start`."""
        instants = np.array([_datetime_to_us(start), _datetime_to_us(end)])
        start_value, end_value = self._value_at(instants)
        return max(0, int(end_value - start_value)) / US_PER_MINUTE

    def next_opening(self, at: datetime) -> datetime:
        """`at` itself when it is inside working hours, otherwise the next opening."""
        result = self._next_working(np.array([_datetime_to_us(at)]))
        return _us_to_datetime(int(result[0]))

    def working_periods(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The UTC working periods overlapping [start, end], clipped to it.

        Back-to-back periods are joined, so a 24/7 calendar gives the single period (start, end).
        """
        start_us, end_us = _datetime_to_us(start), _datetime_to_us(end)
        table = self._table_covering(np.array([start_us, end_us]))
        first = np.searchsorted(table.closes, start_us, side="left")
        last = np.searchsorted(table.opens, end_us, side="right")
        return [
            (_us_to_datetime(max(int(opens), start_us)), _us_to_datetime(min(int(closes), end_us)))
            for opens, closes in zip(table.opens[first:last], table.closes[first:last], strict=True)
        ]

    # --- vectorised API --------------------------------------------------------------------------

    def to_business_minutes(self, instants: Any) -> np.ndarray:
        """Cumulative business minutes since a fixed epoch at each instant (NaT gives NaN).

        Monotone non-decreasing and flat outside working hours, so the difference of two values is
        the business minutes between them. Accepts tz-aware pandas data in any zone, numpy
        datetime64 (read as UTC) or a sequence of aware datetimes.
        """
        instants_us = _instants_to_us(instants)
        valid = instants_us != _NAT
        values = np.full(instants_us.shape, np.nan)
        values[valid] = self._value_at(instants_us[valid]) / US_PER_MINUTE
        return values

    def from_business_minutes(self, values: Any) -> pd.DatetimeIndex:
        """The earliest UTC instant whose cumulative business minutes equal each value (NaN: NaT).

        "Earliest" is what makes a value reached at a closing time return the closing time rather
        than the next opening. Results are rounded to the microsecond.
        """
        minutes = np.atleast_1d(np.asarray(values, dtype=float))
        valid = np.isfinite(minutes)
        result = np.full(minutes.shape, _NAT, dtype=np.int64)
        result[valid] = self._instant_at(np.round(minutes[valid] * US_PER_MINUTE).astype(np.int64))
        return _us_to_index(result)

    def add_business_minutes_array(self, starts: Any, minutes: Any) -> pd.DatetimeIndex:
        """`add_business_minutes` element-wise (`minutes` may be a scalar); NaT or NaN give NaT."""
        starts_us = _instants_to_us(starts)
        minutes_array = np.broadcast_to(np.asarray(minutes, dtype=float), starts_us.shape)
        if np.any(minutes_array < 0):
            raise ValueError("Business minutes to add must not be negative.")
        valid = (starts_us != _NAT) & np.isfinite(minutes_array)
        result = np.full(starts_us.shape, _NAT, dtype=np.int64)
        minutes_us = np.round(minutes_array[valid] * US_PER_MINUTE).astype(np.int64)
        result[valid] = self._add(starts_us[valid], minutes_us)
        return _us_to_index(result)

    # --- machinery on int64 microseconds ---------------------------------------------------------

    def _add(self, starts_us: np.ndarray, minutes_us: np.ndarray) -> np.ndarray:
        # The max() handles 0 minutes outside hours: the earliest instant with the start's value is
        # the previous closing, but counting starts at the next opening.
        landed = self._instant_at(self._value_at(starts_us) + minutes_us)
        return np.maximum(landed, self._next_working(starts_us))

    def _value_at(self, instants_us: np.ndarray) -> np.ndarray:
        table = self._table_covering(instants_us)
        index = np.maximum(np.searchsorted(table.opens, instants_us, side="right") - 1, 0)
        worked = np.clip(
            instants_us - table.opens[index], 0, table.closes[index] - table.opens[index]
        )
        return table.cum_open[index] + worked

    def _instant_at(self, values_us: np.ndarray) -> np.ndarray:
        table = self._table_for_values(values_us)
        index = np.minimum(
            np.searchsorted(table.cum_close, values_us, side="left"), len(table.opens) - 1
        )
        return table.opens[index] + np.maximum(values_us - table.cum_open[index], 0)

    def _next_working(self, instants_us: np.ndarray) -> np.ndarray:
        table = self._table_covering(instants_us)
        while True:
            index = np.searchsorted(table.closes, instants_us, side="right")
            if instants_us.size == 0 or index.max() < len(table.opens):
                return np.maximum(table.opens[index], instants_us)
            if table.last_year == LAST_YEAR:
                raise ValueError(f"No working time left before the end of {LAST_YEAR}.")
            table = self._table_for_years(
                table.first_year, min(LAST_YEAR, table.last_year + _GROWTH_YEARS)
            )

    def _table_covering(self, instants_us: np.ndarray) -> _PeriodTable:
        if instants_us.size == 0:
            return self._table_for_years(*_FIRST_BUILD_YEARS)
        first, last = _utc_year(int(instants_us.min())), _utc_year(int(instants_us.max()))
        if first < FIRST_YEAR or last > LAST_YEAR:
            raise ValueError(f"Dates must fall between {FIRST_YEAR} and {LAST_YEAR}.")
        # One year of margin each side: a local date can be a UTC year away near New Year.
        return self._table_for_years(max(first - 1, FIRST_YEAR), min(last + 1, LAST_YEAR))

    def _table_for_values(self, values_us: np.ndarray) -> _PeriodTable:
        table = self._table_for_years(*_FIRST_BUILD_YEARS)
        if values_us.size == 0:
            return table
        lowest, highest = values_us.min(), values_us.max()
        while True:
            grow_back = lowest <= table.cum_open[0] and table.first_year > FIRST_YEAR
            grow_forward = highest > table.cum_close[-1] and table.last_year < LAST_YEAR
            if not (grow_back or grow_forward):
                break
            table = self._table_for_years(
                max(FIRST_YEAR, table.first_year - _GROWTH_YEARS * grow_back),
                min(LAST_YEAR, table.last_year + _GROWTH_YEARS * grow_forward),
            )
        if highest > table.cum_close[-1]:
            raise ValueError(f"Business time runs past the supported years (to {LAST_YEAR}).")
        return table

    def _table_for_years(self, first_year: int, last_year: int) -> _PeriodTable:
        table = self._periods
        if table is not None and table.first_year <= first_year and last_year <= table.last_year:
            return table
        with self._lock:
            table = self._periods
            first_year = min(first_year, _FIRST_BUILD_YEARS[0])
            last_year = max(last_year, _FIRST_BUILD_YEARS[1])
            if table is not None:
                if table.first_year <= first_year and last_year <= table.last_year:
                    return table
                first_year = max(FIRST_YEAR, min(first_year, table.first_year - _GROWTH_YEARS))
                last_year = min(LAST_YEAR, max(last_year, table.last_year + _GROWTH_YEARS))
            shared = _SHARED_TABLES.get(self._key())
            if (
                shared is not None
                and shared.first_year <= first_year <= last_year <= shared.last_year
            ):
                self._periods = shared
                return shared
            table = self._build_table(first_year, last_year)
            self._periods = table
            if len(_SHARED_TABLES) >= _SHARED_TABLES_LIMIT:
                _SHARED_TABLES.clear()
            _SHARED_TABLES[self._key()] = table
            return table

    def _build_table(self, first_year: int, last_year: int) -> _PeriodTable:
        days = np.arange(
            np.datetime64(f"{first_year:04d}-01-01"),
            np.datetime64(f"{last_year + 1:04d}-01-01"),
            dtype="datetime64[D]",
        )
        days = days[~np.isin(days, self._holiday_days)]
        weekdays = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        local_starts, local_ends = [], []
        for weekday, spans in enumerate(self._day_spans):
            midnights = days[weekdays == weekday].astype("datetime64[us]").astype(np.int64)
            for start, end in spans:
                local_starts.append(midnights + start)
                local_ends.append(midnights + end)
        local_starts_us = np.concatenate(local_starts)
        order = np.argsort(local_starts_us, kind="stable")
        opens = _local_to_utc_us(local_starts_us[order], self._timezone)
        closes = _local_to_utc_us(np.concatenate(local_ends)[order], self._timezone)
        # Periods swallowed by a skipped hour vanish; back-to-back periods (24/7) become one.
        keep = closes > opens
        opens, closes = opens[keep], closes[keep]
        if opens.size == 0:
            raise ValueError(f"No working time at all between {first_year} and {last_year}.")
        starts_run = np.r_[True, opens[1:] != closes[:-1]]
        opens = opens[starts_run]
        closes = closes[np.r_[starts_run[1:], True]]
        cum_close = np.cumsum(closes - opens)
        cum_open = cum_close - (closes - opens)
        anchor_us = _datetime_to_us(_ANCHOR)
        anchor_index = max(int(np.searchsorted(opens, anchor_us, side="right")) - 1, 0)
        anchor_value = cum_open[anchor_index] + np.clip(
            anchor_us - opens[anchor_index], 0, closes[anchor_index] - opens[anchor_index]
        )
        return _PeriodTable(
            first_year=first_year,
            last_year=last_year,
            opens=opens,
            closes=closes,
            cum_open=cum_open - anchor_value,
            cum_close=cum_close - anchor_value,
        )


def calendar_from_region(
    timezone: str,
    country: str,
    weekly_hours: WeeklyHours | None = None,
    years: Iterable[int] = DEFAULT_HOLIDAY_YEARS,
    extra_closures: Iterable[date] = (),
    subdivision: str | None = None,
    worked_holidays: Iterable[date] = (),
) -> BusinessCalendar:
    """A calendar closed on `country`'s public holidays (the `holidays` package) in `years`.

    Weekly hours default to Monday-Friday 09:00-17:00. `extra_closures` adds closed days and
    `worked_holidays` reopens public holidays the region works on anyway. Outside `years` only the
    weekly hours and explicit closures apply, so keep `years` wide (the default is 1970-2100).
    """
    try:
        public = country_holidays(country, subdiv=subdivision, years=list(years))
    except NotImplementedError as error:
        raise ValueError(f"The holidays package has no country {country!r}.") from error
    closed = (set(public) | set(extra_closures)) - set(worked_holidays)
    return BusinessCalendar(
        timezone, DEFAULT_WEEKLY_HOURS if weekly_hours is None else weekly_hours, closed
    )


# --- validation ---------------------------------------------------------------------------------


def _validated_day_spans(weekly_hours: WeeklyHours) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Per weekday, sorted (start, end) offsets from local midnight in microseconds."""
    if not isinstance(weekly_hours, Mapping):
        raise ValueError("Weekly hours must map weekday numbers (0 = Monday) to periods.")
    spans: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for weekday, periods in weekly_hours.items():
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise ValueError(f"Weekday keys are 0 (Monday) to 6 (Sunday), not {weekday!r}.")
        name = _WEEKDAY_NAMES[weekday]
        for period in periods:
            try:
                opens, closes = period
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"{name}: a period is an (opens, closes) pair of times."
                ) from error
            if not (isinstance(opens, time) and isinstance(closes, time)):
                raise ValueError(f"{name}: period {period!r} must be two datetime.time values.")
            if opens.tzinfo is not None or closes.tzinfo is not None:
                raise ValueError(
                    f"{name}: period times are local wall-clock times, without tzinfo."
                )
            start = _time_to_offset(opens)
            end = _DAY_END if closes == time(0) else _time_to_offset(closes)
            if start >= end:
                raise ValueError(f"{name}: period {opens}-{closes} must open before it closes.")
            spans[weekday].append((start, end))
    for weekday, day_spans in enumerate(spans):
        day_spans.sort()
        for (_, previous_end), (next_start, _) in zip(day_spans, day_spans[1:], strict=False):
            if next_start < previous_end:
                raise ValueError(f"{_WEEKDAY_NAMES[weekday]}: working periods overlap.")
    if not any(spans):
        raise ValueError("A business calendar needs at least one working period in the week.")
    return tuple(tuple(day_spans) for day_spans in spans)


def _validated_holidays(holidays: Iterable[date]) -> np.ndarray:
    days = []
    for day in holidays:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"Holidays are datetime.date values, not {day!r}.")
        days.append(day)
    return np.unique(np.array(days, dtype="datetime64[D]"))


def _time_to_offset(value: time) -> int:
    seconds = value.hour * 3600 + value.minute * 60 + value.second
    return seconds * 1_000_000 + value.microsecond


def _offset_to_time(offset_us: int) -> time:
    if offset_us == _DAY_END:
        return time(0)
    return (datetime.min + timedelta(microseconds=offset_us)).time()


# --- conversions ----------------------------------------------------------------------------------


def _datetime_to_us(value: datetime) -> int:
    if not isinstance(value, datetime):
        raise TypeError(f"Expected a datetime, got {value!r}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"Naive datetime {value!r}: give a time-zone-aware datetime.")
    return (value - _UNIX_EPOCH) // timedelta(microseconds=1)


def _us_to_datetime(value_us: int) -> datetime:
    return _UNIX_EPOCH + timedelta(microseconds=value_us)


def _us_to_index(values_us: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(values_us.view("datetime64[us]")).tz_localize("UTC")


def _minutes_to_us(minutes: float) -> int:
    if not np.isfinite(minutes):
        raise ValueError(f"Business minutes must be a finite number, not {minutes!r}.")
    if minutes < 0:
        raise ValueError(f"Business minutes to add must not be negative (got {minutes}).")
    return round(minutes * US_PER_MINUTE)


def _instants_to_us(instants: Any) -> np.ndarray:
    """UTC microseconds since the Unix epoch as int64, NaT kept as the int64 minimum."""
    if isinstance(instants, pd.Series | pd.Index) or isinstance(
        getattr(instants, "dtype", None), pd.DatetimeTZDtype
    ):
        index = pd.DatetimeIndex(instants)
        if index.tz is None:
            raise ValueError("Naive pandas datetimes: localize them (to UTC) first.")
        return index.tz_convert("UTC").as_unit("us").asi8
    array = np.atleast_1d(np.asarray(instants))
    if array.dtype.kind == "M":
        return array.astype("datetime64[us]").astype(np.int64)
    if array.dtype == object:
        return np.array(
            [_NAT if pd.isna(value) else _datetime_to_us(value) for value in array.ravel()],
            dtype=np.int64,
        )
    raise TypeError(f"Expected datetimes, got an array of {array.dtype}.")


def _local_to_utc_us(local_us: np.ndarray, timezone: str) -> np.ndarray:
    local = pd.DatetimeIndex(local_us.view("datetime64[us]"))
    aware = local.tz_localize(
        timezone, ambiguous=np.ones(len(local), dtype=bool), nonexistent="shift_forward"
    )
    return aware.tz_convert("UTC").as_unit("us").asi8


def _utc_year(instant_us: int) -> int:
    return int(np.datetime64(instant_us, "us").astype("datetime64[Y]").astype(np.int64)) + 1970
