"""Benchmark: how long `python -m seed` takes to write N cases (default 1,000,000) on SQLite.

Run: `.venv/bin/python bench/seed_bench.py [--cases N] [--repeat R]`. Prints each run and the
median; the target is well under two minutes for a million cases on the embedded default.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from data_access.db import make_engine  # noqa: E402
from data_access.migrate import upgrade  # noqa: E402
from seed.demo import SeedOptions, seed_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    arguments = parser.parse_args()
    runs = []
    for run in range(arguments.repeat):
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{folder}/bench.db")
            upgrade(engine)
            options = SeedOptions(
                seed=run, customers=arguments.customers, cases=arguments.cases, days=365
            )
            started = time.perf_counter()
            report = seed_database(engine, options)
            elapsed = time.perf_counter() - started
            with engine.connect() as connection:
                events = connection.execute(text("SELECT count(*) FROM case_event")).scalar()
            engine.dispose()
        runs.append(elapsed)
        print(
            f"run {run + 1}: {report.counts['cases']:,} cases, {events:,} case events, "
            f"{report.counts['metric_rows']:,} metric rows in {elapsed:.1f}s"
        )
    print(f"median {statistics.median(runs):.1f}s over {len(runs)} run(s)")


if __name__ == "__main__":
    main()
