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

Several replicas (`--replicas 2`): the run starts that many servers on one database and
nginx in front of them with deploy/nginx/hypercare.conf (its upstream pointed at the replicas,
listening on a free port of 127.0.0.1; Debian's nginx, `apt-get install nginx-light`), and
loadtest talks to nginx. `--engine postgresql` seeds the same demo data into a template database
on BENCH_PG_SERVER once and gives every run a fresh `CREATE DATABASE … TEMPLATE` copy. The row's
RSS is the sum over the replicas; its server CPU is theirs together.

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
import urllib.request
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


def schema_of(code: Path) -> str:
    """The newest migration `code` has: demo data seeded by other code is not reused with it (an
    older revision refuses a newer schema)."""
    return max(path.name[:4] for path in (code / "migrations" / "versions").glob("[0-9]*.py"))


def template_database(code: Path) -> Path:
    """The demo database, seeded once per day and schema with `code`'s seed, cached in bench/out/."""
    path = OUT / f"demo-{date.today().isoformat()}-schema{schema_of(code)}.db"
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


PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
PG_TEMPLATE = "hypercare_load_template"
NGINX_CONF = ROOT / "deploy" / "nginx" / "hypercare.conf"


def pg_template(code: Path) -> str:
    """The demo data in PostgreSQL, one template database per schema (`code`'s newest migration),
    seeded once per day (a stamp file)."""
    template = f"{PG_TEMPLATE}_{schema_of(code)}"
    stamp = OUT / f"{template}-{date.today().isoformat()}.stamp"
    if not stamp.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        drop_pg(template)
        psql(f"CREATE DATABASE {template}")
        print(f"Seeding the demo database into PostgreSQL {template} …", flush=True)
        subprocess.run(
            [sys.executable, "-m", "seed", "--database-url", f"{PG_SERVER}/{template}"]
            + ["--demo-password", PASSWORD],
            cwd=code,
            check=True,
            timeout=1800,
            stdout=subprocess.DEVNULL,
        )
        psql("VACUUM ANALYZE", database=template)
        stamp.write_text(datetime.now(UTC).isoformat())
    return template


def psql(statement: str, database: str = "postgres") -> None:
    subprocess.run(
        ["psql", f"{PG_SERVER}/{database}", "-v", "ON_ERROR_STOP=1", "-qc", statement],
        check=True,
        timeout=600,
        capture_output=True,
    )


def drop_pg(name: str) -> None:
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def fresh_database(args, folder: Path, template, index: int) -> str:
    """A copy of the template for one run: a SQLite file, or a PostgreSQL database."""
    if args.engine == "postgresql":
        name = f"hypercare_load_run{index}"
        drop_pg(name)
        psql(f"CREATE DATABASE {name} TEMPLATE {template}")
        return f"{PG_SERVER}/{name}"
    database = folder / f"run{index}.db"
    shutil.copyfile(template, database)
    return f"sqlite:///{database}"


def start_proxy(folder: Path, ports: list[int]) -> tuple[subprocess.Popen, int]:
    """nginx with deploy/nginx/hypercare.conf in front of the replicas on `ports`."""
    site = NGINX_CONF.read_text()
    upstream = "".join(
        f"    server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;\n" for port in ports
    )
    site = re.sub(r"(    server app\d+:8501[^\n]*\n)+", upstream, site)
    port = free_port()
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    conf = folder / "nginx.conf"
    conf.write_text(
        f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/nginx-error.log;\n"
        "events { worker_connections 4096; }\n"
        f"http {{\naccess_log off;\nclient_body_temp_path {folder}/nginx-body;\n"
        f"proxy_temp_path {folder}/nginx-proxy;\n{site}\n}}\n"
    )
    proxy = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(folder), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "nginx.out").open("w"),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proxy, port
        except OSError:
            if proxy.poll() is not None:
                break
            time.sleep(0.2)
    proxy.kill()
    raise SystemExit(f"nginx did not start; see {folder / 'nginx.out'}.")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_run(args, code: Path, folder: Path, template, index: int, spec) -> dict | None:
    sessions, think, seconds = spec
    seconds = seconds if seconds is not None else args.seconds
    url = fresh_database(args, folder, template, index)
    options = tuple(f"--{option}" for option in args.option)
    load_before = uptime()
    replicas = []
    proxy = None
    for number in range(args.replicas):
        replicas.append(
            start_server(
                url, free_port(), folder, code, options, log_name=f"server{index}-{number}.log"
            )
        )
    server, log = replicas[0]
    port = int(server.args[server.args.index("--server.port") + 1])
    if args.replicas > 1:
        ports = [int(s.args[s.args.index("--server.port") + 1]) for s, _ in replicas]
        proxy, port = start_proxy(folder, ports)
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
        stop_all(replicas, proxy)
        raise
    print(
        f"Run {index}: {sessions} sessions, think {think:g} s, {seconds:g} s measured after "
        f"{args.warmup:g} s warm-up; options {list(args.option) or 'none'}, environment "
        f"{list(args.env) or 'as is'}; uptime {load_before}",
        flush=True,
    )
    cpu_before = [cpu_seconds(s.pid) for s, _ in replicas]
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=limit)
        cpu_used = [cpu_seconds(s.pid) - b for (s, _), b in zip(replicas, cpu_before, strict=True)]
        rss_end = sum(rss_mb(s.pid) for s, _ in replicas)
    except subprocess.TimeoutExpired:
        print(f"  loadtest did not finish within {limit:.0f} s; no row recorded", flush=True)
        return None
    finally:
        stop_all(replicas, proxy)
        if args.engine == "postgresql":
            drop_pg(f"hypercare_load_run{index}")
    load_after = uptime()
    # the run's folder is removed at the end
    text = "".join(replica_log.read_text(errors="replace") for _, replica_log in replicas)
    detail.with_suffix(".log").write_text(text)
    lines = [line for line in finished.stdout.splitlines() if line.startswith("{")]
    if finished.returncode != 0 or not lines:
        print(f"  loadtest failed ({finished.returncode}): {finished.stderr[-2000:]}", flush=True)
        return None
    print(lines[-1], flush=True)
    result = json.loads(lines[-1])
    locked = len(LOCKED.findall(text))
    log_errors = [line for line in text.splitlines() if LOG_ERROR.search(line)]
    kinds = result["error_kinds"]
    signin_failures = sum(count for kind, count in kinds.items() if kind.startswith("signin_"))
    latency = result["latency"]
    signin = result["signin_latency"]
    if args.replicas > 1:
        # loadtest watched only the first replica: the row speaks for all of them
        result["rss_mb"]["end"] = round(rss_end, 1)
        result["rss_mb"]["window_start"] = None
        result["server_cpu_pct"] = None
    row = {
        "engine": args.engine,
        "replicas": args.replicas,
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
        # every replica's CPU over the whole loadtest (sign-ins and warm-up included), per rerun
        # measured: an upper bound on the cost of a rerun, comparable between replica counts
        "replicas_cpu_s": round(sum(cpu_used), 1),
        "other_cpu_pct": result["other_cpu_pct"],
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if log_errors:
        print(f"  server log: {log_errors[:3]}", flush=True)
    return row


def stop_all(replicas: list, proxy: subprocess.Popen | None) -> None:
    if proxy is not None:
        proxy.terminate()
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
    for server, _ in replicas:
        stop_server(server)


def ms_to_s(value: float | None) -> float | None:
    return None if value is None else round(value / 1000, 3)


def record(rows: list[dict]) -> None:
    """Read-modify-write of bench/results.json: only "load" rows with the same engine,
    sessions, think time and label are replaced; every other key stays as it is."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}

    def identity(row: dict) -> tuple:
        fields = ("engine", "sessions", "think_s", "label")
        return (*(row.get(field) for field in fields), row.get("replicas", 1))

    fresh = {identity(r) for r in rows}
    kept = [r for r in data.get("load", []) if identity(r) not in fresh]
    data["load"] = kept + rows
    temporary = RESULTS.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n")
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
        help="NAME=VALUE for the server's environment, e.g. HYPERCARE_DB_POOL_SIZE=10",
    )
    parser.add_argument("--replicas", type=int, default=1, help="app processes behind nginx")
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--label", default="current", help="names the rows in results.json")
    parser.add_argument("--revision", default="HEAD", help="the git revision to serve")
    parser.add_argument("--tree", action="store_true", help="serve the working tree as it is")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args(argv)
    # The server runs as deployed (deploy/Dockerfile, make run): two malloc arenas, or its memory
    # grows with the number of session threads; --env MALLOC_ARENA_MAX=16 measures glibc's default.
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
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
    template = pg_template(code) if args.engine == "postgresql" else template_database(code)
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
