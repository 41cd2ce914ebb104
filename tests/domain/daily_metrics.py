"""Realistic daily model metrics with labelled incidents, for tests and bench/anomaly_eval.py.

One series is one model's metric (e.g. import minutes) at one point a day: a weekly rhythm
(weekends lighter), multiplicative noise, slow growth over the year, missing days, holiday weeks
(lower, but expected: not an incident) and the labelled incidents a CSM must hear about:

- a level shift after a model change (the metric jumps or drops by a third or more and stays);
  its window is the change day and the six days after;
- a single-day spike (two to four times the usual value, or a drop to a fifth of it); its window
  is that day and the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

WEEKDAY_SHAPE = np.array([1.05, 1.0, 1.0, 1.0, 0.95, 0.55, 0.5])  # Monday first
SHIFT_WINDOW_DAYS = 7
SPIKE_WINDOW_DAYS = 2


@dataclass(frozen=True)
class DailyMetric:
    """A generated series (missing days dropped) and its incident windows, inclusive days."""

    values: pd.Series
    windows: list[tuple[pd.Timestamp, pd.Timestamp]]
    holidays: list[tuple[pd.Timestamp, pd.Timestamp]]


def daily_metric(
    seed: int,
    *,
    days: int = 730,
    start: str = "2024-01-01",
    level: float | None = None,
    incidents: bool = True,
) -> DailyMetric:
    """One model's daily metric over `days` days from `start`, with its labelled incidents.

    `incidents=False` gives the same model's quiet life: rhythm, growth, holidays, gaps. Incidents start after eight weeks (the detector's history) and are at least five weeks
    apart, so each labelled window belongs to one incident.
    """
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=days, freq="D")
    base = level if level is not None else float(rng.uniform(8, 60))
    growth = rng.uniform(-0.05, 0.35)  # a year's slow drift, not an incident
    noise = rng.uniform(0.04, 0.12)
    t = np.arange(days)
    rhythm = WEEKDAY_SHAPE[index.day_of_week.to_numpy()]
    trend = (1 + growth) ** (t / 365)
    factor = np.ones(days)
    windows: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    day = 56 + int(rng.integers(0, 35))
    while incidents and day < days - 14:
        if rng.random() < 0.4:
            size = rng.choice([-1, 1]) * rng.uniform(0.35, 0.8)
            factor[day:] *= 1 + size if size > 0 else 1 / (1 - size)
            windows.append((index[day], index[min(day + SHIFT_WINDOW_DAYS - 1, days - 1)]))
        else:
            factor[day] *= rng.uniform(2.0, 4.0) if rng.random() < 0.75 else 0.2
            windows.append((index[day], index[min(day + SPIKE_WINDOW_DAYS - 1, days - 1)]))
        day += 35 + int(rng.integers(0, 70))
    holidays = []
    for year in sorted(set(index.year)):
        first = pd.Timestamp(f"{year}-12-24")
        week = (index >= first) & (index < first + pd.Timedelta(days=7))
        if week.any():
            factor[week] *= 0.75
            holidays.append((first, first + pd.Timedelta(days=6)))
    values = base * rhythm * trend * factor * rng.lognormal(0, noise, days)
    present = rng.random(days) > 0.03
    return DailyMetric(pd.Series(values[present], index=index[present]), windows, holidays)
