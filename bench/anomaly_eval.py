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

NAB score: NAB's own scoring rule, re-implemented here (it gives the same figures as
../shared/tools/nab_score/nab_score.py, which runs NAB's code): the earliest alert in each window
earns up to 1 by how early it comes, a missed window costs 1 (2 in the low-FN profile), an alert
outside every window costs 0.11 (0.22 in the low-FP profile) or less just after a window;
normalised so the null detector (never alerts) scores 0 and the perfect one 100. NAB's probation
is the first 15 % of a file's points, at most 750.

Settings are chosen by leave-one-folder-out: for each folder, the candidate in GRID that does best
on all the *other* folders is picked (see `objective`: no false alarm on the folders without
windows, most folders meeting the targets, then the NAB standard score, then micro-F1), and only
then scored on the held-out folder. The
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
import math
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
TARGET_PER_WINDOW = 3.0
NAB_PROBATION_CAP = 750
# NAB's application profiles: (weight of a false alarm, weight of a missed window); a found
# window earns up to 1 in each.
NAB_PROFILES = {
    "standard": (0.11, 1.0),
    "reward_low_FP_rate": (0.22, 1.0),
    "reward_low_FN_rate": (0.11, 2.0),
}
# Settings that change the band (expensive, cached) and those that only change the alerts.
BAND_GRID: list[dict] = [{"band_sigmas": s} for s in (4.0, 3.0)]
ALERT_GRID: list[dict] = [
    {
        "record_cycles": r,
        "long_record_share": share,
        "cooldown_cycles": c,
        "alert_gate": g,
        "surge_sigmas": surge,
    }
    for r in (5.0, 7.0)
    for share in (0.5, 0.7, 0.85)
    for c in (0.5, 1.0)
    for g in (1.25, 1.5)
    for surge in (5.0, math.inf)  # inf: no surge rule, records only
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
    nab: tuple[float, ...] = (0.0,) * len(NAB_PROFILES)  # NAB raw score per profile
    nab_null: tuple[float, ...] = (0.0,) * len(NAB_PROFILES)  # the null detector's
    nab_windows: int = 0  # NAB's perfect raw score: one per labelled window

    def __add__(self, other: Score) -> Score:
        def add(a, b):
            return (
                tuple(x + y for x, y in zip(a, b, strict=True)) if isinstance(a, tuple) else a + b
            )

        return Score(*(add(a, b) for a, b in zip(self.counts(), other.counts(), strict=True)))

    def counts(self) -> tuple:
        return (
            self.alerts,
            self.hits,
            self.windows,
            self.found,
            self.points,
            self.nab,
            self.nab_null,
            self.nab_windows,
        )

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

    def nab_score(self, profile: str = "standard") -> float | None:
        """NAB's normalised score: 0 for the null detector, 100 for the perfect one."""
        k = list(NAB_PROFILES).index(profile)
        span = self.nab_windows - self.nab_null[k]
        return 100 * (self.nab[k] - self.nab_null[k]) / span if span else None


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
    """Hits and found windows after the probation period, and NAB's raw scores."""
    index = labelled.series.index
    start = index[int(PROBATION * len(index))]
    times = index[alerts & (index >= start)]
    windows = [(low, high) for low, high in labelled.windows if high >= start]
    inside = np.zeros((len(times), len(windows)), dtype=bool)
    for k, (low, high) in enumerate(windows):
        inside[:, k] = (times >= low) & (times <= high)
    nab = [nab_raw(labelled, alerts, *weights) for weights in NAB_PROFILES.values()]
    return Score(
        alerts=len(times),
        hits=int(inside.any(axis=1).sum()),
        windows=len(windows),
        found=int(inside.any(axis=0).sum()),
        points=int((index >= start).sum()),
        nab=tuple(raw for raw, _ in nab),
        nab_null=tuple(null for _, null in nab),
        nab_windows=len(labelled.windows),
    )


def _scaled_sigmoid(position: float) -> float:
    """NAB's reward by position: -1 at a window's start, 0 at its end, towards -1 past it."""
    return -1.0 if position > 3.0 else 2 / (1 + math.exp(5 * position)) - 1.0


def nab_raw(
    labelled: Labelled, alerts: np.ndarray, fp_weight: float, fn_weight: float
) -> tuple[float, float]:
    """NAB's raw score for one file (`alerts` on the time-sorted series), and the null detector's.

    As NAB's sweeper: after the probation, each window scores its earliest alert (1 at the
    window's start, falling to 0 at its end) or -`fn_weight` if it has none; an alert outside
    every window costs `fp_weight` times -1, or less if it follows a window closely.
    """
    index = labelled.series.index
    probation = min(math.floor(PROBATION * len(index)), PROBATION * 5000)
    spans = [
        (int(index.searchsorted(low, "left")), int(index.searchsorted(high, "right")) - 1)
        for low, high in labelled.windows
    ]
    scored = [k for k, (_, high) in enumerate(spans) if high >= probation]
    best = {k: -fn_weight for k in scored}
    false = 0.0
    for i in np.flatnonzero(alerts).tolist():
        if i < probation:
            continue
        within = [k for k, (low, high) in enumerate(spans) if low <= i <= high]
        if within:
            low, high = spans[within[0]]
            reward = _scaled_sigmoid(-(high - i + 1) / (high - low + 1)) / _scaled_sigmoid(-1.0)
            best[within[0]] = max(best[within[0]], reward)
            continue
        before = [(low, high) for low, high in spans if high < i]
        if before:
            low, high = before[-1]
            false += fp_weight * _scaled_sigmoid((i - high) / max(high - low, 1))
        else:
            false -= fp_weight
    return false + sum(best.values()), -fn_weight * len(scored)


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
    "surge_cap",
    "surge_cycles",
    "surge_history_cycles",
    "surge_sigmas",
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
    windows, then most folders meeting F1 >= 0.5 with at most 3 alerts per window (the large
    generated folder cannot outvote the NAB folders), then the NAB standard score over these
    folders' NAB series, then micro-F1.
    """
    clean_false = sum(scores[f].alerts for f in folders if not scores[f].windows)
    passing = sum(
        (scores[f].f1 or 0.0) >= TARGET_F1 and (scores[f].per_window or 0.0) <= TARGET_PER_WINDOW
        for f in folders
        if scores[f].windows
    )
    nab = micro(scores, [f for f in folders if f != DAILY]).nab_score() or 0.0
    return (-clean_false, passing, round(nab, 2), round(micro(scores, folders).f1 or 0.0, 4))


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
        if nab_only:
            nab_naive = micro(naive, nab_only)
            for label, total in (("ours", nab_ours), ("naive", nab_naive)):
                print(
                    f"NAB score, NAB folders, {label}: "
                    + ", ".join(f"{p} {total.nab_score(p):.1f}" for p in NAB_PROFILES)
                )
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
