"""`detect_many` must equal `detect` column by column, and its incident state must follow the alerts."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.anomaly import COLUMNS, SETTINGS, detect, detect_many

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab" / "realKnownCause"
DIRECTIONS = ("above", "below", "both")


def assert_same_as_detect(frame: pd.DataFrame, directions: list[str]) -> dict[str, np.ndarray]:
    """Every column of `detect_many` equals `detect` of that column, bit for bit."""
    many = detect_many(frame, directions=directions)
    ordered = frame.sort_index(kind="stable")
    for position, (name, direction) in enumerate(zip(frame.columns, directions, strict=True)):
        single = detect(ordered[name], direction=direction)
        for column in COLUMNS:
            np.testing.assert_array_equal(
                many[column][:, position],
                single[column].to_numpy(),
                err_msg=f"{column} of column {name!r} ({direction})",
            )
    return many


def mixed_daily(seed: int, days: int = 365, series: int = 40) -> pd.DataFrame:
    """Daily metrics of many shapes: noise, weekly rhythm, spikes, incidents, level shifts,
    NaN gaps, flat and integer-valued series."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2025-01-06", periods=days, freq="D")
    weekend = (index.day_of_week >= 5)[:, None]
    scale = rng.uniform(1, 500, series)
    values = scale * (1 + rng.normal(0, 1, (days, series)) * rng.uniform(0.005, 0.3, series))
    values = np.where(weekend & (rng.random(series) < 0.5), values * rng.uniform(0.1, 0.9), values)
    for k in range(series):
        kind = k % 8
        if kind == 1:
            start = int(rng.integers(20, days - 3))
            values[start : start + int(rng.integers(1, 9)), k] *= rng.uniform(0, 6)
        elif kind == 2:
            values[int(rng.integers(20, days)) :, k] *= rng.uniform(0.2, 4)
        elif kind == 3:
            values[rng.random(days) < 0.15, k] = np.nan
        elif kind == 4:
            values[:, k] = 42.0
        elif kind == 5:
            values[:, k] = np.round(values[:, k] / scale[k] * 3)
        elif kind == 6:
            values[int(rng.integers(0, days)) : int(rng.integers(0, days)), k] = np.nan
        elif kind == 7:
            values[rng.integers(0, days, 6), k] = rng.choice([0.0, np.inf, -1.0], 6)
    return pd.DataFrame(values, index=index, columns=[f"series_{k}" for k in range(series)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_many_daily_series_equal_detect_column_by_column(seed):
    frame = mixed_daily(seed)
    directions = [DIRECTIONS[k % 3] for k in range(frame.shape[1])]
    many = assert_same_as_detect(frame, directions)
    assert many["alert"].any(), "the mixed series should open some alerts"
    assert many["anomalous"].any()


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    days=st.integers(1, 120),
    series=st.integers(1, 6),
    gap=st.floats(0.0, 0.5),
)
def test_random_short_frames_equal_detect(seed, days, series, gap):
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=days, freq="D")
    values = 100 + rng.standard_t(3, (days, series)) * 5
    values[rng.integers(0, days, 3)] += 80
    values[rng.random((days, series)) < gap] = np.nan
    frame = pd.DataFrame(values, index=index)
    assert_same_as_detect(frame, [DIRECTIONS[(seed + k) % 3] for k in range(series)])


def test_nab_like_intraday_series_with_outages_and_gaps_equal_detect():
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-03-04", periods=288 * 16, freq="5min")
    index = index + pd.to_timedelta(rng.integers(-30, 31, len(index)), unit="s")
    hours = (index.hour + index.minute / 60).to_numpy()[:, None]
    values = (
        50
        + 30 * np.sin(2 * np.pi * hours / 24 + np.array([0, 1, 2]))
        + rng.normal(0, 2, (len(index), 3))
    )
    values[(index >= "2024-03-15 10:00") & (index < "2024-03-15 12:00"), 0] = 0.0
    values[index >= "2024-03-12", 1] *= 1.8
    values[rng.random(len(index)) < 0.05, 2] = np.nan
    frame = pd.DataFrame(values, index=index, columns=["outage", "shift", "gaps"])
    many = assert_same_as_detect(frame, ["both", "above", "below"])
    assert many["alert"][:, 0].sum() == 1


@pytest.mark.skipif(not NAB.is_dir(), reason="NAB data not available next to the repository")
@pytest.mark.parametrize(
    "name",
    [
        "ambient_temperature_system_failure.csv",
        "ec2_request_latency_system_failure.csv",
        "rogue_agent_key_hold.csv",
    ],
)
def test_real_nab_series_equal_detect(name):
    raw = pd.read_csv(NAB / name, parse_dates=["timestamp"])
    frame = pd.DataFrame(
        {"value": raw["value"].to_numpy(float)}, index=pd.DatetimeIndex(raw["timestamp"])
    )
    assert_same_as_detect(frame, ["both"])


def test_unsorted_rows_come_back_in_time_order():
    frame = mixed_daily(4, days=90, series=5)
    shuffled = frame.sample(frac=1.0, random_state=1)
    many = detect_many(shuffled, directions="above")
    ordered = detect_many(frame, directions="above")
    for column in (*COLUMNS, "incident"):
        np.testing.assert_array_equal(many[column], ordered[column])


def test_edge_shapes_are_handled():
    empty = detect_many(pd.DataFrame(index=pd.DatetimeIndex([])), directions="both")
    assert all(values.shape == (0, 0) for values in empty.values())
    no_columns = detect_many(
        pd.DataFrame(index=pd.date_range("2024-01-01", periods=5)), directions=[]
    )
    assert no_columns["baseline"].shape == (5, 0)
    all_missing = pd.DataFrame(
        {"a": np.nan, "b": 1.0}, index=pd.date_range("2024-01-01", periods=40)
    )
    many = assert_same_as_detect(all_missing, ["above", "below"])
    assert np.isnan(many["baseline"][:, 0]).all() and not many["anomalous"][:, 0].any()


def reference_records(distance: np.ndarray, cycle: int = 7) -> np.ndarray:
    """Points that may open an incident, straight from the rule: outside the band, past the gate,
    farther out than every point of the short look-back and than a share of the long one's
    farthest (missing points count as 0; a look-back counts only once it holds enough points).
    On daily data the surge rule has no window (under two points), so records are the whole rule.
    """
    assert round(SETTINGS.surge_cycles * cycle) < 2
    seen = np.nan_to_num(distance, nan=0.0, posinf=0.0, neginf=0.0)  # infinite: missing
    enough = round(SETTINGS.record_min_cycles * cycle)
    short = round(SETTINGS.record_cycles * cycle)
    long = round(SETTINGS.long_record_cycles * cycle)
    records = np.zeros(len(seen), dtype=bool)
    for i in range(len(seen)):
        bar = SETTINGS.alert_gate
        if i >= min(enough, short):
            bar = max(bar, max(seen[max(0, i - short) : i]))
        if i >= min(enough, long):
            bar = max(bar, SETTINGS.long_record_share * max(seen[max(0, i - long) : i]))
        records[i] = seen[i] > 1 and seen[i] > bar
    return records


def reference_incidents(outside: np.ndarray, record: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Whether an incident is open after each point, straight from the rule in `detect`.

    An incident reopened within the cool-down (by any point outside the band) is open again; it
    just raises no new alert.
    """
    cooldown = round(SETTINGS.cooldown_cycles * 7)
    open_after = np.zeros(len(outside), dtype=bool)
    is_open, inside_run, closed_at = False, 0, None
    for i in range(len(outside)):
        if valid[i]:
            if is_open:
                inside_run = 0 if outside[i] else inside_run + 1
                if inside_run >= SETTINGS.close_after:
                    is_open, closed_at = False, i
            elif record[i] or (outside[i] and closed_at is not None and i - closed_at < cooldown):
                is_open, inside_run = True, 0
        open_after[i] = is_open
    return open_after


def test_incident_is_open_from_each_alert_until_close_after_points_back_in_band():
    frame = mixed_daily(5)
    many = detect_many(frame, directions="above")
    valid = np.isfinite(frame.to_numpy())
    for k in range(frame.shape[1]):
        x, baseline, upper = frame.to_numpy()[:, k], many["baseline"][:, k], many["upper"][:, k]
        with np.errstate(invalid="ignore", divide="ignore"):
            record = reference_records((x - baseline) / (upper - baseline))
        np.testing.assert_array_equal(record & ~many["anomalous"][:, k], False)
        expected = reference_incidents(many["anomalous"][:, k], record, valid[:, k])
        np.testing.assert_array_equal(many["incident"][:, k], expected)
        opens = np.flatnonzero(many["alert"][:, k])
        assert many["incident"][opens, k].all()
        assert not many["incident"][opens - 1, k].any()


def test_a_three_day_spike_opens_on_its_first_day_then_closes_after_close_after_days_in_band():
    index = pd.date_range("2024-01-01", periods=200, freq="D")
    values = 100 + np.random.default_rng(0).normal(0, 3, 200)
    values[150:153] += 80
    many = detect_many(pd.DataFrame({"m": values}, index=index), directions="above")
    assert np.flatnonzero(many["alert"][:, 0]).tolist() == [150]
    closes = 153 + SETTINGS.close_after - 1  # the close_after-th point back in band
    assert np.flatnonzero(many["incident"][:, 0]).tolist() == list(range(150, closes))


@pytest.mark.parametrize(
    ("frame", "directions", "error", "message"),
    [
        (pd.Series([1.0]), "both", TypeError, "DataFrame"),
        (pd.DataFrame({"a": [1.0, 2.0]}), "both", TypeError, "DatetimeIndex"),
        (
            pd.DataFrame({"a": [1.0]}, index=pd.date_range("2024-01-01", periods=1)),
            ["above", "below"],
            ValueError,
            "2 directions for 1 columns",
        ),
        (
            pd.DataFrame({"a": [1.0]}, index=pd.date_range("2024-01-01", periods=1)),
            "up",
            ValueError,
            "'above', 'below' or 'both'",
        ),
    ],
)
def test_bad_input_is_refused(frame, directions, error, message):
    with pytest.raises(error, match=message):
        detect_many(frame, directions=directions)
