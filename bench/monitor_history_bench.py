"""Is the daily job's time per day flat in the length of stored history? 1 year against 3 years.

Run: python bench/monitor_history_bench.py [--models N] [--reruns K]

Uses (and builds once, through bench/monitor_bench.py's builder) the cached SQLite databases
bench/out/monitor_{N}x365.db and bench/out/monitor_{N}x1095.db: the same estate with one and with
three years of daily metrics. Then it re-runs the job on the last day (idempotent) K times on
each, interleaved so that a busy machine slows both alike, and prints the median total, load and
score seconds. The job reads and scores the fixed `HISTORY_DAYS` window whatever the history.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.monitor_bench import LAST_DAY, OUT, build  # noqa: E402
from data_access.actor import Actor  # noqa: E402
from data_access.db import make_engine, session_scope  # noqa: E402
from data_access.monitor import ACTOR, HISTORY_DAYS, run_monitor  # noqa: E402

YEARS = {"1 year": 365, "3 years": 1095}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--reruns", type=int, default=3)
    args = parser.parse_args()
    urls = {
        label: f"sqlite:///{OUT / f'monitor_{args.models}x{days}.db'}"
        for label, days in YEARS.items()
    }
    for label, days in YEARS.items():
        build(urls[label], args.models, days)
    engines = {label: make_engine(url) for label, url in urls.items()}
    actor = Actor.system(ACTOR)
    timings: dict[str, list[tuple[float, float, float]]] = {label: [] for label in YEARS}
    for k in range(args.reruns):
        for label, engine in engines.items():
            started = time.perf_counter()
            with session_scope(engine) as session:
                run = run_monitor(session=session, actor=actor, day=LAST_DAY)
            total = time.perf_counter() - started
            timings[label].append((total, run.load_seconds, run.score_seconds))
            print(f"  {label:<8} run {k + 1}: {total:.1f} s", flush=True)
    print(f"\n{args.models:,} models, re-run of {LAST_DAY}, {HISTORY_DAYS} days scored per series:")
    for label, runs in timings.items():
        total, load, score = (statistics.median(r[i] for r in runs) for i in range(3))
        print(
            f"  {label:<8} history: median {total:.1f} s a day (load {load:.1f} s, score {score:.1f} s)"
        )
    for engine in engines.values():
        engine.dispose()


if __name__ == "__main__":
    main()
