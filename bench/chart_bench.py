"""Benchmark the reruns of every page that draws Altair charts (issue 15, charts).

Each page is opened once under AppTest (app.py signed in, switched to the page), run a few times
to warm its caches, then rerun `--runs` times WITHOUT clearing any cache: what a person's click
and the load test's virtual users cost once the page's data is cached. Reported per page: the
median CPU seconds of this process per rerun (the script runs in one of its threads, so the
whole process's CPU is read), the median wall seconds, and how many charts the page drew.

Run (on a demo database; `python -m seed --database-url sqlite:////tmp/x/demo.db` makes one):
    nice -n 10 .venv/bin/python bench/chart_bench.py --database-url sqlite:////tmp/x/demo.db
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")

from bench.bench_databases import representative_case  # noqa: E402
from bench.common import load_average_line, signed_in_page  # noqa: E402
from data_access.db import make_engine  # noqa: E402


@dataclass(frozen=True)
class ChartPage:
    label: str
    page: str
    username: str = "manager"
    session_state: dict[str, object] = field(default_factory=dict)


PAGES = (
    ChartPage("portfolio", "portfolio.py"),
    ChartPage("case", "case.py"),
    ChartPage("survey results", "survey_results.py"),
    ChartPage("monitoring, inbox", "monitoring.py"),
    ChartPage(
        "monitoring, charts tab", "monitoring.py", "manager", {"monitoring_tab": "Model charts"}
    ),
    ChartPage("weekly report", "weekly_report.py"),
    ChartPage("QBR", "qbr.py"),
    ChartPage("CoE benchmark", "coe_benchmark.py"),
    ChartPage("events", "events.py"),
)
WARM_RUNS = 3


def chart_count(at) -> int:
    return len(at.get("arrow_vega_lite_chart")) + len(at.get("vega_lite_chart"))


def measure(url: str, spec: ChartPage, runs: int) -> dict[str, object]:
    at = signed_in_page(url, spec.page, spec.username)
    if spec.page == "case.py":
        engine = make_engine(url)
        at.query_params["id"] = str(representative_case(engine, spec.username))
        engine.dispose()
    for key, value in spec.session_state.items():
        at.session_state[key] = value
    for _ in range(WARM_RUNS):
        at.run()
    cpu, wall = [], []
    for _ in range(runs):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        at.run()
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    errors = [e.value for e in at.exception]
    return {
        "page": spec.label,
        "cpu_ms": 1000 * statistics.median(cpu),
        "wall_ms": 1000 * statistics.median(wall),
        "charts": chart_count(at),
        "error": errors[0][:80] if errors else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", nargs="+", help="page labels to run (default: all)")
    options = parser.parse_args()
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    print(f"{'page':<24} {'CPU ms/rerun':>13} {'wall ms':>9} {'charts':>7}")
    for spec in PAGES:
        if options.only and spec.label not in options.only:
            continue
        row = measure(options.database_url, spec, options.runs)
        print(
            f"{row['page']:<24} {row['cpu_ms']:>13.1f} {row['wall_ms']:>9.1f} "
            f"{row['charts']:>7} {row['error']}",
            flush=True,
        )
    print(load_average_line())


if __name__ == "__main__":
    main()
