"""Benchmark the case queue: the page costs what it shows, not what the history holds.

Targets: with 1,000,000 cases of which 5,000 open, the queue page's script run stays under 0.5 s
median, and computing clocks for 100,000 cases takes under 2 s. The same measurements run on a
10,000-case database with the same 5,000 open cases, printed side by side.

Run: .venv/bin/python bench/queue_bench.py [--runs N] [--sizes 10000 1000000]
The seeded databases are cached under bench/out/ (git-ignored) and reused when present; a
1,000,000-case SQLite seed takes about a minute to build the first time.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from sqlalchemy import (  # noqa: E402
    and_,  # noqa: E402
    event,
    func,
)
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.common import (  # noqa: E402
    load_average_line,
    median_seconds,
    page_run_timings,
    seeded_once,
    signed_in_page,
)
from data_access.attainment import first_response_by_tier  # noqa: E402
from data_access.calendars import region_calendars  # noqa: E402
from data_access.cases import cases_where, events_where  # noqa: E402
from data_access.db import make_engine  # noqa: E402
from data_access.models import Case, CaseEvent, User  # noqa: E402
from data_access.policies import tier_policies  # noqa: E402
from data_access.queue import queue_frame, sla_summary  # noqa: E402
from data_access.scope import Scope  # noqa: E402
from domain.clocks import compute_clocks  # noqa: E402
from domain.lifecycle import OPEN_STATUSES  # noqa: E402
from domain.queue_view import week_start  # noqa: E402
from seed.demo import SeedOptions, seed_database  # noqa: E402

OUT = ROOT / "bench" / "out"
OPEN_CASES = 5_000
CLOCK_CASES = 100_000
SEED = 3


def database(cases: int) -> Path:
    """The seeded bench database for `cases`, built once and reused."""
    options = SeedOptions(seed=SEED, customers=200, cases=cases, open_cases=OPEN_CASES, days=365)
    return seeded_once(
        OUT / f"queue_{cases}.db",
        f"queue_{cases}.db ({cases:,} cases)",
        lambda engine: seed_database(engine, options),
    )


def manager_scope(session: Session) -> Scope:
    manager = session.exec(select(User.id).where(User.username == "manager")).one()
    return Scope(user_id=manager, all_customers=True)


def data_timings(engine: Engine, runs: int) -> dict[str, float]:
    now = datetime.now(UTC)
    with Session(engine) as session:
        scope = manager_scope(session)
        queue = queue_frame(session=session, scope=scope, now=now)
        return {
            "open cases in queue": len(queue),
            "open_cases query (s)": median_seconds(
                lambda: cases_where(session=session, where=open_in(scope)), runs
            ),
            "events_of_open_cases query (s)": median_seconds(
                lambda: events_where(session=session, where=open_in(scope)), runs
            ),
            "queue_frame (s)": median_seconds(
                lambda: queue_frame(session=session, scope=scope, now=now), runs
            ),
            "first_response_by_tier this week (s)": median_seconds(
                lambda: first_response_by_tier(
                    session=session, scope=scope, start=week_start(now, "UTC"), now=now
                ),
                runs,
            ),
            "sla_summary, queue given (s)": median_seconds(
                lambda: sla_summary(session=session, scope=scope, now=now, queue=queue), runs
            ),
        }


def clock_timings(engine: Engine, runs: int) -> dict[str, float]:
    """compute_clocks on the latest CLOCK_CASES cases of any status (or all, if fewer)."""
    now = datetime.now(UTC)
    with Session(engine) as session:
        newest = select(Case.id).order_by(Case.id.desc()).limit(CLOCK_CASES).subquery()
        newest_cases = Case.id.in_(select(newest.c.id))
        cases = cases_where(session=session, where=newest_cases)
        events = events_where(session=session, where=newest_cases)
        policies = tier_policies(session=session)
        calendars = region_calendars(session=session, today=now.date())
    return {
        "cases clocked": len(cases),
        "their events": len(events),
        "compute_clocks (s)": median_seconds(
            lambda: compute_clocks(cases, events, policies, calendars, now), max(3, runs // 3)
        ),
    }


def page_timings(url: str, runs: int) -> dict[str, float]:
    """The queue page's script run under AppTest, signed in as the manager."""
    at = signed_in_page(url, "case_queue.py")
    at.run()
    if at.exception or not at.dataframe:
        raise RuntimeError(f"The queue page did not render: {at.exception}")
    return {"table rows": len(at.dataframe[0].value), **page_run_timings(at, runs)}


def query_plans(engine: Engine) -> list[str]:
    """SQLite's plan for each read the queue makes, captured as executed: no full scans."""
    now = datetime.now(UTC)
    with Session(engine) as session:
        scope = manager_scope(session)
        reads = {
            "open cases": lambda: cases_where(session=session, where=open_in(scope)),
            "events of open cases": lambda: events_where(session=session, where=open_in(scope)),
            "first responses this week": lambda: first_response_by_tier(
                session=session, scope=scope, start=week_start(now, "UTC"), now=now
            ),
        }
        lines = []
        for name, read in reads.items():
            executed: list[tuple[str, object]] = []

            def remember(_conn, _cursor, statement, parameters, _context, _many, into=executed):
                into.append((statement, parameters))

            event.listen(engine, "before_cursor_execute", remember)
            try:
                read()
            finally:
                event.remove(engine, "before_cursor_execute", remember)
            statement, parameters = executed[-1]
            plan = session.connection().exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters
            )
            lines.append(f"  {name}: " + "; ".join(row[3] for row in plan))
        return lines


def open_in(scope):
    """The WHERE clause the queue reads its open cases with."""
    return and_(Case.status.in_(OPEN_STATUSES), scope.customer_filter())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    options = parser.parse_args()
    # Clearing st.cache_data outside a server warns "No runtime found" every time.
    logging.getLogger("streamlit.runtime.caching.cache_data_api").addFilter(
        lambda record: "No runtime found" not in record.getMessage()
    )

    results: dict[str, dict[str, float]] = {}
    plans = []
    for size in options.sizes:
        path = database(size)
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        with Session(engine) as session:
            total = session.exec(select(func.count()).select_from(Case)).one()
            events = session.exec(select(func.count()).select_from(CaseEvent)).one()
        column = f"{size:,} cases"
        results[column] = {"cases in database": total, "case events in database": events}
        results[column] |= data_timings(engine, options.runs)
        results[column] |= clock_timings(engine, options.runs)
        results[column] |= page_timings(url, options.runs)
        plans.append(f"{column}:")
        plans.extend(query_plans(engine))
        engine.dispose()

    table = pd.DataFrame(results)
    print()
    print(f"Case queue benchmark (SQLite, manager's view, median of {options.runs} runs)")
    print(table.to_string(float_format=lambda value: f"{value:,.3f}"))
    print()
    print("Query plans:")
    print("\n".join(plans))
    print(load_average_line())
    largest = results[f"{max(options.sizes):,} cases"]
    page = largest["page run, cache cleared (s)"]
    clocks = largest["compute_clocks (s)"]
    print()
    print(f"page run target < 0.5 s: {page:.3f} s {'OK' if page < 0.5 else 'MISSED'}")
    print(
        f"clocks for {largest['cases clocked']:,} cases target < 2 s: {clocks:.3f} s "
        f"{'OK' if clocks < 2 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
