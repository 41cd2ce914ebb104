import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import domain.anomaly as anomaly
from domain.anomaly import COLUMNS, SETTINGS, detect

WEEK = 7
MIN_HISTORY_DAYS = SETTINGS.min_history_cycles * WEEK
BAND = ["baseline", "lower", "upper"]


def daily(
    days: int = 365, *, seed: int = 0, noise: float = 3.0, weekend_drop: float = 0.0
) -> pd.Series:
    """A daily metric around 100 from Monday 2024-01-01, optionally lower at weekends."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=days, freq="D")
    weekend = np.where(index.day_of_week >= 5, weekend_drop, 0.0)
    return pd.Series(100.0 - weekend + rng.normal(0, noise, days), index=index)


def alert_positions(result: pd.DataFrame) -> list[int]:
    return np.flatnonzero(result["alert"].to_numpy()).tolist()


# --- shape of the result ---


def test_result_has_the_band_columns_on_the_input_index():
    values = daily(60)
    result = detect(values)
    assert tuple(result.columns) == COLUMNS
    assert result.index.equals(values.index)
    assert result["anomalous"].dtype == bool and result["alert"].dtype == bool
    inside = result.dropna()
    assert (inside["lower"] <= inside["baseline"]).all()
    assert (inside["baseline"] <= inside["upper"]).all()


def test_unsorted_input_gets_the_same_answer_row_by_row():
    values = daily(120, weekend_drop=30)
    values.iloc[80:84] += 60
    shuffled = values.sample(frac=1.0, random_state=3)
    result = detect(shuffled)
    assert result.index.equals(shuffled.index)
    pd.testing.assert_frame_equal(result.sort_index(), detect(values), check_freq=False)


def test_empty_series_gives_an_empty_frame():
    empty = pd.Series([], index=pd.DatetimeIndex([]), dtype=float)
    result = detect(empty)
    assert result.empty and tuple(result.columns) == COLUMNS


# --- spikes, incidents and level shifts ---


def beyond_band(values: pd.Series, at: int, widths: float) -> float:
    """The value `widths` band widths beyond the upper edge of the band at position `at`."""
    band = detect(values).iloc[at]
    return band["upper"] + widths * (band["upper"] - band["baseline"])


def test_a_point_just_outside_the_band_short_of_the_alert_gate_does_not_alert():
    values = daily(200, weekend_drop=30)
    values.iloc[150] = beyond_band(values, 150, (SETTINGS.alert_gate - 1) / 2)
    result = detect(values)
    assert result["anomalous"].iloc[150]
    assert result["anomalous"].sum() <= 2
    assert alert_positions(result) == []


def test_a_one_day_spike_past_the_alert_gate_opens_an_alert_that_day():
    values = daily(200, weekend_drop=30)
    values.iloc[150] = beyond_band(values, 150, SETTINGS.alert_gate - 1 + 0.5)
    assert alert_positions(detect(values)) == [150]


def test_an_excursion_no_farther_out_than_a_recent_one_does_not_alert_but_a_farther_one_does():
    """A record: the later excursions are judged against this series' own recent surprises."""
    values = daily(260, weekend_drop=30)
    values.iloc[150] = beyond_band(values, 150, 3.0)
    first = detect(values)
    values.iloc[170] = beyond_band(values, 170, 1.5)  # well after the cool-down, but smaller
    smaller = detect(values)
    values.iloc[190] = beyond_band(values, 190, 5.0)  # farther out than the one at 150
    farther = detect(values)
    assert alert_positions(first) == [150]
    assert smaller["anomalous"].iloc[170] and alert_positions(smaller) == [150]
    assert alert_positions(farther) == [150, 190]


def test_a_large_three_day_spike_opens_exactly_one_alert_on_its_first_day():
    values = daily(200, weekend_drop=30)
    values.iloc[150:153] += 80
    result = detect(values)
    assert result["anomalous"].iloc[150:153].all()
    assert alert_positions(result) == [150]


def test_bursts_within_the_cool_down_join_the_incident_instead_of_alerting_again():
    cooldown = round(SETTINGS.cooldown_cycles * WEEK)
    assert cooldown >= 2, "the shipped settings have a cool-down of at least two days"
    values = daily(300, weekend_drop=30)
    burst, start = [], 150
    for _ in range(5):  # one-day bursts, each the day before the previous cool-down ends
        values.iloc[start] += 80
        burst.append(start)
        start += 1 + SETTINGS.close_after + cooldown - 2
    result = detect(values)
    assert result["anomalous"].iloc[burst].all()
    assert alert_positions(result) == [150]


def test_an_incident_that_flickers_in_and_out_of_the_band_gives_one_alert():
    values = daily(240)
    incident = np.arange(150, 180)
    values.iloc[incident[incident % 4 != 0]] += 60  # every fourth day (152, 156, ...) looks normal
    result = detect(values)
    assert alert_positions(result) == [150]


def test_an_incident_stays_out_of_the_band_as_if_it_were_missing():
    values = daily(200)
    values.iloc[150:156] += 80
    missing = values.copy()
    missing.iloc[150:156] = np.nan
    pd.testing.assert_frame_equal(detect(values)[BAND], detect(missing)[BAND])


def test_after_an_incident_ends_the_band_does_not_swing_to_the_other_side():
    values = daily(200)
    values.iloc[150:155] -= 60
    result = detect(values)
    assert alert_positions(result) == [150]
    assert not result["anomalous"].iloc[155:].any()


def test_a_lasting_level_shift_alerts_once_then_becomes_the_new_normal():
    values = daily(365)
    values.iloc[200:] += 50
    result = detect(values)
    assert alert_positions(result) == [200]  # the jump is a record on its first day
    assert not result["anomalous"].iloc[200 + 3 * WEEK : 200 + 8 * WEEK].any()
    assert result["baseline"].iloc[200 + 8 * WEEK :].median() == pytest.approx(150, abs=2)


def test_a_second_incident_after_recovery_opens_a_second_alert():
    values = daily(300)
    values.iloc[150:155] += 60
    values.iloc[250:255] -= 60
    assert alert_positions(detect(values)) == [150, 250]


# --- seasonality, flat series, gaps, history ---


def test_a_regular_weekly_pattern_raises_no_alerts():
    for seed in range(5):
        values = daily(365, seed=seed, weekend_drop=40)
        result = detect(values)
        assert alert_positions(result) == []
        assert result["anomalous"].sum() <= 3


def test_the_baseline_learns_that_weekends_are_low():
    result = detect(daily(120, noise=1.0, weekend_drop=40))
    late = result.iloc[8 * WEEK :]
    weekend = late.index.day_of_week >= 5
    assert late["baseline"][weekend].median() == pytest.approx(60, abs=3)
    assert late["baseline"][~weekend].median() == pytest.approx(100, abs=3)


def test_a_flat_series_does_not_alert_on_tiny_noise():
    for values in (daily(365, noise=0.01), daily(365, noise=0.0)):
        result = detect(values)
        assert not result["anomalous"].any()
        assert alert_positions(result) == []


def test_the_band_is_never_narrower_than_five_percent_of_the_baseline():
    result = detect(daily(120, noise=0.0)).dropna()
    assert (result["upper"] - result["baseline"]).min() == pytest.approx(5.0)


def test_gaps_and_jitter_in_the_timestamps_change_nothing_essential():
    rng = np.random.default_rng(7)
    values = daily(365, weekend_drop=30)
    values.index = values.index + pd.to_timedelta(rng.integers(-20, 21, 365), unit="min")
    values = values[rng.random(365) > 0.2]
    values.iloc[[40, 90, 91]] = np.nan
    clean = detect(values)
    assert alert_positions(clean) == []
    assert not clean["anomalous"].iloc[[40, 90, 91]].any()
    values.iloc[200:206] += 70
    assert alert_positions(detect(values)) == [200]


def test_no_band_and_no_alert_before_two_weeks_of_history():
    values = daily(40)
    values.iloc[:12] += np.linspace(0, 500, 12)  # wild start: nothing can be judged yet
    result = detect(values)
    assert result[BAND].iloc[:MIN_HISTORY_DAYS].isna().all().all()
    assert result[BAND].iloc[MIN_HISTORY_DAYS:].notna().all().all()
    assert not result["anomalous"].iloc[:MIN_HISTORY_DAYS].any()
    assert alert_positions(detect(values.iloc[:MIN_HISTORY_DAYS])) == []


def test_missing_values_are_never_anomalous_and_never_count_as_history():
    values = daily(60)
    values.iloc[:10] = np.nan
    values.iloc[30] = np.nan
    result = detect(values)
    assert result["baseline"].iloc[: 10 + MIN_HISTORY_DAYS].isna().all()
    assert result["baseline"].iloc[10 + MIN_HISTORY_DAYS :].notna().all()
    assert not result["anomalous"].iloc[:10].any() and not result["anomalous"].iloc[30]


def test_intraday_data_learns_the_time_of_day_and_catches_an_outage():
    rng = np.random.default_rng(11)
    index = pd.date_range("2024-03-04", periods=288 * 21, freq="5min")
    index = index + pd.to_timedelta(rng.integers(-30, 31, len(index)), unit="s")
    hours = index.hour + index.minute / 60
    values = pd.Series(50 + 30 * np.sin(2 * np.pi * hours / 24), index=index)
    values += rng.normal(0, 2, len(index))
    values = values[rng.random(len(index)) > 0.05]
    assert alert_positions(detect(values)) == []
    outage = (values.index >= "2024-03-20 10:00") & (values.index < "2024-03-20 12:00")
    values[outage] = 0.0
    alerts = alert_positions(detect(values))
    assert len(alerts) == 1 and outage[alerts[0]]


def test_a_sustained_intraday_excursion_soon_after_a_big_spike_alerts_as_a_surge(monkeypatch):
    """Not a record (the spike two days before was farther out), yet two hours out of the band
    on a quiet five-minute series is news: the surge rule opens an incident; without it, none.
    """
    rng = np.random.default_rng(5)
    index = pd.date_range("2024-03-04", periods=288 * 21, freq="5min")
    hours = index.hour + index.minute / 60
    values = pd.Series(50 + 30 * np.sin(2 * np.pi * hours / 24), index=index)
    values += rng.normal(0, 2, len(index))
    band = detect(values)
    width = band["upper"] - band["baseline"]
    spike = index.get_loc(pd.Timestamp("2024-03-18 12:00"))
    values.iloc[spike] = band["upper"].iloc[spike] + 20 * width.iloc[spike]
    excursion = slice(
        index.get_loc(pd.Timestamp("2024-03-20 10:00")),
        index.get_loc(pd.Timestamp("2024-03-20 12:00")),
    )
    values.iloc[excursion] = (band["upper"] + 2 * width).iloc[excursion]  # 3 widths out
    alerts = alert_positions(detect(values))
    assert alerts[0] == spike and len(alerts) == 2
    assert excursion.start <= alerts[1] < excursion.start + 12  # within its first hour
    monkeypatch.setattr(anomaly, "SETTINGS", dataclasses.replace(SETTINGS, surge_sigmas=math.inf))
    assert alert_positions(detect(values)) == [spike]


def test_repeated_timestamps_are_judged_in_the_order_given():
    values = daily(60)
    repeated = pd.concat([values, values.iloc[[30]] + 1.0]).sort_index(kind="stable")
    result = detect(repeated)
    assert result.index.equals(repeated.index)
    assert len(result) == 61 and not result["anomalous"].any()


def test_a_time_zone_aware_index_is_read_on_its_own_clock():
    values = daily(120, weekend_drop=40)
    aware = values.tz_localize("Europe/Berlin")
    result = detect(aware)
    assert result.index.equals(aware.index)
    np.testing.assert_allclose(result["baseline"], detect(values)["baseline"])


# --- direction ---


def test_direction_picks_the_side_that_alerts_and_leaves_the_band_alone():
    rise = daily(200)
    rise.iloc[150:155] += 60
    drop = daily(200)
    drop.iloc[150:155] -= 60
    assert alert_positions(detect(rise, direction="above")) == [150]
    assert alert_positions(detect(rise, direction="below")) == []
    assert alert_positions(detect(drop, direction="below")) == [150]
    assert alert_positions(detect(drop, direction="above")) == []
    assert alert_positions(detect(drop, direction="both")) == [150]
    above, below = detect(rise, direction="above"), detect(rise, direction="below")
    pd.testing.assert_frame_equal(above[BAND], below[BAND])
    assert not below["anomalous"].iloc[150:155].any()


# --- no look-ahead ---


def test_changing_the_future_never_changes_the_past_explicitly():
    values = daily(200, weekend_drop=30)
    past = detect(values).iloc[:120]
    values.iloc[120:] = np.linspace(-500, 500, 80)
    pd.testing.assert_frame_equal(detect(values).iloc[:120], past)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    length=st.integers(20, 120),
    cut=st.floats(0.1, 0.9),
    future=st.lists(st.one_of(st.floats(-1e3, 1e3), st.just(float("nan"))), min_size=1),
)
def test_changing_the_future_never_changes_the_past(seed, length, cut, future):
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=length, freq="D")
    values = pd.Series(100 + rng.standard_t(3, length) * 5, index=index)
    values.iloc[rng.integers(0, length, 3)] += 80
    split = int(cut * length)
    past = detect(values).iloc[:split]
    changed = values.copy()
    changed.iloc[split:] = np.resize(np.array(future), length - split)
    pd.testing.assert_frame_equal(detect(changed).iloc[:split], past)


# --- bad input ---


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ([1.0, 2.0], TypeError, "pandas Series"),
        (pd.Series([1.0, 2.0]), TypeError, "DatetimeIndex"),
        (pd.Series(["a", "b"], index=pd.date_range("2024-01-01", periods=2)), TypeError, "numeric"),
        (pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2024-01-01", None])), ValueError, "NaT"),
        (pd.Series([1.0] * 3, index=pd.DatetimeIndex(["2024-01-01"] * 3)), ValueError, "distinct"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(values, error, message):
    with pytest.raises(error, match=message):
        detect(values)


def test_an_unknown_direction_is_refused():
    with pytest.raises(ValueError, match="'above', 'below' or 'both'"):
        detect(daily(30), direction="up")
