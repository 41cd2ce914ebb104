"""Load: N real Streamlit sessions on one server; records bench/results.json's "load" rows.

    .venv/bin/python bench/load_bench.py                      # 1, 10, 50 sessions; 50 with 3 s think
    .venv/bin/python bench/load_bench.py --runs 50:0 --label gc-off --option runner.postScriptGC=false
    .venv/bin/python bench/load_bench.py --runs 50:3:600 --label memory   # a 10-minute window

What it does (not part of `make test`):
  1. exports the committed tree (`git archive`, --revision, default HEAD; or --tree for the
     working tree) into a temporary folder, as bench/soak.py does, so an edit made meanwhile is
     never half-read by the server;
  2. seeds the demo database once (`python -m seed` defaults: 40 customers, 5,000 cases, a year
     of metrics; cached under bench/out/) and gives every run a fresh copy of it, so one run's
     sign-ins and audit rows never shape the next;
  3. for each run starts `streamlit run app.py` on 127.0.0.1 (a free port, no file watcher, a
     random cookie key, --option flags added), runs bench/loadtest.py (a copy of
     ../shared/tools/loadtest.py with today's filter labels) with that many sessions and that
     think time, and stops the server. Every run is bounded (`timeout`);
  4. prints each JSON line loadtest printed, and writes one row per run into bench/results.json's
     "load" list in the issue's shape (plus sign-in figures, errors, the machine's load average
     and what was measured), replacing only rows of the same engine, sessions, think time and
     label, and keeping every other key of the file (the page table).

A sign-in failure is a session whose sign-in the app refused or that broke (loadtest's signin_*
errors), or a "database is locked" in the server's log.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from soak import free_port, snapshot, start_server, stop_server  # noqa: E402

LOADTEST = ROOT / "bench" / "loadtest.py"
RESULTS = ROOT / "bench" / "results.json"
OUT = ROOT / "bench" / "out" / "load"
PASSWORD = "load-Password-1"
USERS = "csm.apac,csm.emea,csm.na,csm.na2"
DEFAULT_RUNS = "1:0,10:0,50:0,50:3"
LOCKED = re.compile(r"database is locked", re.IGNORECASE)
LOG_ERROR = re.compile(r"Traceback|\bERROR\b|Exception|Uncaught", re.IGNORECASE)


def parse_runs(text: str) -> list[tuple[int, float, float | None]]:
    """ "sessions:think[:seconds]" items, comma-separated."""
    runs = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if not 2 <= len(parts) <= 3:
            raise SystemExit(f"A run is sessions:think[:seconds], not {item!r}.")
        seconds = float(parts[2]) if len(parts) == 3 else None
        runs.append((int(parts[0]), float(parts[1]), seconds))
    return runs


def uptime() -> str:
    """The machine's load averages (1, 5, 15 minutes) and running/total tasks."""
    return Path("/proc/loadavg").read_text().strip()


def template_database(code: Path) -> Path:
    """The demo database, seeded once per day with `code`'s seed and cached under bench/out/."""
    path = OUT / f"demo-{date.today().isoformat()}.db"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    print(f"Seeding the demo database into {path} (a few minutes) …", flush=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "seed",
            "--database-url",
            f"sqlite:///{building}",
            "--demo-password",
            PASSWORD,
        ],
        cwd=code,
        check=True,
        timeout=1800,
        stdout=subprocess.DEVNULL,
    )
    # one file, no -wal beside it: a plain copy is then the whole database
    connection = sqlite3.connect(building)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("PRAGMA journal_mode = DELETE")
    connection.close()
    building.rename(path)
    return path


def one_run(args, code: Path, folder: Path, template: Path, index: int, spec) -> dict | None:
    sessions, think, seconds = spec
    seconds = seconds if seconds is not None else args.seconds
    database = folder / f"run{index}.db"
    shutil.copyfile(template, database)
    url = f"sqlite:///{database}"
    port = free_port()
    options = tuple(f"--{option}" for option in args.option)
    load_before = uptime()
    server, log = start_server(url, port, folder, code, options, log_name=f"server{index}.log")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", args.label)
    detail = OUT / f"{name}-{sessions}s-think{think:g}.json"
    ramp = min(args.ramp, max(1.0, sessions / 5))
    limit = ramp + args.signin_timeout + args.warmup + seconds + 120
    command = [
        sys.executable,
        str(LOADTEST),
        "--url",
        f"http://127.0.0.1:{port}",
        "--sessions",
        str(sessions),
        "--seconds",
        str(seconds),
        "--warmup",
        str(args.warmup),
        "--users",
        args.users,
        "--password",
        PASSWORD,
        "--think",
        str(think),
        "--ramp",
        str(ramp),
        "--signin-timeout",
        str(args.signin_timeout),
        "--server-pid",
        str(server.pid),
        "--out",
        str(detail),
    ]  # fmt: skip
    # The first visitor of a fresh server pays for its imports and the engine's start: one
    # session first opens every page, unmeasured, as people would have done before.
    prime = [sys.executable, str(LOADTEST), "--url", f"http://127.0.0.1:{port}"]
    prime += ["--users", args.users, "--password", PASSWORD, "--ramp", "0"]
    prime += ["--sessions", "1", "--seconds", str(args.prime), "--warmup", "0"]
    try:
        subprocess.run(prime, capture_output=True, timeout=args.prime + 180)
    except subprocess.TimeoutExpired:
        print("  priming did not finish in time; measuring anyway", flush=True)
    except BaseException:
        stop_server(server)
        raise
    print(
        f"Run {index}: {sessions} sessions, think {think:g} s, {seconds:g} s measured after "
        f"{args.warmup:g} s warm-up; options {list(args.option) or 'none'}, environment "
        f"{list(args.env) or 'as is'}; uptime {load_before}",
        flush=True,
    )
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        print(f"  loadtest did not finish within {limit:.0f} s; no row recorded", flush=True)
        return None
    finally:
        stop_server(server)
    load_after = uptime()
    shutil.copyfile(log, detail.with_suffix(".log"))  # the run's folder is removed at the end
    lines = [line for line in finished.stdout.splitlines() if line.startswith("{")]
    if finished.returncode != 0 or not lines:
        print(f"  loadtest failed ({finished.returncode}): {finished.stderr[-2000:]}", flush=True)
        return None
    print(lines[-1], flush=True)
    result = json.loads(lines[-1])
    text = log.read_text(errors="replace")
    locked = len(LOCKED.findall(text))
    log_errors = [line for line in text.splitlines() if LOG_ERROR.search(line)]
    kinds = result["error_kinds"]
    signin_failures = sum(count for kind, count in kinds.items() if kind.startswith("signin_"))
    latency = result["latency"]
    signin = result["signin_latency"]
    row = {
        "engine": "sqlite",
        "sessions": sessions,
        "think_s": think,
        "median_s": ms_to_s(latency.get("median_ms")),
        "p95_s": ms_to_s(latency.get("p95_ms")),
        "reruns_per_s": result["reruns_per_s"],
        "rss_mb_start": result["rss_mb"]["window_start"],
        "rss_mb_end": result["rss_mb"]["end"],
        "label": args.label,
        "server_options": list(args.option),
        "server_env": list(args.env),
        "code": args.code,
        "seconds": result["seconds"],
        "warmup_s": args.warmup,
        "reruns": result["reruns"],
        "signed_in": result["signed_in"],
        "signin_median_s": ms_to_s(signin.get("median_ms")),
        "signin_p95_s": ms_to_s(signin.get("p95_ms")),
        "signin_max_s": ms_to_s(signin.get("max_ms")),
        "signin_failures": signin_failures,
        "database_locked_in_log": locked,
        "server_log_errors": len(log_errors),
        "errors": result["errors_total"],
        "error_kinds": kinds,
        "server_cpu_pct": result["server_cpu_pct"],
        # CPU the server spent per rerun: what a rerun costs whatever share of the machine the
        # server got; 1000 / this is the reruns a second one free core would serve
        "server_cpu_ms_per_rerun": round(10 * result["server_cpu_pct"] / result["reruns_per_s"], 1)
        if result["server_cpu_pct"] and result["reruns_per_s"]
        else None,
        "other_cpu_pct": result["other_cpu_pct"],
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if log_errors:
        print(f"  server log: {log_errors[:3]}", flush=True)
    return row


def ms_to_s(value: float | None) -> float | None:
    return None if value is None else round(value / 1000, 3)


def record(rows: list[dict]) -> None:
    """Read-modify-write of bench/results.json: only "load" rows with the same engine,
    sessions, think time and label are replaced; every other key stays as it is."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    fresh = {(r["engine"], r["sessions"], r["think_s"], r["label"]) for r in rows}
    kept = [
        r
        for r in data.get("load", [])
        if (r.get("engine"), r.get("sessions"), r.get("think_s"), r.get("label")) not in fresh
    ]
    data["load"] = kept + rows
    temporary = RESULTS.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(temporary, RESULTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", default=DEFAULT_RUNS, help="sessions:think[:seconds], comma-separated"
    )
    parser.add_argument("--seconds", type=float, default=90.0, help="measured window per run")
    parser.add_argument("--warmup", type=float, default=30.0, help="unmeasured seconds first")
    parser.add_argument("--ramp", type=float, default=10.0, help="spread sign-ins over this")
    parser.add_argument("--signin-timeout", type=float, default=240.0)
    parser.add_argument(
        "--prime", type=float, default=20.0, help="seconds one unmeasured session browses first"
    )
    parser.add_argument("--users", default=USERS, help="comma-separated; round robin")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        help="a Streamlit flag without its dashes, e.g. runner.postScriptGC=false",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        help="NAME=VALUE for the server's environment, e.g. HYPERCARE_MAX_CONCURRENT_RUNS=0",
    )
    parser.add_argument("--label", default="current", help="names the rows in results.json")
    parser.add_argument("--revision", default="HEAD", help="the git revision to serve")
    parser.add_argument("--tree", action="store_true", help="serve the working tree as it is")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args(argv)
    for item in args.env:
        name, _, value = item.partition("=")
        os.environ[name] = value  # start_server passes this process's environment on
    folder = Path(tempfile.mkdtemp(prefix="hypercare-load-"))
    code = ROOT if args.tree else snapshot(folder, args.revision)
    args.code = (
        "working tree"
        if args.tree
        else "git "
        + subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", args.revision],
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    template = template_database(code)
    rows = []
    started = time.monotonic()
    try:
        for index, spec in enumerate(parse_runs(args.runs)):
            row = one_run(args, code, folder, template, index, spec)
            if row is not None:
                rows.append(row)
                summary = {k: row[k] for k in ("sessions", "think_s", "median_s", "p95_s")}
                print(
                    f"  {summary} reruns/s {row['reruns_per_s']} sign-in median "
                    f"{row['signin_median_s']} s, failures {row['signin_failures']}, "
                    f"locked {row['database_locked_in_log']}, RSS {row['rss_mb_start']} → "
                    f"{row['rss_mb_end']} MB, server CPU {row['server_cpu_ms_per_rerun']} ms/rerun",
                    flush=True,
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if rows and not args.no_record:
        record(rows)
        print(f"{len(rows)} rows written to {RESULTS}", flush=True)
    print(f"Done in {(time.monotonic() - started) / 60:.1f} minutes.", flush=True)
    return 0 if len(rows) == len(parse_runs(args.runs)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
