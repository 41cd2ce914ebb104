"""Time the daily monitoring job on 10,000 enrolled models with a year of daily metrics.

Run: python bench/monitor_bench.py [--models N] [--days N] [--database-url URL] [--rebuild]
     [--window-check]

Builds (once, cached under bench/out/, git-ignored) a SQLite database with N production models
enrolled in monitoring (25 per customer, the Enterprise cap) and N × days rows of daily metrics
(3.65 M by default) through `data_access.bulk.bulk_insert`, with incidents injected into about
3 % of the models near the end. Then it clears the alerts and times the job: three fresh days
in a row (each opens and closes alerts), and three idempotent re-runs of the last day; the
median re-run is the headline. Target: a day in under 60 s. Peak memory is the process's
maximum resident set size. `--window-check` also prints how often a shorter history window
changes the detector's verdict on the last day (the reason the job scores a full year).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import delete, func, select  # noqa: E402
from sqlmodel import Session  # noqa: E402

from data_access.actor import Actor  # noqa: E402
from data_access.bulk import bulk_insert, reset_sequences  # noqa: E402
from data_access.db import make_engine, session_scope  # noqa: E402
from data_access.migrate import upgrade  # noqa: E402
from data_access.models import (  # noqa: E402
    Alert,
    AlertContactLog,
    Contact,
    Customer,
    ModelMetricDaily,
    PlanningModel,
    Region,
    Workspace,
)
from data_access.monitor import ACTOR, HISTORY_DAYS, run_monitor  # noqa: E402
from data_access.policies import seed_default_policies  # noqa: E402
from domain.anomaly import detect_many  # noqa: E402
from domain.monitoring import COUNT_METRICS, METRICS  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
LAST_DAY = date(2026, 10, 31)
MODELS_PER_CUSTOMER = 25
LEVELS = {
    "open_time_s": 20.0,
    "import_s": 45.0,
    "export_s": 30.0,
    "processing_s": 120.0,
    "times_accessed": 400.0,
    "users": 60.0,
    "changes": 900.0,
}
NOISE = {"open_time_s": 0.06, "import_s": 0.1, "export_s": 0.1, "processing_s": 0.08}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _estate(session: Session, models: int) -> None:
    seed_default_policies(session=session)
    region = Region(code="EMEA", name="EMEA", timezone="Europe/London", holiday_country="GB")
    session.add(region)
    session.flush()
    customers = -(-models // MODELS_PER_CUSTOMER)
    connection = session.connection()
    ids = np.arange(1, customers + 1)
    bulk_insert(
        connection,
        Customer.__table__,
        pd.DataFrame(
            {
                "id": ids,
                "name": [f"Bench customer {i}" for i in ids],
                "tier": "enterprise",
                "region_id": region.id,
                "hypercare_start": "2024-01-01",
                "size_band": "medium",
                "licensed_users": 100,
                "is_active": True,
                "created_at": pd.Timestamp("2024-01-01", tz="UTC"),
            }
        ),
    )
    bulk_insert(
        connection,
        Contact.__table__,
        pd.DataFrame(
            {
                "customer_id": ids,
                "name": [f"Contact {i}" for i in ids],
                "preferred_channel": np.array(["email", "phone", "chat"])[ids % 3],
                "is_primary": True,
            }
        ),
    )
    bulk_insert(
        connection,
        Workspace.__table__,
        pd.DataFrame(
            {"id": ids, "customer_id": ids, "name": "WS", "size_gb": 10.0, "allowance_gb": 100.0}
        ),
    )
    model_ids = np.arange(1, models + 1)
    owner = (model_ids - 1) // MODELS_PER_CUSTOMER + 1
    bulk_insert(
        connection,
        PlanningModel.__table__,
        pd.DataFrame(
            {
                "id": model_ids,
                "workspace_id": owner,
                "customer_id": owner,
                "name": [f"Model {i} PROD" for i in model_ids],
                "is_production": True,
                "in_monitoring": True,
                "in_weekly_report": True,
            }
        ),
    )
    reset_sequences(connection, [Customer.__table__, Workspace.__table__, PlanningModel.__table__])


def _metrics(session: Session, models: int, days: int, progress) -> int:
    """Weekly rhythm and noise per model; ~3 % of models get a 3–5 day incident in the last week."""
    rng = np.random.default_rng(42)
    calendar = pd.date_range(end=LAST_DAY, periods=days, freq="D")
    day_text = calendar.strftime("%Y-%m-%d").to_numpy()
    workday = np.where(calendar.day_of_week < 5, 1.0, 0.3)[:, None]
    written, chunk = 0, 500
    for first in range(1, models + 1, chunk):
        ids = np.arange(first, min(first + chunk, models + 1))
        scale = rng.uniform(0.5, 3.0, len(ids))
        columns = {}
        for metric in METRICS:
            noise = rng.normal(1.0, NOISE.get(metric, 0.08), (days, len(ids))).clip(0.3)
            level = LEVELS[metric] * scale * noise
            if metric in COUNT_METRICS:
                level = np.round(level * workday)
            columns[metric] = level
        hit = rng.random(len(ids)) < 0.03
        for k in np.flatnonzero(hit):
            start = int(rng.integers(days - 6, days - 2))
            window = slice(start, start + int(rng.integers(3, 6)))
            metric = METRICS[int(rng.integers(len(METRICS)))]
            columns[metric][window, k] *= 0.1 if metric in COUNT_METRICS else 4.0
            if metric in COUNT_METRICS:
                columns[metric][window, k] = np.round(columns[metric][window, k])
        frame = pd.DataFrame(
            {
                "model_id": np.tile(ids, days),
                "day": np.repeat(day_text, len(ids)),
                **{
                    metric: (
                        values.reshape(-1).astype(np.int64)
                        if metric in COUNT_METRICS
                        else values.reshape(-1).round(2)
                    )
                    for metric, values in columns.items()
                },
            }
        )
        written += bulk_insert(session.connection(), ModelMetricDaily.__table__, frame)
        progress(written)
    return written


def build(url: str, models: int, days: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        rows = session.exec(select(func.count()).select_from(ModelMetricDaily)).one()[0]
        enrolled = session.exec(select(func.count()).select_from(PlanningModel)).one()[0]
    if rows == models * days and enrolled == models:
        print(f"Using the cached database: {enrolled:,} models, {rows:,} metric rows.")
        return
    if rows or enrolled:
        raise SystemExit("The bench database holds other data; rerun with --rebuild.")
    started = time.perf_counter()
    with session_scope(engine) as session:
        _estate(session, models)
        total = _metrics(
            session,
            models,
            days,
            lambda done: print(f"\r  metric rows written: {done:,}", end="", flush=True),
        )
    print(f"\nBuilt {models:,} models and {total:,} rows in {time.perf_counter() - started:.0f} s.")
    engine.dispose()


def time_job(url: str, days_to_time: list[date], reruns: int) -> None:
    engine = make_engine(url)
    with session_scope(engine) as session:
        session.execute(delete(AlertContactLog))
        session.execute(delete(Alert))

    def one(day: date):
        started = time.perf_counter()
        with session_scope(engine) as session:
            run = run_monitor(session=session, actor=Actor.system(ACTOR), day=day)
        return run, time.perf_counter() - started

    print(
        f"\n{'run':<22} {'total s':>8} {'load s':>7} {'score s':>8} {'write s':>8} "
        f"{'series':>7} {'outside':>8} {'opened':>7} {'closed':>7} {'open':>5}"
    )

    def show(label: str, run, seconds: float) -> None:
        print(
            f"{label:<22} {seconds:>8.1f} {run.load_seconds:>7.1f} {run.score_seconds:>8.1f} "
            f"{run.write_seconds:>8.2f} {run.series:>7,} {run.anomalous:>8,} {run.opened:>7} "
            f"{run.closed:>7} {run.open_alerts:>5}"
        )

    fresh = []
    for day in days_to_time:
        run, seconds = one(day)
        fresh.append(seconds)
        show(f"fresh day {day}", run, seconds)
    again = []
    for k in range(reruns):
        run, seconds = one(days_to_time[-1])
        again.append(seconds)
        show(f"re-run {days_to_time[-1]} #{k + 1}", run, seconds)
        assert run.opened == 0 and run.closed == 0, "a re-run must change nothing"
    print(
        f"\nMedian of {len(fresh)} fresh days: {statistics.median(fresh):.1f} s; median of "
        f"{reruns} re-runs: {statistics.median(again):.1f} s (target: under 60 s). "
        f"History scored: {HISTORY_DAYS} days per series."
    )
    engine.dispose()


def window_check(series: int = 3_000) -> None:
    """Verdicts with a shorter history against two years of history, on four late days."""
    rng = np.random.default_rng(5)
    days = 730
    index = pd.date_range("2024-11-01", periods=days, freq="D")
    weekend = (index.day_of_week >= 5)[:, None]
    values = rng.uniform(5, 500, series) * (
        1 + rng.normal(0, 1, (days, series)) * rng.uniform(0.01, 0.3, series)
    )
    values = np.where(weekend, values * rng.uniform(0.1, 1, series), values)
    for k in range(0, series, 4):
        start = int(rng.integers(100, days - 3))
        values[start : start + int(rng.integers(1, 8)), k] *= rng.uniform(0, 5)
    for k in range(1, series, 5):
        values[int(rng.integers(100, days)) :, k] *= rng.uniform(0.3, 3)
    frame = pd.DataFrame(values, index=index)
    full = detect_many(frame, directions="above")
    ends = [days - 21, days - 14, days - 7, days]
    print(
        f"\nWindow check: {series:,} synthetic series, verdicts on {len(ends)} late days with a "
        "shorter history against 730 days:"
    )
    for window in (63, 91, 182, 365):
        differ, moved = 0, []
        for end in ends:
            part = detect_many(frame.iloc[end - window : end], directions="above")
            last = end - 1
            differ += int((part["anomalous"][-1] != full["anomalous"][last]).sum())
            width = np.abs(full["upper"][last] - full["baseline"][last])
            moved.append(np.abs(part["upper"][-1] - full["upper"][last]) / width)
        share = 100 * differ / (series * len(ends))
        print(
            f"  {window:>3} days: {differ:>3} of {series * len(ends):,} verdicts differ "
            f"({share:.2f} %); band edge moved by a median {100 * np.nanmedian(moved):.3f} % "
            "of the band's half-width"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--database-url", default=None, help="default: bench/out/ SQLite file")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    parser.add_argument("--reruns", type=int, default=3)
    parser.add_argument("--window-check", action="store_true")
    args = parser.parse_args()
    url = args.database_url
    if url is None:
        path = OUT / f"monitor_{args.models}x{args.days}.db"
        if args.rebuild:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    build(url, args.models, args.days)
    fresh_days = [LAST_DAY - timedelta(days=2), LAST_DAY - timedelta(days=1), LAST_DAY]
    time_job(url, fresh_days, args.reruns)
    print(f"Peak memory (max RSS): {peak_mb():,.0f} MB")
    if args.window_check:
        window_check()


if __name__ == "__main__":
    main()
