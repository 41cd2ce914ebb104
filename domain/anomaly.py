"""Dynamic thresholds for monitored metrics: a robust seasonal band and one alert per incident.

`detect` turns a metric series into a band (`baseline`, `lower`, `upper`), a per-point `anomalous`
flag and an `alert` that fires once when an incident opens.

What it assumes about the interval. It is built for the product's daily metrics: one point a day
with a weekly rhythm. The step is the median spacing of the timestamps (gaps and jitter don't
matter) and it sets the *cycle* every window is counted in, and the calendar slots:

- daily data (step from 12 h to 1.5 days): cycle = 7 points, seasonal slot = weekday;
- intraday data (step under 12 h, e.g. 5-minute or hourly): cycle = one day of points (288 for
  5-minute data), slots = hour of the week, else hour of day, each fed by all the points of that
  hour. So 5-minute data is never treated as if each point were a day: a "week" of windows is a
  week of time, not 7 points;
- coarser data (step over 1.5 days): no calendar slot, a plain 7-point cycle.

The rules, in the order they apply (numbers are the fields of `SETTINGS`):

- Baseline = robust level + seasonal offset. The level is the median of the last `level_cycles`
  of deseasonalised values; the offset is the median deviation from the level in the point's slot
  over the last `profile_cycles`.
- Band = baseline ± `band_sigmas` one-sided robust sigmas of the last `residual_cycles` of
  residuals, each side measured from its own tail quantile, never narrower than
  `min_relative_width` of the baseline.
- A point inside the band joins the statistics at once. Points outside it are held back: a stray
  excursion (shorter than `persistence`) joins when it ends; an incident's points join only if it
  is still running one cycle later (a level shift becomes the new normal) and are dropped if it
  has ended (an outage never drags the baseline after it).
- An incident opens on a *record*: a point outside the band on the watched side, at least
  `alert_gate` band widths from the baseline, and farther out than every point of the last
  `record_cycles` cycles and than `long_record_share` of the farthest of the last
  `long_record_cycles` cycles (the idea behind NAB's leaders, e.g. Numenta's anomaly
  likelihood: judge a point against this series' own recent surprises, not only a band). A
  quiet series alerts on its first clear excursion, a single-day spike on its day; a bursty one
  must beat its own recent bursts. The incident closes after `close_after` points back inside.
- Or an incident opens on a *surge*, on intraday data only: a point outside the band on the
  watched side, past the gate, where the mean distance of the last `surge_cycles` of points (10
  five-minute points), each capped at `surge_cap` band widths, lies more than `surge_sigmas`
  standard deviations above its mean over the `surge_history_cycles` cycles before them (the
  short-against-long average of Numenta's anomaly likelihood). It finds a sustained excursion that
  is no record because a larger spike came lately. A surge window shorter than two points (daily
  or hourly data) is no surge rule: one point is already judged by the record rule.
- No alert storms: an incident that reopens within `cooldown_cycles` cycles of closing is the
  same incident again and raises no new alert (bursts join it); only after the cool-down can a
  new alert open. The daily job (data_access/monitor.py) relies on this `alert` flag.

Settings are chosen by bench/anomaly_eval.py (leave-one-folder-out over the NAB folders and
generated daily model metrics); the one set below is the one shipped and the one evaluated.

Bounded state: every band uses only the points before it, within windows of at most
`residual_cycles` (+ `hold_cycles`) cycles, plus how earlier excursions were settled; a record
looks back `long_record_cycles` cycles at most, a surge `surge_history_cycles` cycles. The daily
job defines a day's verdict as this pass over the fixed window of `HISTORY_DAYS` days ending that
day (data_access/monitor.py), so its cost does not grow with history and a corrected day can be
re-scored by re-running the days whose window holds it. The pass is one loop in plain Python
(about 1.5 ms for a year of daily points, a few tenths of a second for 20,000 five-minute
points); `detect_many` runs the same pass over many series sharing one index with numpy across
the series, equal to `detect` column by column, bit for bit.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import pandas as pd

DIRECTIONS: tuple[str, ...] = ("above", "below", "both")
COLUMNS: tuple[str, ...] = ("baseline", "lower", "upper", "anomalous", "alert")

_DAY_SECONDS = 86_400.0
_DAYS_PER_WEEK = 7
_MONDAY_OFFSET = 3  # 1970-01-01, day 0 of the epoch, was a Thursday.
_MEAN_TO_SIGMA = math.sqrt(math.pi / 2)  # sigma of a normal from its mean absolute deviation


@dataclass(frozen=True)
class DetectorSettings:
    """The detector's few knobs, one set for every metric; windows count seasonal cycles.

    band_sigmas and tail_quantile set the band: that many robust sigmas, each side's sigma read
    off its own tail quantile. The cycles size the windows for the level, the seasonal profile
    (and how much of it is needed before it is used), the residuals, the hold on points outside
    the band and the history needed before any band; `persistence` points outside make an
    excursion an incident for the band (its points are held back). An alert opens on a record
    (`alert_gate`, `record_cycles`, `long_record_cycles`, `long_record_share`,
    `record_min_cycles`: see `_outside`) or on a surge (`surge_cycles`, `surge_history_cycles`,
    `surge_sigmas`, `surge_cap`: see `_surging`; `surge_sigmas=math.inf` turns it off); the
    incident closes after `close_after` points inside,
    and reopening within `cooldown_cycles` cycles of closing raises no new alert. The values are the ones
    bench/anomaly_eval.py chose on all folders together (and scores held out, folder by folder).
    """

    band_sigmas: float = 4.0
    tail_quantile: float = 0.9
    min_relative_width: float = 0.05
    level_cycles: int = 1
    profile_cycles: int = 4
    profile_min_cycles: int = 2
    residual_cycles: int = 8
    hold_cycles: int = 1
    min_history_cycles: int = 2
    persistence: int = 3
    alert_gate: float = 1.25
    record_cycles: float = 5.0
    long_record_cycles: float = 14.0
    long_record_share: float = 0.7
    record_min_cycles: float = 3.0
    surge_cycles: float = 0.035
    surge_history_cycles: float = 14.0
    surge_sigmas: float = 5.0
    surge_cap: float = 2.0
    close_after: int = 5
    cooldown_cycles: float = 0.5
    profile_bucket_seconds: float = 3_600.0


SETTINGS = DetectorSettings()


def detect(values: pd.Series, *, direction: str = "both") -> pd.DataFrame:
    """Band, anomaly flags and opening alerts for `values`, each point judged on its past only.

    The edge case: real series arrive unsorted, with duplicate or missing timestamps and NaNs, so
    points are processed in time order (ties keep their order), NaN and infinite values count as
    missing (never anomalous, never in the baseline) and the result is returned on the input index.
    """
    return _detect(values, direction, SETTINGS)


def _detect(values: pd.Series, direction: str, settings: DetectorSettings) -> pd.DataFrame:
    _check_direction(direction)
    checked = _checked_values(values)
    order = np.argsort(_epoch_seconds(values.index), kind="stable")
    x = checked[order]
    calendar = _calendar(values.index[order], settings)
    centre, below_width, above_width = _band_in_time_order(calendar, x, settings)
    watched, record = _outside(
        x, centre, below_width, above_width, np.array(direction), calendar.cycle, settings
    )
    cooldown = _cooldown(calendar, settings)
    alerts = _opening_alerts(watched, record, ~np.isnan(x), settings, cooldown)
    frame = pd.DataFrame(
        {
            "baseline": centre,
            "lower": centre - below_width,
            "upper": centre + above_width,
            "anomalous": watched,
            "alert": alerts,
        }
    )
    restore = np.empty_like(order)
    restore[order] = np.arange(len(order))
    return frame.iloc[restore].set_axis(values.index)


# --- input ---


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'above', 'below' or 'both', not {direction!r}.")


def _checked_values(values: pd.Series) -> np.ndarray:
    """The series as floats with NaN for missing, or a TypeError/ValueError naming the problem."""
    if not isinstance(values, pd.Series):
        raise TypeError(f"values must be a pandas Series, not {type(values).__name__}.")
    if not isinstance(values.index, pd.DatetimeIndex):
        raise TypeError("values must be indexed by a DatetimeIndex (one timestamp per point).")
    if values.index.hasnans:
        raise ValueError("values has missing timestamps (NaT) in its index.")
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise TypeError(f"values must be numeric, not {values.dtype}.")
    x = values.to_numpy(dtype=float, na_value=np.nan, copy=True)
    x[~np.isfinite(x)] = np.nan
    return x


def _epoch_seconds(index: pd.DatetimeIndex) -> np.ndarray:
    """Seconds since the epoch, in UTC for aware indexes, whatever the index's resolution."""
    return index.as_unit("ns").asi8 / 1e9


def _wall_clock_seconds(index: pd.DatetimeIndex) -> np.ndarray:
    """Seconds since the epoch on the index's own wall clock, so weekdays and hours are local."""
    return _epoch_seconds(index if index.tz is None else index.tz_localize(None))


def _typical_step(seconds: np.ndarray) -> float:
    """The median spacing of sorted timestamps; a day when there are fewer than two points.

    The edge case: mostly-duplicated timestamps give a zero median, which has no cycle.
    """
    if len(seconds) < 2:
        return _DAY_SECONDS
    step = float(np.median(np.diff(seconds)))
    if step <= 0:
        raise ValueError("values needs distinct timestamps; their typical spacing is zero.")
    return step


# --- calendar ---


@dataclass(frozen=True)
class _Season:
    """One way to slot points (e.g. by weekday): each point's slot, and samples per slot a season."""

    slots: list[int]
    samples_per_season: int


@dataclass(frozen=True)
class _Calendar:
    """Points per cycle and the seasons to try, most specific first."""

    cycle: int
    seasons: tuple[_Season, ...]


def _calendar(index: pd.DatetimeIndex, settings: DetectorSettings) -> _Calendar:
    """Weekday slots for daily data; weekday-hour then hour-of-day slots for intraday data.

    The edge case: a step longer than a day has no calendar season, yet still needs a cycle to
    size its windows, so it gets a plain seven-point cycle.
    """
    step = _typical_step(_epoch_seconds(index))
    if step >= 1.5 * _DAY_SECONDS:
        return _Calendar(cycle=_DAYS_PER_WEEK, seasons=())
    wall = _wall_clock_seconds(index)
    if step >= 0.5 * _DAY_SECONDS:
        day = _nominal_days(wall)
        weekday = (day + _MONDAY_OFFSET) % _DAYS_PER_WEEK
        return _Calendar(cycle=_DAYS_PER_WEEK, seasons=(_Season(weekday.tolist(), 1),))
    day = np.floor(wall / _DAY_SECONDS).astype(np.int64)
    weekday = (day + _MONDAY_OFFSET) % _DAYS_PER_WEEK
    bucket = max(step, settings.profile_bucket_seconds)
    buckets_per_day = round(_DAY_SECONDS / bucket)
    hour = np.minimum((wall - day * _DAY_SECONDS) // bucket, buckets_per_day - 1).astype(np.int64)
    points_per_bucket = max(1, round(bucket / step))
    return _Calendar(
        cycle=round(_DAY_SECONDS / step),
        seasons=(
            _Season((weekday * buckets_per_day + hour).tolist(), points_per_bucket),
            _Season(hour.tolist(), points_per_bucket),
        ),
    )


def _nominal_days(wall: np.ndarray) -> np.ndarray:
    """The day each point of a daily series stands for: its nearest day at the series' usual time.

    The edge case: daily points stamped around midnight with a few minutes' jitter fell on the
    previous calendar day (Sunday 23:47 for Monday), so weekday slots mixed weekends into
    weekdays. Each point is counted from the series' typical time of day (a circular median), so
    a point late or early by less than half a day keeps its day, and every day keeps one slot.
    """
    if not len(wall):
        return np.zeros(0, dtype=np.int64)
    time_of_day = np.mod(wall, _DAY_SECONDS)
    first = time_of_day[0]
    around = np.mod(time_of_day - first + _DAY_SECONDS / 2, _DAY_SECONDS) - _DAY_SECONDS / 2
    usual = np.mod(first + np.median(around), _DAY_SECONDS)
    return np.floor((wall - usual + _DAY_SECONDS / 2) / _DAY_SECONDS).astype(np.int64)


# --- band ---


class _SortedWindow:
    """The last `size` values, kept sorted so medians and quantiles cost one index lookup."""

    __slots__ = ("size", "arrivals", "ordered")

    def __init__(self, size: int) -> None:
        self.size = size
        self.arrivals: deque[float] = deque()
        self.ordered: list[float] = []

    def __len__(self) -> int:
        return len(self.arrivals)

    def push(self, value: float) -> None:
        self.arrivals.append(value)
        insort(self.ordered, value)
        if len(self.arrivals) > self.size:
            del self.ordered[bisect_left(self.ordered, self.arrivals.popleft())]

    def quantile(self, q: float) -> float:
        """Linear-interpolated quantile, as numpy's default."""
        ordered = self.ordered
        position = q * (len(ordered) - 1)
        low = int(position)
        if low + 1 == len(ordered):
            return ordered[low]
        return ordered[low] + (ordered[low + 1] - ordered[low]) * (position - low)

    def median(self) -> float:
        ordered = self.ordered
        half = len(ordered) // 2
        return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2

    def mean_distance(self, centre: float) -> float:
        return sum(abs(value - centre) for value in self.arrivals) / len(self.arrivals)


class _Observation(NamedTuple):
    """One judged point: its position, value, seasonal offset and residual from the baseline."""

    i: int
    value: float
    offset: float
    residual: float


class _Baseline:
    """The state behind the band: level, seasonal profiles, residuals and held-back points."""

    def __init__(self, calendar: _Calendar, settings: DetectorSettings) -> None:
        self.settings = settings
        self.seasons = calendar.seasons
        self.level = _SortedWindow(settings.level_cycles * calendar.cycle)
        self.residuals = _SortedWindow(settings.residual_cycles * calendar.cycle)
        self.profiles: list[dict[int, _SortedWindow]] = [{} for _ in calendar.seasons]
        self.hold = settings.hold_cycles * calendar.cycle
        self.min_history = settings.min_history_cycles * calendar.cycle
        self.tail_z = NormalDist().inv_cdf(settings.tail_quantile)
        self.admitted = 0
        self.excursion: deque[tuple[int, _Observation]] = deque()  # (due, point) outside the band
        self.excursion_length = 0

    def offset(self, i: int) -> float:
        """Seasonal offset of point i from the most specific slot with enough history, else 0."""
        for season, profile in zip(self.seasons, self.profiles, strict=True):
            window = profile.get(season.slots[i])
            enough = self.settings.profile_min_cycles * season.samples_per_season
            if window is not None and len(window) >= enough:
                return window.median()
        return 0.0

    def expected(self, offset: float, fallback: float) -> float:
        return self.level.median() + offset if len(self.level) else fallback

    def band(self, expected: float) -> tuple[float, float, float] | None:
        """(centre, width below, width above) around `expected`; None before enough history.

        The edge case: a side whose tail quantile equals the median (a metric that is mostly
        constant) falls back to the mean absolute deviation, as the modified z-score does.
        """
        if self.admitted < self.min_history:
            return None
        settings = self.settings
        middle = self.residuals.median()
        below = (middle - self.residuals.quantile(1 - settings.tail_quantile)) / self.tail_z
        above = (self.residuals.quantile(settings.tail_quantile) - middle) / self.tail_z
        if below == 0 or above == 0:
            fallback = _MEAN_TO_SIGMA * self.residuals.mean_distance(middle)
            below, above = below or fallback, above or fallback
        centre = expected + middle
        floor = settings.min_relative_width * abs(centre)
        return (
            centre,
            max(settings.band_sigmas * below, floor),
            max(settings.band_sigmas * above, floor),
        )

    def inside(self, point: _Observation) -> None:
        """Admit a point inside the band and settle the excursion it ends.

        An excursion too short to be an incident was noise: its points join now. An incident's
        remaining points are dropped, so a finished outage never drags the baseline after it.
        """
        if self.excursion_length < self.settings.persistence:
            for _, held in self.excursion:
                self.admit(held)
        self.excursion.clear()
        self.excursion_length = 0
        self.admit(point)

    def outside(self, point: _Observation) -> None:
        """Hold back a point outside the band until its excursion is settled."""
        self.excursion.append((point.i + self.hold, point))
        self.excursion_length += 1

    def release_due(self, now: int) -> None:
        """Admit the points of an incident still running one cycle after they were seen.

        Such an incident is a level shift, not an outage; admitting it makes it the new normal.
        """
        if self.excursion_length < self.settings.persistence:
            return
        while self.excursion and self.excursion[0][0] <= now:
            self.admit(self.excursion.popleft()[1])

    def admit(self, point: _Observation) -> None:
        """Add a point to the level, its seasonal slots and the residuals.

        The edge case: a seasonal sample is a deviation from a full cycle's level; taken against
        the first few hours of a day it would carry that day's shape into the profile for weeks.
        """
        if len(self.level) == self.level.size:
            self._add_seasonal_sample(point.i, point.value - self.level.median())
        self.level.push(point.value - point.offset)
        self.residuals.push(point.residual)
        self.admitted += 1

    def _add_seasonal_sample(self, i: int, deviation: float) -> None:
        for season, profile in zip(self.seasons, self.profiles, strict=True):
            window = profile.get(season.slots[i])
            if window is None:
                size = self.settings.profile_cycles * season.samples_per_season
                window = profile[season.slots[i]] = _SortedWindow(size)
            window.push(deviation)


def _band_in_time_order(
    calendar: _Calendar, x: np.ndarray, settings: DetectorSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band centre and the widths below and above it for each point of a time-sorted series.

    Each point is judged on the points before it, then fed back: at once when inside the band,
    once its excursion is settled when outside. The edge case: admitting an outage's points a
    cycle later, after it had ended, swung the baseline past the recovered metric and raised a
    false alert on the other side.
    """
    n = len(x)
    centre, below_width, above_width = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    state = _Baseline(calendar, settings)
    for i, value in enumerate(x.tolist()):
        state.release_due(i)
        offset = state.offset(i)
        expected = state.expected(offset, fallback=value)
        band = state.band(expected)
        if band is not None:
            centre[i], below_width[i], above_width[i] = band
        if value != value:  # NaN: missing, not evidence either way.
            continue
        point = _Observation(i, value, offset, value - expected)
        if band is None:
            state.admit(point)
        elif band[0] - band[1] <= value <= band[0] + band[2]:
            state.inside(point)
        else:
            state.outside(point)
    return centre, below_width, above_width


# --- alerts ---


def _cooldown(calendar: _Calendar, settings: DetectorSettings) -> int:
    """Points after an incident closes during which it reopens silently instead of alerting."""
    return round(settings.cooldown_cycles * calendar.cycle)


def _outside(
    x: np.ndarray,
    centre: np.ndarray,
    below_width: np.ndarray,
    above_width: np.ndarray,
    direction: np.ndarray,
    cycle: int,
    settings: DetectorSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Points outside the band on the watched side, and the *records*: points that may open one.

    A point's distance is how far it lies from the centre on the watched side, in widths of the
    band on that side (above 1: outside the band). A record is a point at least `alert_gate`
    widths out and farther out than every point of the last `record_cycles` cycles and than
    `long_record_share` of the farthest point of the last `long_record_cycles` cycles: unusual
    for this series lately, not only outside a band. So a noisy or bursty series must beat its
    own recent bursts before it alerts, and a quiet one alerts on its first clear excursion.
    Until `record_min_cycles` cycles have been seen the gate alone applies. A point past the
    gate that is a *surge* (see `_surging`) may open one too. `direction` is one direction, or
    one per column of a 2-D `x`.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        above = (x - centre) / above_width
        below = (centre - x) / below_width
    distance = np.where(
        direction == "above",
        above,
        np.where(direction == "below", below, np.fmax(above, below)),
    )
    with np.errstate(invalid="ignore"):
        outside = distance > 1
    seen = np.nan_to_num(distance, nan=0.0, posinf=0.0, neginf=0.0)
    past = pd.DataFrame(seen[:, None] if seen.ndim == 1 else seen).shift(1)
    enough = max(1, round(settings.record_min_cycles * cycle))

    def farthest(cycles: float) -> np.ndarray:
        size = max(1, round(cycles * cycle))
        return past.rolling(size, min_periods=min(enough, size)).max().to_numpy()

    bar = np.fmax(
        farthest(settings.record_cycles),
        settings.long_record_share * farthest(settings.long_record_cycles),
    )
    bar = np.fmax(settings.alert_gate, bar).reshape(seen.shape)
    gate = seen > settings.alert_gate
    return outside, outside & ((seen > bar) | (gate & _surging(seen, cycle, settings)))


def _surging(seen: np.ndarray, cycle: int, settings: DetectorSettings) -> np.ndarray:
    """Points where the last `surge_cycles` of distances stand out from the series' own history.

    The second way to open an incident, after Numenta's anomaly likelihood: the mean distance
    of the short recent window (capped at `surge_cap` band widths, so one huge spike neither
    dominates the history nor counts as more than a clear excursion) lies more than
    `surge_sigmas` standard deviations above the mean of the `surge_history_cycles` before it.
    It catches a sustained shift that is not a record because a larger spike happened lately;
    the point must still be outside the band and past the gate to open an incident. The edge
    case: a surge window under two points (daily or hourly data) would make every point outside
    the band a surge on a quiet series, overruling the record rule, so there is no surge then.
    A history without spread (standard deviation 0) makes any rise a surge.
    """
    short = round(settings.surge_cycles * cycle)
    if short < 2:
        return np.zeros(seen.shape, dtype=bool)
    capped = np.minimum(seen, settings.surge_cap)
    capped = pd.DataFrame(capped[:, None] if capped.ndim == 1 else capped)
    long = max(2, round(settings.surge_history_cycles * cycle))
    recent = capped.rolling(short, min_periods=1).mean()
    history = capped.shift(short).rolling(long, min_periods=long // 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = ((recent - history.mean()) / history.std()).to_numpy()
        return (score > settings.surge_sigmas).reshape(seen.shape)


def _opening_alerts(
    outside: np.ndarray,
    record: np.ndarray,
    valid: np.ndarray,
    settings: DetectorSettings,
    cooldown: int,
) -> np.ndarray:
    """True where an incident opens: a `record` point (see `_outside`) while none is open.

    An open incident closes after `close_after` points back inside the band. Within `cooldown`
    points of its closing it reopens without a new alert (a burst joins the incident it belongs
    to: any point outside the band reopens it then, record or not); only after the cool-down
    can the next incident open, on a record, with an alert. The edge case: missing points
    neither extend an incident nor count towards closing.
    """
    alerts = np.zeros(len(outside), dtype=bool)
    is_open, inside_run, closed_at = False, 0, None
    for i in np.flatnonzero(valid).tolist():
        if is_open:
            inside_run = 0 if outside[i] else inside_run + 1
            if inside_run >= settings.close_after:
                is_open, closed_at = False, i
        elif record[i] or (outside[i] and closed_at is not None and i - closed_at < cooldown):
            is_open, inside_run = True, 0
            alerts[i] = closed_at is None or i - closed_at >= cooldown
    return alerts


# --- many series at once ---


def detect_many(
    frame: pd.DataFrame, *, directions: str | Sequence[str] = "both"
) -> dict[str, np.ndarray]:
    """`detect` for every column of `frame` at once, as 2-D arrays of rows (time) × columns.

    The same algorithm as `detect`, stepped through time with numpy across the columns, so each
    column's band, `anomalous` and `alert` equal `detect(frame[column], direction=…)` exactly;
    `incident` adds whether an incident is open after each point (carried over missing points).
    `directions` is one direction for every column or one per column. Rows come back in time
    order (the frame is sorted by its index first). The edge case: the calendar comes from the
    shared index, so a series with days missing must be reindexed to the full calendar (NaN
    values) to match `detect` on the same reindexed series.
    """
    return _detect_many(frame, directions, SETTINGS)


def _detect_many(
    frame: pd.DataFrame, directions: str | Sequence[str], settings: DetectorSettings
) -> dict[str, np.ndarray]:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, not {type(frame).__name__}.")
    columns = frame.shape[1]
    chosen = [directions] * columns if isinstance(directions, str) else list(directions)
    if len(chosen) != columns:
        raise ValueError(f"directions names {len(chosen)} directions for {columns} columns.")
    for direction in chosen:
        _check_direction(direction)
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise TypeError("frame must be indexed by a DatetimeIndex (one timestamp per row).")
    if frame.index.hasnans:
        raise ValueError("frame has missing timestamps (NaT) in its index.")
    ordered = frame.iloc[np.argsort(_epoch_seconds(frame.index), kind="stable")]
    x = np.array(ordered.to_numpy(dtype=float, na_value=np.nan), dtype=float, ndmin=2)
    x = x.reshape(len(ordered), columns)
    x[~np.isfinite(x)] = np.nan
    calendar = _calendar(ordered.index, settings) if len(ordered) else _Calendar(7, ())
    centre, below_width, above_width = _bands_in_time_order(calendar, x, settings)
    lower, upper = centre - below_width, centre + above_width
    watched, record = _outside(
        x, centre, below_width, above_width, np.array(chosen), calendar.cycle, settings
    )
    cooldown = _cooldown(calendar, settings)
    alerts, incident = _incidents(watched, record, ~np.isnan(x), settings, cooldown)
    return {
        "baseline": centre,
        "lower": lower,
        "upper": upper,
        "anomalous": watched,
        "alert": alerts,
        "incident": incident,
    }


class _Rings:
    """One window of the last `size` values per cell of `shape` (a ring buffer; NaN when empty)."""

    def __init__(self, shape: tuple[int, ...], size: int) -> None:
        self.size = size
        self.values = np.full((*shape, size), np.nan)
        self.count = np.zeros(shape, dtype=np.int64)
        self.next = np.zeros(shape, dtype=np.int64)

    def push(self, cells: tuple[np.ndarray, ...], values: np.ndarray) -> None:
        slot = self.next[cells]
        self.values[(*cells, slot)] = values
        self.next[cells] = (slot + 1) % self.size
        self.count[cells] = np.minimum(self.count[cells] + 1, self.size)

    def sorted(self, cells: tuple[np.ndarray, ...] | slice) -> np.ndarray:
        """The windows of `cells`, each sorted with its empty places (NaN) last."""
        if isinstance(cells, slice):
            return np.sort(self.values[cells], axis=-1)
        windows = self.values[cells]  # fancy indexing copied them already: sort in place
        windows.sort(axis=-1)
        return windows

    def mean_distance(self, rows: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """Mean absolute distance from `centre`, summed oldest first as `_SortedWindow` does."""
        count, oldest = self.count[rows], self.next[rows] - self.count[rows]
        total = np.zeros(len(rows))
        for k in range(self.size):
            value = self.values[rows, (oldest + k) % self.size]
            total = total + np.where(k < count, np.abs(value - centre), 0.0)
        return total / count


def _median_of_sorted(ordered: np.ndarray, count: np.ndarray) -> np.ndarray:
    rows = np.arange(len(count))
    half = count // 2
    upper = ordered[rows, half]
    lower = ordered[rows, np.maximum(half - 1, 0)]
    return np.where(count % 2 == 1, upper, (lower + upper) / 2)


def _quantile_of_sorted(ordered: np.ndarray, count: np.ndarray, q: float) -> np.ndarray:
    rows = np.arange(len(count))
    position = q * (count - 1)
    low = position.astype(np.int64)
    high = np.minimum(low + 1, count - 1)
    at_low, at_high = ordered[rows, low], ordered[rows, high]
    return np.where(low + 1 == count, at_low, at_low + (at_high - at_low) * (position - low))


class _Baselines:
    """`_Baseline` for many series at once: the same state, one row per series."""

    def __init__(self, series: int, calendar: _Calendar, settings: DetectorSettings) -> None:
        self.settings = settings
        self.level = _Rings((series,), settings.level_cycles * calendar.cycle)
        self.residuals = _Rings((series,), settings.residual_cycles * calendar.cycle)
        self.slots = [np.asarray(season.slots, dtype=np.int64) for season in calendar.seasons]
        self.enough = [
            max(1, settings.profile_min_cycles * season.samples_per_season)
            for season in calendar.seasons
        ]
        self.profiles = [
            _Rings(
                (series, int(slots.max()) + 1), settings.profile_cycles * season.samples_per_season
            )
            for season, slots in zip(calendar.seasons, self.slots, strict=True)
        ]
        self.hold = settings.hold_cycles * calendar.cycle
        self.min_history = settings.min_history_cycles * calendar.cycle
        self.tail_z = NormalDist().inv_cdf(settings.tail_quantile)
        self.admitted = np.zeros(series, dtype=np.int64)
        held = self.hold + settings.persistence
        self.held_due = np.zeros((series, held), dtype=np.int64)
        self.held_i = np.zeros((series, held), dtype=np.int64)
        self.held_value = np.zeros((series, held))
        self.held_offset = np.zeros((series, held))
        self.held_residual = np.zeros((series, held))
        self.held_first = np.zeros(series, dtype=np.int64)
        self.held_count = np.zeros(series, dtype=np.int64)
        self.excursion_length = np.zeros(series, dtype=np.int64)

    def offset(self, i: int) -> np.ndarray:
        offset = np.zeros(len(self.admitted))
        decided = np.zeros(len(self.admitted), dtype=bool)
        for slots, enough, profile in zip(self.slots, self.enough, self.profiles, strict=True):
            slot = int(slots[i])
            count = profile.count[:, slot]
            rows = np.flatnonzero(~decided & (count >= enough))
            if len(rows):
                ordered = profile.sorted((rows, np.full(len(rows), slot)))
                offset[rows] = _median_of_sorted(ordered, count[rows])
                decided[rows] = True
        return offset

    def level_median(self, rows: np.ndarray | slice) -> np.ndarray:
        cells = rows if isinstance(rows, slice) else (rows,)
        return _median_of_sorted(self.level.sorted(cells), self.level.count[rows])

    def band(self, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centre, width below, width above) per series; NaN where history is too short."""
        settings = self.settings
        n = len(expected)
        centre, below_width, above_width = (
            np.full(n, np.nan),
            np.full(n, np.nan),
            np.full(n, np.nan),
        )
        banded = self.admitted >= self.min_history
        rows = np.flatnonzero(banded)
        if not len(rows):
            return centre, below_width, above_width
        cells = slice(None) if len(rows) == n else (rows,)
        ordered, count = self.residuals.sorted(cells), self.residuals.count[rows]
        middle = _median_of_sorted(ordered, count)
        low_tail = _quantile_of_sorted(ordered, count, 1 - settings.tail_quantile)
        high_tail = _quantile_of_sorted(ordered, count, settings.tail_quantile)
        below = (middle - low_tail) / self.tail_z
        above = (high_tail - middle) / self.tail_z
        flat = np.flatnonzero((below == 0) | (above == 0))
        if len(flat):
            fallback = _MEAN_TO_SIGMA * self.residuals.mean_distance(rows[flat], middle[flat])
            below[flat] = np.where(below[flat] == 0, fallback, below[flat])
            above[flat] = np.where(above[flat] == 0, fallback, above[flat])
        middle_centre = expected[rows] + middle
        floor = settings.min_relative_width * np.abs(middle_centre)
        centre[rows] = middle_centre
        below_width[rows] = np.maximum(settings.band_sigmas * below, floor)
        above_width[rows] = np.maximum(settings.band_sigmas * above, floor)
        return centre, below_width, above_width

    def admit(
        self,
        rows: np.ndarray,
        i: np.ndarray,
        value: np.ndarray,
        offset: np.ndarray,
        residual: np.ndarray,
    ) -> None:
        if not len(rows):
            return
        full = self.level.count[rows] == self.level.size
        if full.any():
            sampled = rows[full]
            deviation = value[full] - self.level_median(sampled)
            for slots, profile in zip(self.slots, self.profiles, strict=True):
                profile.push((sampled, slots[i[full]]), deviation)
        self.level.push((rows,), value - offset)
        self.residuals.push((rows,), residual)
        self.admitted[rows] += 1

    def _admit_held(self, rows: np.ndarray, place: np.ndarray) -> None:
        self.admit(
            rows,
            self.held_i[rows, place],
            self.held_value[rows, place],
            self.held_offset[rows, place],
            self.held_residual[rows, place],
        )

    def release_due(self, now: int) -> None:
        size = self.held_due.shape[1]
        while True:
            first = self.held_first
            rows = np.flatnonzero(
                (self.excursion_length >= self.settings.persistence)
                & (self.held_count > 0)
                & (self.held_due[np.arange(len(first)), first] <= now)
            )
            if not len(rows):
                return
            self._admit_held(rows, first[rows])
            self.held_first[rows] = (first[rows] + 1) % size
            self.held_count[rows] -= 1

    def inside(self, rows: np.ndarray, i: int, value, offset, residual) -> None:
        size = self.held_due.shape[1]
        short = rows[self.excursion_length[rows] < self.settings.persistence]
        for k in range(size):
            waiting = short[self.held_count[short] > k]
            if not len(waiting):
                break
            self._admit_held(waiting, (self.held_first[waiting] + k) % size)
        self.held_first[rows] = 0
        self.held_count[rows] = 0
        self.excursion_length[rows] = 0
        self.admit(rows, np.full(len(rows), i), value, offset, residual)

    def outside(self, rows: np.ndarray, i: int, value, offset, residual) -> None:
        size = self.held_due.shape[1]
        if (self.held_count[rows] >= size).any():
            raise AssertionError("an excursion held more points than a hold cycle can keep")
        place = (self.held_first[rows] + self.held_count[rows]) % size
        self.held_due[rows, place] = i + self.hold
        self.held_i[rows, place] = i
        self.held_value[rows, place] = value
        self.held_offset[rows, place] = offset
        self.held_residual[rows, place] = residual
        self.held_count[rows] += 1
        self.excursion_length[rows] += 1


def _bands_in_time_order(
    calendar: _Calendar, x: np.ndarray, settings: DetectorSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_band_in_time_order` for every column of `x` (rows in time order), point by point."""
    steps, series = x.shape
    centre, below_width, above_width = (np.full(x.shape, np.nan) for _ in range(3))
    if not steps or not series:
        return centre, below_width, above_width
    state = _Baselines(series, calendar, settings)
    everyone = np.arange(series)
    for i in range(steps):
        state.release_due(i)
        value = x[i]
        offset = state.offset(i)
        expected = value.copy()
        with_level = np.flatnonzero(state.level.count > 0)
        if len(with_level) == series:
            expected = state.level_median(slice(None)) + offset
        elif len(with_level):
            expected[with_level] = state.level_median(with_level) + offset[with_level]
        centre[i], below_width[i], above_width[i] = state.band(expected)
        valid = ~np.isnan(value)
        residual = value - expected
        banded = ~np.isnan(centre[i])
        within = (centre[i] - below_width[i] <= value) & (value <= centre[i] + above_width[i])
        for rows, handle in (
            (everyone[valid & ~banded], None),
            (everyone[valid & banded & within], state.inside),
            (everyone[valid & banded & ~within], state.outside),
        ):
            if not len(rows):
                continue
            if handle is None:
                state.admit(rows, np.full(len(rows), i), value[rows], offset[rows], residual[rows])
            else:
                handle(rows, i, value[rows], offset[rows], residual[rows])
    return centre, below_width, above_width


def _incidents(
    outside: np.ndarray,
    record: np.ndarray,
    valid: np.ndarray,
    settings: DetectorSettings,
    cooldown: int,
) -> tuple[np.ndarray, np.ndarray]:
    """`_opening_alerts` for every column at once, plus whether an incident is open after each point."""
    steps, series = outside.shape
    alerts = np.zeros(outside.shape, dtype=bool)
    incident = np.zeros(outside.shape, dtype=bool)
    is_open = np.zeros(series, dtype=bool)
    inside_run = np.zeros(series, dtype=np.int64)
    closed_at = np.full(series, -1, dtype=np.int64)
    everyone = np.arange(series)
    for i in range(steps):
        rows = everyone[valid[i]]
        was_open = is_open[rows]
        running = rows[was_open]
        inside_run[running] = np.where(outside[i, running], 0, inside_run[running] + 1)
        closing = running[inside_run[running] >= settings.close_after]
        is_open[closing] = False
        closed_at[closing] = i
        recently = (closed_at[rows] >= 0) & (i - closed_at[rows] < cooldown)
        opening = rows[~was_open & (record[i, rows] | (outside[i, rows] & recently))]
        cooled = (closed_at[opening] < 0) | (i - closed_at[opening] >= cooldown)
        alerts[i, opening[cooled]] = True
        is_open[opening] = True
        inside_run[opening] = 0
        incident[i] = is_open
    return alerts, incident


# --- explanation ---


def history_weeks(days_with_data: int, settings: DetectorSettings = SETTINGS) -> int:
    """Whole weeks of daily history behind a band: the days seen, capped at the residual window."""
    return max(0, min(days_with_data, settings.residual_cycles * _DAYS_PER_WEEK) // _DAYS_PER_WEEK)


def explain(
    *,
    what: str,
    unit: str,
    value: float,
    lower: float,
    upper: float,
    day: date,
    weeks: int,
) -> str:
    """Why a daily alert opened, in words a CSM can repeat to a customer.

    E.g. "Import duration was 2,460 s on Tuesday 3 Nov 2026; usual for a Tuesday is 720–1,080 s
    (8 weeks of history)." The usual range is the band the detector used that day; metrics are
    never negative, so a band reaching below zero is shown from 0. The edge case: a band learnt
    from less than a week says "less than a week of history".
    """
    weekday = f"{day:%A}"
    history = (
        "less than a week of history"
        if weeks < 1
        else f"{weeks} week{'s' if weeks != 1 else ''} of history"
    )
    return (
        f"{what} was {_number(value)} {unit} on {weekday} {day.day} {day:%b %Y}; usual for a "
        f"{weekday} is {_number(max(lower, 0.0))}–{_number(upper)} {unit} ({history})."
    )


def _number(value: float) -> str:
    """Thousands separated; whole numbers from 100 up, one decimal below."""
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.1f}"
