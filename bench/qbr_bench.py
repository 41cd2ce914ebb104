"""Benchmark the QBR: one customer's report, its PDF and its page on the large database, and the
export of every customer's PDF for a quarter on the demo data.

Measured (medians of --runs): `qbr_report` for the customer with the most cases on the
1,000,000-case database (wall and CPU time: CPU is what it costs when other programs compete
for the processor), `qbr_pdf` of that report (charts rendered by vl-convert; the first,
which starts vl-convert's JavaScript engine, is printed apart), and the QBR page's script run
under AppTest as the manager; then `python -m data_access.qbr_export --all` for every customer
of the demo data (40 customers), run once as a person would run it.

Run: .venv/bin/python bench/qbr_bench.py [--runs N] [--cases 1000000] [--quarter 2026Q3]
The seeded databases are cached under bench/out/ (git-ignored): the large one is the case-queue
benchmark's (`queue_1000000.db`, a few minutes to build the first time), the demo one
`qbr_demo.db`.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from sqlalchemy import func  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.common import (  # noqa: E402
    load_average_line,
    median_seconds,
    page_run_timings,
    seeded_once,
    signed_in_page,
)
from bench.queue_bench import database as large_database  # noqa: E402
from data_access.db import make_engine  # noqa: E402
from data_access.migrate import upgrade  # noqa: E402
from data_access.models import Case, Customer  # noqa: E402
from data_access.qbr import qbr_report  # noqa: E402
from data_access.qbr_export import OPERATOR  # noqa: E402
from domain.quarters import Quarter  # noqa: E402
from reports.qbr_document import qbr_pdf  # noqa: E402
from seed.demo import SeedOptions, seed_database  # noqa: E402

OUT = ROOT / "bench" / "out"
DEMO = OUT / "qbr_demo.db"


def demo_database() -> Path:
    """The demo data (`python -m seed` defaults), built once and reused (upgraded to the newest
    migration, since the export command does not upgrade)."""
    if DEMO.exists():
        engine = make_engine(f"sqlite:///{DEMO}")
        upgrade(engine)
        engine.dispose()
        return DEMO
    return seeded_once(
        DEMO, f"{DEMO.name} (demo data)", lambda engine: seed_database(engine, SeedOptions())
    )


def busiest_customer(session: Session) -> tuple[int, str, int]:
    """The customer with the most cases: the heaviest QBR to compute."""
    customer_id, cases = session.exec(
        select(Case.customer_id, func.count())
        .group_by(Case.customer_id)
        .order_by(func.count().desc())
        .limit(1)
    ).one()
    return customer_id, session.get(Customer, customer_id).name, cases


def report_timings(url: str, quarter: Quarter, runs: int) -> tuple[int, dict[str, float]]:
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        customer_id, name, cases = busiest_customer(session)
        total = session.exec(select(func.count()).select_from(Case)).one()

        def build():
            return qbr_report(
                session=session, customer_id=customer_id, quarter=quarter, scope=OPERATOR
            )

        report = build()
        started = time.perf_counter()
        first_pdf = qbr_pdf(report)
        first_pdf_seconds = time.perf_counter() - started
        results = {
            "cases in database": total,
            "the customer's cases (all time)": cases,
            "sections": len(report.sections),
            "charts": sum(len(section.charts) for section in report.sections),
            "PDF size (kB)": len(first_pdf) / 1024,
            "qbr_report (s)": median_seconds(build, runs),
            "qbr_report (CPU s)": median_seconds(build, runs, time.process_time),
            "first qbr_pdf in the process (s)": first_pdf_seconds,
            "qbr_pdf (s)": median_seconds(lambda: qbr_pdf(report), runs),
            "qbr_pdf (CPU s)": median_seconds(lambda: qbr_pdf(report), runs, time.process_time),
            "qbr_report + qbr_pdf (s)": median_seconds(lambda: qbr_pdf(build()), runs),
        }
    engine.dispose()
    print(f"customer {customer_id} ({name}), {quarter.label}", flush=True)
    return customer_id, results


def page_timings(url: str, customer_id: int, quarter: Quarter, runs: int) -> dict[str, float]:
    """The QBR page's script run under AppTest, signed in as the manager."""
    at = signed_in_page(url, "qbr.py")
    at.query_params["customer"] = str(customer_id)
    at.query_params["quarter"] = quarter.code
    at.run()
    if at.exception or not at.metric:
        raise RuntimeError(f"The QBR page did not render: {at.exception}")
    return {"metrics on the page": len(at.metric), **page_run_timings(at, runs)}


def export_all_timing(url: str, quarter: Quarter) -> dict[str, float]:
    """`python -m data_access.qbr_export --all` as a person runs it (a new process)."""
    with Session(make_engine(url)) as session:
        customers = session.exec(select(func.count()).select_from(Customer)).one()
    with tempfile.TemporaryDirectory() as folder:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "data_access.qbr_export", "--all", "--quarter", quarter.code,
             "--out-dir", folder],
            cwd=ROOT,
            env=os.environ | {"DATABASE_URL": url},
            check=True,
            capture_output=True,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        written = len(list(Path(folder).glob("*.pdf")))
    return {
        "customers": customers,
        "PDFs written": written,
        "--all, whole command (s)": elapsed,
        "--all, whole command (CPU s)": cpu,
        "per PDF (s)": elapsed / max(written, 1),
        "per PDF (CPU s)": cpu / max(written, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument(
        "--quarter",
        type=Quarter.parse,
        default=Quarter.containing(datetime.now(UTC).date()).previous(),
        help="the quarter to review (default: the last complete one)",
    )
    options = parser.parse_args()
    logging.getLogger("streamlit.runtime.caching.cache_data_api").addFilter(
        lambda record: "No runtime found" not in record.getMessage()
    )

    large = f"sqlite:///{large_database(options.cases)}"
    customer_id, one = report_timings(large, options.quarter, options.runs)
    one |= page_timings(large, customer_id, options.quarter, options.runs)
    demo = export_all_timing(f"sqlite:///{demo_database()}", options.quarter)

    print()
    print(
        f"QBR benchmark (SQLite, {options.quarter.label}, busiest customer, "
        f"median of {options.runs} runs)"
    )
    print(pd.Series(one).to_string(float_format=lambda value: f"{value:,.3f}"))
    print()
    print(f"Export of every customer's QBR, demo data ({options.quarter.label}, one run)")
    print(pd.Series(demo).to_string(float_format=lambda value: f"{value:,.3f}"))
    print(load_average_line())


if __name__ == "__main__":
    main()
