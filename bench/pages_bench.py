"""Benchmark every page of the registry at two sizes on both engines, as the manager and a CSM.

For each page, role, engine and size:
- page: the median script run under AppTest (app.py signed in, switched to the page), with
  `st.cache_data` cleared before every run so the page's database work is counted. The only
  `st.cache_resource` is the engine (ui/auth.py); it is kept, as a running server keeps it;
- SQL floor: the page's database work alone. During one page run every outermost call into a
  `data_access` function is recorded with its arguments; the floor replays those calls directly
  (the same functions and arguments, a fresh Session), median of the same number of runs.
  Write commands (those taking an `actor`) are never replayed; a page that writes while it
  renders is reported.

Targets (issue 15): large / small <= 1.5; page / floor <= 2 (on the large database); every page
under 0.5 s on the large database.

Run: `make bench` (or `.venv/bin/python bench/pages_bench.py [--quick] [--runs N]`).
`--quick` (make bench QUICK=1) uses a tenth of the sizes. Databases are built on first use and
cached (bench/bench_databases.py). Writes the "pages" key of bench/results.json (other keys, such
as "load", are kept) and the details (both floors, rows, errors, load average) to
bench/out/pages_bench.json.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import importlib
import json
import logging
import os
import pkgutil
import secrets
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Clearing st.cache_data and replaying reads outside a script run would warn every time.
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")

import data_access  # noqa: E402

# --- Recording the data_access calls a page makes --------------------------------------------
# Installed before anything else imports from data_access, so pages and ui modules bind the
# wrapped functions when they import them.


@dataclass
class Call:
    module: str
    name: str
    function: object
    args: tuple
    kwargs: dict
    seconds: float


@dataclass
class Recorder:
    enabled: bool = False
    calls: list[Call] = field(default_factory=list)
    local: threading.local = field(default_factory=threading.local)


RECORDER = Recorder()


def _wrap(module_name: str, name: str, function):
    @functools.wraps(function)
    def recorded(*args, **kwargs):
        depth = getattr(RECORDER.local, "depth", 0)
        if not RECORDER.enabled or depth:
            RECORDER.local.depth = depth + 1
            try:
                return function(*args, **kwargs)
            finally:
                RECORDER.local.depth = depth
        RECORDER.local.depth = 1
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            RECORDER.local.depth = 0
            RECORDER.calls.append(
                Call(module_name, name, function, args, kwargs, time.perf_counter() - started)
            )

    recorded.__wrapped_by_bench__ = True
    return recorded


def install_recorder() -> None:
    modules = [
        importlib.import_module(f"data_access.{info.name}")
        for info in pkgutil.iter_modules(data_access.__path__)
    ]
    originals = {}
    for module in modules:
        for name, value in vars(module).items():
            if (
                callable(value)
                and not isinstance(value, type)
                and not name.startswith("_")
                and getattr(value, "__module__", None) == module.__name__
                and hasattr(value, "__code__")
            ):
                originals[(module.__name__, name)] = value
    wrapped = {key: _wrap(*key, value) for key, value in originals.items()}
    # Replace the function wherever a data_access module imported it (from x import f).
    for module in modules:
        for name, value in list(vars(module).items()):
            for (origin, function_name), original in originals.items():
                if value is original:
                    setattr(module, name, wrapped[(origin, function_name)])


install_recorder()

import streamlit as st  # noqa: E402
from sqlalchemy import event, func  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session, select  # noqa: E402
from streamlit.runtime.pages_manager import PagesManager  # noqa: E402
from streamlit.runtime.scriptrunner.script_cache import ScriptCache  # noqa: E402
from streamlit.testing.v1 import (  # noqa: E402
    AppTest,  # noqa: E402
    app_test,
    local_script_runner,
)

from bench import bench_databases  # noqa: E402
from bench.common import session_version_of, sign_in  # noqa: E402
from data_access.actor import Actor  # noqa: E402
from data_access.db import make_engine  # noqa: E402
from data_access.models import Case, Customer  # noqa: E402
from ui.navigation import PAGES  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
RESULTS_LOCK = ROOT / "bench" / "out" / "results.lock"
ENGINES = ("sqlite", "postgresql")
SIZES = ("small", "large")
OUT = ROOT / "bench" / "out"
ROLES = {"manager": "manager", "csm": "csm.emea"}  # the CSM measured: Lukas Weber (EMEA)
ADMIN_ONLY_USER = "admin"

# Targets
RATIO_TARGET = 1.5
FLOOR_TARGET = 2.0
LARGE_TARGET_S = 0.5


def roles_for(spec) -> dict[str, str]:
    """role label -> username for the page: the manager and a CSM where allowed, else admin."""
    allowed = {role: user for role, user in ROLES.items() if role in spec.roles}
    return allowed or {"admin": ADMIN_ONLY_USER}


def page_parameters(page: str, engine: Engine, username: str) -> dict[str, str]:
    if page == "case.py":
        case_id = bench_databases.representative_case(engine, username)
        return {"id": str(case_id)} if case_id else {}
    # customer, QBR, weekly report, entitlements...: the picker's default (the first customer
    # in the viewer's scope), which is what opening the page from the navigation shows.
    return {}


# A running server keeps one script cache (the Runtime's): app.py and a page are compiled once,
# not on every run. AppTest makes a new one for every run, which would add 2–4 ms of compiling
# to every page run measured here; the bench shares one, as the server does.
SCRIPT_CACHE = ScriptCache()
local_script_runner.ScriptCache = app_test.ScriptCache = lambda: SCRIPT_CACHE


class ServerPagesManager(PagesManager):
    """A running server stops the multipage-v1 emulation once app.py has called st.navigation:
    `st.navigation` sets `PagesManager.uses_pages_directory = False` for the process. Until then,
    because the project has a `pages/` folder, every run globs that folder, builds a page for
    each file and runs app.py inside that navigation (`script_runner._mpa_v1`). AppTest resets
    the flag before every run, so every run measured would pay that (0.6–1.8 ms here, 7 % of
    the account page) although a server pays it only on its first run; the bench keeps the flag
    as the server has it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


app_test.PagesManager = ServerPagesManager


@dataclass
class Measurement:
    page_s: float
    floor_s: float
    page_cpu_s: float = 0.0
    floor_cpu_s: float = 0.0
    recorded_s: float = 0.0
    calls: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    error: str | None = None


def _replay(calls: list[Call], engine: Engine) -> None:
    with Session(engine) as session:
        for call in calls:
            args = tuple(session if isinstance(a, Session) else a for a in call.args)
            kwargs = {
                key: (session if isinstance(v, Session) else engine if isinstance(v, Engine) else v)
                for key, v in call.kwargs.items()
            }
            call.function(*args, **kwargs)
        session.rollback()


def _is_write(call: Call) -> bool:
    return "actor" in call.kwargs or any(isinstance(a, Actor) for a in call.args)


@functools.cache
def _session_version(url: str, username: str) -> int | None:
    return session_version_of(url, username)


def page_app(url: str, page: str, username: str, parameters: dict[str, str]) -> AppTest:
    """app.py signed in as `username`, switched to `page` before its first run (a page's
    url_path is its file name, so no other page runs first)."""
    os.environ["DATABASE_URL"] = url
    # The app refuses to run without a cookie key (ui/secrets.py); the bench's sessions are
    # signed in through session state, so any random key will do.
    os.environ.setdefault("HYPERCARE_COOKIE_KEY", secrets.token_urlsafe(36))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    sign_in(at, username, _session_version(url, username))
    at.switch_page(str(ROOT / "pages" / page))
    for key, value in parameters.items():
        at.query_params[key] = value
    return at


# PostgreSQL does a query's work in its server process: the CPU seconds of a run add up this
# process and the server backends of its connections (same machine; /proc).
BACKENDS: set[int] = set()
TICKS = os.sysconf("SC_CLK_TCK")


@event.listens_for(Engine, "connect")
def _remember_backend(dbapi_connection, _record) -> None:
    info = getattr(dbapi_connection, "info", None)
    if getattr(info, "backend_pid", None):
        BACKENDS.add(info.backend_pid)


def _backend_ticks() -> dict[int, int]:
    ticks = {}
    for pid in list(BACKENDS):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks


def _timed(action, runs: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (this process, whose thread runs the script,
    plus its PostgreSQL backends)."""
    wall, cpu = [], []
    for _ in range(runs):
        before = _backend_ticks()
        started, started_cpu = time.perf_counter(), time.process_time()
        action()
        wall.append(time.perf_counter() - started)
        after = _backend_ticks()
        server = sum(after[pid] - before[pid] for pid in after.keys() & before.keys()) / TICKS
        cpu.append(time.process_time() - started_cpu + server)
    return statistics.median(wall), statistics.median(cpu)


def measure(page: str, username: str, url: str, runs: int) -> Measurement:
    engine = make_engine(url)
    try:
        at = page_app(url, page, username, page_parameters(page, engine, username))
        at.run()  # warm-up: imports, first render
        if at.exception:
            return Measurement(0, 0, error=str(at.exception[0].value)[:300])
        if at.error:  # a page refusing to run (no cookie key, no database) is no measurement
            return Measurement(0, 0, error=str(at.error[0].value)[:300])

        def uncached() -> None:
            st.cache_data.clear()
            RECORDER.calls = []
            RECORDER.enabled = True
            try:
                at.run()
            finally:
                RECORDER.enabled = False

        page_s, page_cpu_s = _timed(uncached, runs)
        if at.exception:
            return Measurement(0, 0, error=str(at.exception[0].value)[:300])
        recorded = list(RECORDER.calls)
        reads = [c for c in recorded if not _is_write(c)]
        _replay(reads, engine)  # warm-up: the replay's own connection
        floor_s, floor_cpu_s = _timed(lambda: _replay(reads, engine), runs)
        return Measurement(
            page_s=page_s,
            floor_s=floor_s,
            page_cpu_s=page_cpu_s,
            floor_cpu_s=floor_cpu_s,
            recorded_s=sum(c.seconds for c in recorded),
            calls=[
                f"{c.module.removeprefix('data_access.')}.{c.name} {c.seconds:.3f}" for c in reads
            ],
            writes=[f"{c.module}.{c.name}" for c in recorded if _is_write(c)],
        )
    finally:
        engine.dispose()


def measure_part(quick: bool, runs: int, engine: str, size: str, pages: list[str] | None) -> dict:
    """Every page (or `pages`) and role on one database: one part of the table."""
    url = bench_databases.ensure(bench_databases.sizes(quick)[size], engine, log=_log)
    load_before = os.getloadavg()
    started = time.perf_counter()
    found = []
    for spec in PAGES:
        if pages and spec.url_path not in pages:
            continue
        for role, username in roles_for(spec).items():
            m = measure(spec.file, username, url, runs)
            found.append(
                {
                    "page": spec.url_path,
                    "role": role,
                    "page_s": round(m.page_s, 3),
                    "page_cpu_s": round(m.page_cpu_s, 3),
                    "sql_floor_s": round(m.floor_s, 3),
                    "sql_floor_cpu_s": round(m.floor_cpu_s, 3),
                    "recorded_sql_s": round(m.recorded_s, 3),
                    "calls": m.calls,
                    "writes_while_rendering": m.writes,
                    "error": m.error,
                }
            )
            _log(
                f"{engine} {size} {spec.url_path} {role}: page {m.page_s:.3f} s "
                f"(CPU {m.page_cpu_s:.3f}), floor {m.floor_s:.3f} s"
                + (f" ERROR {m.error}" if m.error else "")
            )
    return {
        "engine": engine,
        "size": size,
        "quick": quick,
        "runs": runs,
        "database": _counts(url),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "elapsed_s": round(time.perf_counter() - started),
        "measurements": found,
    }


def part_file(quick: bool, engine: str, size: str, pages: list[str] | None = None) -> Path:
    subset = "_" + "-".join(pages) if pages else ""
    return OUT / f"pages_{'quick_' if quick else ''}{engine}_{size}{subset}.part.json"


def part_files(quick: bool, engine: str, size: str) -> list[Path]:
    """Oldest first: when a page was measured again (`--pages`), its newest measurement wins."""
    found = OUT.glob(f"pages_{'quick_' if quick else ''}{engine}_{size}*.part.json")
    return sorted(found, key=lambda path: path.stat().st_mtime)


def combine(quick: bool, engines: list[str]) -> list[dict]:
    """The results rows (the issue's shape) from the parts measured: both sizes per row; the
    SQL floor is the large database's. The details table goes to bench/out/pages_table.json."""
    parts = {}
    for engine in engines:
        for size in ("small", "large"):
            for path in part_files(quick, engine, size):
                parts.setdefault((engine, size), {}).update(
                    {
                        (m["page"], m["role"]): m
                        for m in json.loads(path.read_text())["measurements"]
                    }
                )
    rows, table = [], []
    for engine in engines:
        small, large = parts.get((engine, "small"), {}), parts.get((engine, "large"), {})
        for key in small.keys() & large.keys():
            s, l_ = small[key], large[key]
            if s["error"] or l_["error"]:
                table.append(
                    {
                        "page": key[0],
                        "role": key[1],
                        "engine": engine,
                        "errors": [s["error"], l_["error"]],
                    }
                )
                continue
            row = {
                "page": key[0],
                "role": key[1],
                "engine": engine,
                "small_s": s["page_s"],
                "large_s": l_["page_s"],
                "sql_floor_s": l_["sql_floor_s"],
            }
            rows.append(row)
            table.append(
                {
                    **row,
                    "small_sql_floor_s": s["sql_floor_s"],
                    "small_cpu_s": s["page_cpu_s"],
                    "large_cpu_s": l_["page_cpu_s"],
                    "sql_floor_cpu_s": l_["sql_floor_cpu_s"],
                    "misses": verdicts(row),
                    "misses_by_cpu": verdicts(
                        {
                            "small_s": s["page_cpu_s"],
                            "large_s": l_["page_cpu_s"],
                            "sql_floor_s": l_["sql_floor_cpu_s"],
                        }
                    ),
                    "writes_while_rendering": sorted(
                        set(s["writes_while_rendering"] + l_["writes_while_rendering"])
                    ),
                }
            )
    order = {spec.url_path: i for i, spec in enumerate(PAGES)}
    rows.sort(key=lambda r: (r["engine"], order[r["page"]], r["role"]))
    table.sort(key=lambda r: (r["engine"], order[r["page"]], r["role"]))
    (OUT / f"pages_{'quick_' if quick else ''}table.json").write_text(
        json.dumps(table, indent=1) + "\n"
    )
    (OUT / f"pages_{'quick_' if quick else ''}table.md").write_text(markdown_table(table))
    for line in table:
        _log(_line(line))
    return rows


def markdown_table(table: list[dict]) -> str:
    """The page table for bench/README.md: wall and CPU medians, ratios and misses."""
    lines = [
        "| page | role | engine | small s | large s | floor s | L/S | P/F "
        "| CPU small | CPU large | CPU floor | CPU L/S | CPU P/F | misses (CPU) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in table:
        if "errors" in r:
            lines.append(f"| {r['page']} | {r['role']} | {r['engine']} | error: {r['errors']} |")
            continue
        lines.append(
            f"| {r['page']} | {r['role']} | {r['engine']} | {r['small_s']:.3f} | "
            f"{r['large_s']:.3f} | {r['sql_floor_s']:.3f} | "
            f"{_ratio(r['large_s'], r['small_s']):.2f} | "
            f"{_ratio(r['large_s'], r['sql_floor_s']):.2f} | {r['small_cpu_s']:.3f} | "
            f"{r['large_cpu_s']:.3f} | {r['sql_floor_cpu_s']:.3f} | "
            f"{_ratio(r['large_cpu_s'], r['small_cpu_s']):.2f} | "
            f"{_ratio(r['large_cpu_s'], r['sql_floor_cpu_s']):.2f} | "
            f"{', '.join(r['misses_by_cpu']) or 'none'} |"
        )
    return "\n".join(lines) + "\n"


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return {
                "customers": session.exec(select(func.count()).select_from(Customer)).one(),
                "cases": session.exec(select(func.count()).select_from(Case)).one(),
            }
    finally:
        engine.dispose()


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def verdicts(row: dict) -> list[str]:
    misses = []
    if _ratio(row["large_s"], row["small_s"]) > RATIO_TARGET:
        misses.append("large/small")
    if _ratio(row["large_s"], row["sql_floor_s"]) > FLOOR_TARGET:
        misses.append("page/floor")
    if row["large_s"] >= LARGE_TARGET_S:
        misses.append("≥0.5 s")
    return misses


def _line(detail: dict) -> str:
    if "errors" in detail:
        return f"{detail['engine']:<10} {detail['page']:<18} {detail['role']:<8} ERROR {detail['errors']}"
    return (
        f"{detail['engine']:<10} {detail['page']:<18} {detail['role']:<8} "
        f"small {detail['small_s']:6.3f}  large {detail['large_s']:6.3f}  "
        f"floor {detail['sql_floor_s']:6.3f}  "
        f"L/S {_ratio(detail['large_s'], detail['small_s']):5.2f}  "
        f"P/F {_ratio(detail['large_s'], detail['sql_floor_s']):5.2f}  "
        f"CPU small {detail['small_cpu_s']:6.3f} large {detail['large_cpu_s']:6.3f} "
        f"floor {detail['sql_floor_cpu_s']:6.3f}  "
        f"{' '.join(detail['misses']) or 'OK'} (CPU: {' '.join(detail['misses_by_cpu']) or 'OK'})"
        + (
            f"  writes: {detail['writes_while_rendering']}"
            if detail["writes_while_rendering"]
            else ""
        )
    )


def _log(message: str) -> None:
    print(message, flush=True)


def write_results(rows: list[dict], replace_all: bool) -> None:
    """Read-modify-write bench/results.json: only "pages" is ours (other keys are kept).

    A run of some pages replaces only their rows; a complete run of an engine replaces all of
    that engine's rows (a page no longer in the registry goes) and keeps the other engine's.
    """
    RESULTS_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _write_results(rows, replace_all)


def _write_results(rows: list[dict], replace_all: bool) -> None:
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    existing.setdefault("load", [])
    if replace_all:
        engines = {r["engine"] for r in rows}
        kept = [r for r in existing.get("pages", []) if r["engine"] not in engines]
    else:
        measured = {(r["page"], r["role"], r["engine"]) for r in rows}
        kept = [
            r
            for r in existing.get("pages", [])
            if (r["page"], r["role"], r["engine"]) not in measured
        ]
    rows = sorted(kept + rows, key=lambda r: r["engine"] != "postgresql")
    existing["pages"] = rows
    ordered = {"pages": existing.pop("pages"), "load": existing.pop("load"), **existing}
    RESULTS.write_text(json.dumps(ordered, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("QUICK")))
    parser.add_argument("--runs", type=int, default=None, help="runs per median (5; quick 3)")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--sizes", nargs="+", choices=SIZES, default=list(SIZES))
    parser.add_argument("--pages", nargs="+", help="url paths (default: every page)")
    parser.add_argument(
        "--jobs", type=int, default=3, help="processes per database (pages split between them)"
    )
    parser.add_argument(
        "--combine", action="store_true", help="only combine the parts already measured"
    )
    parser.add_argument("--part", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    runs = options.runs or (3 if options.quick else 5)
    # Clearing st.cache_data and replaying reads outside a script run warn every time.
    for name in ("streamlit", "streamlit.runtime.caching.cache_data_api"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if options.part:
        (engine,), (size,) = options.engines, options.sizes
        found = measure_part(options.quick, runs, engine, size, options.pages)
        part_file(options.quick, engine, size, options.pages).write_text(
            json.dumps(found, indent=1) + "\n"
        )
        return
    if options.combine:
        rows = combine(options.quick, options.engines)
        write_results(rows, replace_all=len(rows) == expected_rows(options.engines))
        print(f"{len(rows)} rows; wrote {RESULTS.relative_to(ROOT)}")
        return
    # Databases first (one builder each), then one process per engine and size: the parts
    # run side by side, as a page's runs on one database are sequential anyway.
    for engine in options.engines:
        for size in options.sizes:
            url = bench_databases.ensure(
                bench_databases.sizes(options.quick)[size], engine, log=_log
            )
            # Upgraded here, once, before the parts start: parts upgrading one SQLite file at
            # once wait on each other's migration, which can outlast the busy timeout.
            session_version_of(url, ADMIN_ONLY_USER)
    load_before = os.getloadavg()
    wanted = [
        spec.url_path for spec in PAGES if not options.pages or spec.url_path in options.pages
    ]
    groups = [wanted[i :: options.jobs] for i in range(min(options.jobs, len(wanted)))]
    for engine in options.engines:
        for size in options.sizes:
            for stale in part_files(options.quick, engine, size) if not options.pages else []:
                stale.unlink()
    children = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--part",
                "--runs",
                str(runs),
                "--engines",
                engine,
                "--sizes",
                size,
                "--pages",
                *group,
                *(["--quick"] if options.quick else []),
            ]
        )
        for engine in options.engines
        for size in options.sizes
        for group in groups
    ]
    failed = [child.args for child in children if child.wait() != 0]
    rows = combine(options.quick, options.engines)
    complete = options.pages is None and not failed and len(rows) == expected_rows(options.engines)
    write_results(rows, replace_all=complete)
    misses = [r for r in rows if verdicts(r)]
    print()
    print(f"{len(rows)} rows, {len(misses)} miss a target; wrote {RESULTS.relative_to(ROOT)}")
    print(
        "load average before "
        + ", ".join(f"{v:.1f}" for v in load_before)
        + "; after "
        + ", ".join(f"{v:.1f}" for v in os.getloadavg())
        + f" ({os.cpu_count()} CPUs)"
    )
    if failed:
        sys.exit(f"{len(failed)} part(s) failed: {failed}")


def expected_rows(engines: list[str]) -> int:
    return len(engines) * sum(len(roles_for(spec)) for spec in PAGES)


if __name__ == "__main__":
    main()
