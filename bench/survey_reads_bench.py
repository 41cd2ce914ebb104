"""The survey pages' reads, called directly as the manager (every customer), on the page
benchmark's small and large databases: median CPU milliseconds of `--calls` calls each.

Run: `.venv/bin/python bench/survey_reads_bench.py [--engines sqlite postgresql] [--calls 25]`.
On PostgreSQL the server's work is in its own process, so compare the wall time there (`--wall`).
Builds (and caches) the databases on first use, as `bench/pages_bench.py` does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session  # noqa: E402

from bench import bench_databases  # noqa: E402
from data_access.db import make_engine  # noqa: E402
from data_access.scope import Scope  # noqa: E402
from data_access.survey_campaigns import campaigns_for_staff  # noqa: E402
from data_access.survey_results import (  # noqa: E402
    ResultFilters,
    campaigns_in_scope,
    comment_page,
    scored_responses,
    survey_overview,
)


def median_ms(action, calls: int, clock) -> float:
    times = []
    for _ in range(calls):
        started = clock()
        action()
        times.append(clock() - started)
    return 1000 * statistics.median(times)


def measure(url: str, calls: int, clock) -> dict[str, float]:
    engine = make_engine(url)
    scope, filters = Scope(user_id=0, all_customers=True), ResultFilters()
    today = datetime.now(UTC).date()
    try:
        with Session(engine) as session:
            campaigns = campaigns_in_scope(session=session, scope=scope)
            scored = scored_responses(
                session=session, scope=scope, filters=filters, campaigns=campaigns
            )
            reads = {
                "campaigns_in_scope": lambda: campaigns_in_scope(session=session, scope=scope),
                "scored_responses": lambda: scored_responses(
                    session=session, scope=scope, filters=filters, campaigns=campaigns
                ),
                "survey_overview": lambda: survey_overview(
                    session=session, scope=scope, filters=filters, scored=scored, comments=False
                ),
                "comment_page": lambda: comment_page(session=session, scope=scope, filters=filters),
                "campaigns_for_staff": lambda: campaigns_for_staff(session=session, today=today),
            }
            found = {"campaigns": len(campaigns)}
            found.update({name: median_ms(read, calls, clock) for name, read in reads.items()})
            return found
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--engines", nargs="+", default=["sqlite"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--calls", type=int, default=25)
    parser.add_argument("--wall", action="store_true", help="wall time instead of CPU time")
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    options = parser.parse_args()
    clock = time.perf_counter if options.wall else time.process_time
    for engine in options.engines:
        for size in ("small", "large"):
            url = bench_databases.ensure(bench_databases.sizes(options.quick)[size], engine)
            found = measure(url, options.calls, clock)
            print(
                f"{engine} {size} ({found.pop('campaigns')} campaigns): "
                + ", ".join(f"{name} {ms:.1f} ms" for name, ms in found.items()),
                flush=True,
            )


if __name__ == "__main__":
    main()
