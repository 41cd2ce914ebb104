"""Score `domain.anomaly.detect` on the labelled NAB realKnownCause series, beside a naive baseline.

Run: python bench/anomaly_eval.py [--data DIR] [--timing-series N]. DIR holds combined_windows.json
and realKnownCause/*.csv (default: ../shared/data/nab next to the repository).

Scoring, per file and micro-averaged over all files: the first 15 % of each file's points is a
probation period (alerts in it are ignored, windows lying entirely in it are dropped); precision =
alerts inside a window / alerts, recall = windows with at least one alert / windows. The naive
baseline is a rolling mean ± 4 sigma over the past 7 days that alerts on the third consecutive point
outside it. Both detectors watch both directions with one set of parameters for every file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.anomaly import SETTINGS, detect  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"
PROBATION = 0.15
NAIVE_WINDOW = "7D"
NAIVE_SIGMAS = 4.0
NAIVE_PERSISTENCE = 3
NAIVE_MIN_POINTS = 10

Window = tuple[pd.Timestamp, pd.Timestamp]


@dataclass
class Score:
    """Counts behind precision and recall; they add up across files for the micro-average."""

    alerts: int = 0
    hits: int = 0
    windows: int = 0
    found: int = 0

    def __add__(self, other: Score) -> Score:
        return Score(
            alerts=self.alerts + other.alerts,
            hits=self.hits + other.hits,
            windows=self.windows + other.windows,
            found=self.found + other.found,
        )

    @property
    def precision(self) -> float | None:
        return self.hits / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        return self.found / self.windows if self.windows else None

    @property
    def f1(self) -> float:
        p, r = self.precision or 0.0, self.recall or 0.0
        return 2 * p * r / (p + r) if p + r else 0.0


def load(data: Path) -> dict[str, tuple[pd.Series, list[Window]]]:
    """Each file's series (time-sorted; NAB has a few out-of-order rows) and its windows."""
    windows = json.loads((data / "combined_windows.json").read_text())
    files = {}
    for path in sorted((data / "realKnownCause").glob("*.csv")):
        frame = pd.read_csv(path, parse_dates=["timestamp"])
        series = pd.Series(
            frame["value"].to_numpy(float), index=pd.DatetimeIndex(frame["timestamp"])
        )
        spans = windows[f"realKnownCause/{path.name}"]
        files[path.name] = (
            series.sort_index(kind="stable"),
            [(pd.Timestamp(start), pd.Timestamp(end)) for start, end in spans],
        )
    return files


def score(series: pd.Series, windows: list[Window], alerts: pd.Series) -> Score:
    """Hits and found windows after the probation period."""
    start = series.index[int(PROBATION * len(series))]
    times = alerts.index[alerts.to_numpy() & (alerts.index >= start)]
    windows = [(low, high) for low, high in windows if high >= start]

    def inside(t: pd.Timestamp, low: pd.Timestamp, high: pd.Timestamp) -> bool:
        return low <= t <= high

    return Score(
        alerts=len(times),
        hits=sum(any(inside(t, *w) for w in windows) for t in times),
        windows=len(windows),
        found=sum(any(inside(t, *w) for t in times) for w in windows),
    )


def naive_alerts(series: pd.Series) -> pd.Series:
    """Rolling mean ± 4 sigma over the past 7 days; alert on the 3rd consecutive point outside."""
    past = series.rolling(NAIVE_WINDOW, min_periods=NAIVE_MIN_POINTS, closed="left")
    outside = ((series - past.mean()).abs() > NAIVE_SIGMAS * past.std()).to_numpy()
    run = np.zeros(len(series), dtype=int)
    for i in np.flatnonzero(outside):
        run[i] = run[i - 1] + 1 if i else 1
    return pd.Series(run == NAIVE_PERSISTENCE, index=series.index)


def our_alerts(series: pd.Series) -> tuple[pd.Series, float]:
    started = time.perf_counter()
    alerts = detect(series, direction="both")["alert"]
    return alerts, time.perf_counter() - started


def daily_timing_ms(count: int) -> float:
    """Median milliseconds of `detect` on `count` synthetic one-year daily series."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2025-01-01", periods=365, freq="D")
    weekend = np.where(index.day_of_week >= 5, 30.0, 0.0)
    durations = []
    for _ in range(count):
        series = pd.Series(100 - weekend + rng.normal(0, 5, len(index)), index=index)
        started = time.perf_counter()
        detect(series, direction="above")
        durations.append(time.perf_counter() - started)
    return 1000 * statistics.median(durations)


def cells(result: Score) -> str:
    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return (
        f"{result.alerts:>6} {result.hits:>4} {result.found:>3}/{result.windows:<3} "
        f"{share(result.precision):>5} {share(result.recall):>5} {result.f1:>5.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="NAB data directory")
    parser.add_argument("--timing-series", type=int, default=500, help="daily series to time")
    args = parser.parse_args()

    print("Settings:", ", ".join(f"{k}={v}" for k, v in asdict(SETTINGS).items()))
    head = f"{'alerts':>6} {'hits':>4} {'found':>7} {'prec':>5} {'rec':>5} {'F1':>5}"
    print(f"\n{'file':<42} {'points':>6} {'ms':>5} | ours: {head} | naive: {head}")
    ours_total, naive_total = Score(), Score()
    for name, (series, windows) in load(args.data).items():
        alerts, seconds = our_alerts(series)
        ours, naive = score(series, windows, alerts), score(series, windows, naive_alerts(series))
        ours_total, naive_total = ours_total + ours, naive_total + naive
        print(
            f"{name:<42} {len(series):>6} {1000 * seconds:>5.0f} | "
            f"ours: {cells(ours)} | naive: {cells(naive)}"
        )
    print(
        f"{'OVERALL (micro)':<42} {'':>6} {'':>5} | ours: {cells(ours_total)} | "
        f"naive: {cells(naive_total)}"
    )
    print(
        f"\nOverall F1: ours {ours_total.f1:.3f}, naive rolling mean ± 4 sigma {naive_total.f1:.3f}"
    )
    if args.timing_series:
        median_ms = daily_timing_ms(args.timing_series)
        print(
            f"detect on a 365-point daily series: median {median_ms:.2f} ms "
            f"over {args.timing_series} series"
        )


if __name__ == "__main__":
    main()
