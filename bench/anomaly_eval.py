"""Score `domain.anomaly.detect` on every labelled folder, held out, beside a naive baseline.

Run: python bench/anomaly_eval.py [--data DIR] [--folders a,b] [--daily-series N] [--quick]

Folders: every NAB category folder under DIR (default ../shared/data/nab) with its windows from
combined_windows.json, plus `dailyModelMetrics`, N generated daily model metrics with labelled
incidents (tests/domain/daily_metrics.py: weekly rhythm, level shifts after a model change, slow
growth, single-day spikes, holiday weeks, missing days): the product's own regime.

Scoring (event level, per folder, micro-averaged): the first 15 % of each file's points is a
probation period (alerts in it are ignored, windows lying entirely in it are dropped); precision =
alerts inside a window / alerts, recall = windows with at least one alert / windows. Also: alerts
per labelled window and false alarms (alerts outside every window) per 1,000 scored points.

Settings are chosen by leave-one-folder-out: for each folder, the candidate in GRID with the best
micro-F1 on all the *other* folders is picked, and only then scored on the held-out folder. The
shipped `domain.anomaly.SETTINGS` must be the candidate chosen on all folders together; the run
says whether it is, and prints the shipped settings' own per-folder table too.

The naive baseline (fixed, not tuned): rolling mean ± 4 sigma over the past 7 days, alert on the
third consecutive point outside it, then quiet until a point is back inside.

Band computations are cached per series and settings under bench/out/anomaly_cache (keyed by the
detector's source), so changing only the alert-side settings re-scores in seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import domain.anomaly as anomaly  # noqa: E402
from domain.anomaly import SETTINGS, DetectorSettings  # noqa: E402
from tests.domain.daily_metrics import daily_metric  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "nab"
CACHE = ROOT / "bench" / "out" / "anomaly_cache"
DAILY = "dailyModelMetrics"
PROBATION = 0.15
NAIVE_WINDOW = "7D"
NAIVE_SIGMAS = 4.0
NAIVE_PERSISTENCE = 3
NAIVE_MIN_POINTS = 10
TARGET_F1 = 0.5
# Settings that change the band (expensive, cached) and those that only change the alerts.
BAND_GRID: list[dict] = [{"band_sigmas": s} for s in (4.0, 3.0)]
ALERT_GRID: list[dict] = [
    {"record_cycles": r, "long_record_share": share, "cooldown_cycles": c, "alert_gate": g}
    for r in (5.0, 7.0)
    for share in (0.5, 0.7, 0.85)
    for c in (0.25, 0.5)
    for g in (1.0, 1.25)
]

Window = tuple[pd.Timestamp, pd.Timestamp]


@dataclass
class Score:
    """Counts behind precision and recall; they add up across files for the micro-average."""

    alerts: int = 0
    hits: int = 0
    windows: int = 0
    found: int = 0
    points: int = 0

    def __add__(self, other: Score) -> Score:
        return Score(*(a + b for a, b in zip(self.counts(), other.counts(), strict=True)))

    def counts(self) -> tuple[int, ...]:
        return (self.alerts, self.hits, self.windows, self.found, self.points)

    @property
    def precision(self) -> float | None:
        return self.hits / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        return self.found / self.windows if self.windows else None

    @property
    def f1(self) -> float | None:
        if not self.windows:
            return None
        p, r = self.precision or 0.0, self.recall or 0.0
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def per_window(self) -> float | None:
        return self.alerts / self.windows if self.windows else None

    @property
    def false_per_1000(self) -> float:
        return 1000 * (self.alerts - self.hits) / self.points if self.points else 0.0


@dataclass(frozen=True)
class Labelled:
    series: pd.Series
    windows: list[Window]


def load(data: Path, folders: list[str], daily_series: int) -> dict[str, dict[str, Labelled]]:
    """folder -> file -> series (time-sorted; NAB has a few out-of-order rows) and windows."""
    spans = json.loads((data / "combined_windows.json").read_text())
    present = sorted(p.name for p in data.iterdir() if p.is_dir() and any(p.glob("*.csv")))
    out: dict[str, dict[str, Labelled]] = {}
    for folder in [f for f in present if not folders or f in folders]:
        files = {}
        for path in sorted((data / folder).glob("*.csv")):
            key = f"{folder}/{path.name}"
            if key not in spans:
                continue
            frame = pd.read_csv(path, parse_dates=["timestamp"])
            series = pd.Series(
                frame["value"].to_numpy(float), index=pd.DatetimeIndex(frame["timestamp"])
            ).sort_index(kind="stable")
            windows = [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in spans[key]]
            files[path.name] = Labelled(series, windows)
        out[folder] = files
    if daily_series and (not folders or DAILY in folders):
        generated = (daily_metric(seed) for seed in range(daily_series))
        out[DAILY] = {
            f"model_{i:03}": Labelled(g.values, g.windows) for i, g in enumerate(generated)
        }
    return out


def score(labelled: Labelled, alerts: np.ndarray) -> Score:
    """Hits and found windows after the probation period."""
    index = labelled.series.index
    start = index[int(PROBATION * len(index))]
    times = index[alerts & (index >= start)]
    windows = [(low, high) for low, high in labelled.windows if high >= start]
    inside = np.zeros((len(times), len(windows)), dtype=bool)
    for k, (low, high) in enumerate(windows):
        inside[:, k] = (times >= low) & (times <= high)
    return Score(
        alerts=len(times),
        hits=int(inside.any(axis=1).sum()),
        windows=len(windows),
        found=int(inside.any(axis=0).sum()),
        points=int((index >= start).sum()),
    )


def naive_alerts(series: pd.Series) -> np.ndarray:
    """Rolling mean ± 4 sigma over the past 7 days; alert on the 3rd consecutive point outside."""
    past = series.rolling(NAIVE_WINDOW, min_periods=NAIVE_MIN_POINTS, closed="left")
    outside = ((series - past.mean()).abs() > NAIVE_SIGMAS * past.std()).to_numpy()
    run = np.zeros(len(series), dtype=int)
    for i in np.flatnonzero(outside):
        run[i] = run[i - 1] + 1 if i else 1
    return run == NAIVE_PERSISTENCE


# The band pass's own code (not the whole module, so a docstring edit keeps the cache).
_SOURCE = hashlib.sha256(
    "".join(
        inspect.getsource(part)
        for part in (
            anomaly._checked_values,
            anomaly._calendar,
            anomaly._SortedWindow,
            anomaly._Baseline,
            anomaly._band_in_time_order,
        )
    ).encode()
).hexdigest()[:12]
_ALERT_FIELDS = {
    "alert_gate",
    "close_after",
    "cooldown_cycles",
    "long_record_cycles",
    "long_record_share",
    "record_cycles",
    "record_min_cycles",
}


def _band_key(settings: DetectorSettings, name: str, series: pd.Series) -> str:
    band = {k: v for k, v in dataclasses.asdict(settings).items() if k not in _ALERT_FIELDS}
    digest = hashlib.sha256(
        repr((_SOURCE, sorted(band.items()), name, len(series), float(np.nansum(series)))).encode()
    )
    return digest.hexdigest()[:20]


def bands(settings: DetectorSettings, name: str, series: pd.Series):
    """The detector's band pass for one series (cached): sorted values, outside flags, cycle."""
    path = CACHE / f"{_band_key(settings, name, series)}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    x = anomaly._checked_values(series)
    order = np.argsort(anomaly._epoch_seconds(series.index), kind="stable")
    x = x[order]
    calendar = anomaly._calendar(series.index[order], settings)
    centre, below, above = anomaly._band_in_time_order(calendar, x, settings)
    result = (order, x, (centre, below, above), calendar)
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(result))
    return result


def our_alerts(settings: DetectorSettings, name: str, series: pd.Series) -> np.ndarray:
    """`detect(series, direction="both")["alert"]` for `settings`, from the cached band pass."""
    order, x, (centre, below, above), calendar = bands(settings, name, series)
    outside, record = anomaly._outside(
        x, centre, below, above, np.array("both"), calendar.cycle, settings
    )
    cooldown = anomaly._cooldown(calendar, settings)
    sorted_alerts = anomaly._opening_alerts(outside, record, ~np.isnan(x), settings, cooldown)
    alerts = np.empty_like(sorted_alerts)
    alerts[order] = sorted_alerts
    return alerts


def candidates() -> list[DetectorSettings]:
    """The grid, each candidate a full settings set; the shipped one is always included."""
    grid = [
        dataclasses.replace(SETTINGS, **band, **alert) for band in BAND_GRID for alert in ALERT_GRID
    ]
    return grid if SETTINGS in grid else [SETTINGS, *grid]


def folder_scores(
    data: dict[str, dict[str, Labelled]], settings: DetectorSettings
) -> dict[str, Score]:
    out = {}
    for folder, files in data.items():
        total = Score()
        for name, labelled in files.items():
            alerts = our_alerts(settings, f"{folder}/{name}", labelled.series)
            total = total + score(labelled, alerts)
        out[folder] = total
    return out


def micro(scores: dict[str, Score], folders: list[str]) -> Score:
    total = Score()
    for folder in folders:
        total = total + scores[folder]
    return total


def objective(scores: dict[str, Score], folders: list[str]) -> tuple:
    """Higher is better, in the order of the targets: fewest false alarms on folders without
    windows, then most folders at F1 >= 0.5 (the large generated folder cannot outvote the NAB
    folders), then micro-F1.
    """
    clean_false = sum(scores[f].alerts for f in folders if not scores[f].windows)
    passing = sum((scores[f].f1 or 0.0) >= TARGET_F1 for f in folders if scores[f].windows)
    return (-clean_false, passing, round(micro(scores, folders).f1 or 0.0, 4))


def describe(settings: DetectorSettings) -> str:
    changed = {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(settings)
        if getattr(settings, f.name) != f.default
    }
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "defaults"


def cells(result: Score) -> str:
    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return (
        f"{result.alerts:>6} {share(result.precision):>5} {share(result.recall):>5} "
        f"{share(result.f1):>5} {share(result.per_window):>5} {result.false_per_1000:>6.2f}"
    )


HEAD = f"{'alerts':>6} {'prec':>5} {'rec':>5} {'F1':>5} {'a/win':>5} {'FA/1k':>6}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="NAB data directory")
    parser.add_argument("--folders", default="", help="comma-separated folders (default: all)")
    parser.add_argument("--daily-series", type=int, default=60, help="generated daily series")
    parser.add_argument(
        "--quick", action="store_true", help="score the shipped settings only (no held-out tuning)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    data = load(args.data, [f for f in args.folders.split(",") if f], args.daily_series)
    folders = list(data)
    naive = {
        folder: micro(
            {n: score(lab, naive_alerts(lab.series)) for n, lab in files.items()}, list(files)
        )
        for folder, files in data.items()
    }
    for folder, files in data.items():  # the cached path is `detect` itself, with SETTINGS
        name, labelled = next(iter(files.items()))
        shipped = anomaly.detect(labelled.series, direction="both")["alert"].to_numpy()
        if not (our_alerts(SETTINGS, f"{folder}/{name}", labelled.series) == shipped).all():
            raise SystemExit(f"{folder}/{name}: the evaluated alerts differ from detect's.")
    grid = [SETTINGS] if args.quick else candidates()
    by_candidate = []
    for k, settings in enumerate(grid, 1):
        by_candidate.append(folder_scores(data, settings))
        print(f"\r  scored candidate {k}/{len(grid)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    def best(on: list[str]) -> int:
        return max(
            range(len(grid)),
            key=lambda c: objective(by_candidate[c], on),
        )

    print(f"Shipped settings: {describe(SETTINGS)}")
    chosen_all = best(folders)
    print(
        f"Chosen on all folders: {describe(grid[chosen_all])} -> "
        f"{'the shipped set' if grid[chosen_all] == SETTINGS else 'NOT the shipped set'}"
    )
    for title, pick in (
        (
            "HELD OUT (settings tuned on the other folders)",
            lambda f: best([g for g in folders if g != f]),
        ),
        ("SHIPPED settings on every folder", lambda f: grid.index(SETTINGS)),
    ):
        if args.quick and title.startswith("HELD"):
            continue
        print(f"\n{title}")
        print(f"{'folder':<24} {'windows':>7} | ours: {HEAD} | naive: {HEAD}")
        ours_total, naive_total = Score(), Score()
        for folder in folders:
            c = pick(folder)
            ours = by_candidate[c][folder]
            ours_total, naive_total = ours_total + ours, naive_total + naive[folder]
            print(
                f"{folder:<24} {ours.windows:>7} | ours: {cells(ours)} | naive: "
                f"{cells(naive[folder])}"
                + (f"   [{describe(grid[c])}]" if title.startswith("HELD") else "")
            )
        print(
            f"{'OVERALL (micro)':<24} {ours_total.windows:>7} | ours: {cells(ours_total)} | "
            f"naive: {cells(naive_total)}"
        )
        nab_only = [f for f in folders if f != DAILY]
        nab_ours = micro({f: by_candidate[pick(f)][f] for f in nab_only}, nab_only)
        print(f"{'NAB folders only (micro)':<24} {nab_ours.windows:>7} | ours: {cells(nab_ours)}")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
