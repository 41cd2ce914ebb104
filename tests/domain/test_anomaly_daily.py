"""The detector in the product's own regime: generated daily model metrics (tests/domain/daily_metrics.py)."""

import numpy as np
import pandas as pd

from domain.anomaly import detect
from tests.domain.daily_metrics import SHIFT_WINDOW_DAYS, SPIKE_WINDOW_DAYS, daily_metric


def test_the_generator_labels_incidents_after_eight_weeks_and_drops_some_days():
    metric = daily_metric(3)
    index = metric.values.index
    assert metric.windows, "a two-year series has incidents"
    first_day = pd.Timestamp("2024-01-01")
    for start, end in metric.windows:
        assert start >= first_day + pd.Timedelta(weeks=8)
        assert (end - start).days + 1 in (SHIFT_WINDOW_DAYS, SPIKE_WINDOW_DAYS)
    assert 0 < 730 - len(index) < 60  # a few missing days
    assert len(metric.holidays) == 2
    assert (metric.values > 0).all()


def test_the_generator_is_reproducible_and_quiet_without_incidents():
    a, b = daily_metric(7), daily_metric(7)
    pd.testing.assert_series_equal(a.values, b.values)
    assert daily_metric(7, incidents=False).windows == []


def test_a_quiet_model_raises_at_most_the_holiday_alerts():
    for seed in range(6):
        quiet = daily_metric(seed, incidents=False)
        alerts = quiet.values.index[detect(quiet.values, direction="both")["alert"].to_numpy()]
        outside_holidays = [
            t
            for t in alerts
            if not any(a <= t <= b + pd.Timedelta(days=7) for a, b in quiet.holidays)
        ]
        assert len(outside_holidays) <= 1, (seed, outside_holidays)


def test_labelled_incidents_are_found_and_alerts_outside_them_are_rare():
    found = total = stray = 0
    for seed in range(6):
        metric = daily_metric(seed)
        alerts = metric.values.index[detect(metric.values, direction="both")["alert"].to_numpy()]
        for start, end in metric.windows:
            total += 1
            found += bool(np.any((alerts >= start) & (alerts <= end)))
        stray += sum(not any(a <= t <= b for a, b in metric.windows) for t in alerts)
    assert found >= total / 3, (found, total)
    assert stray <= found / 4, (stray, found)
