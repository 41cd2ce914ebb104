"""Soak: N sessions use a local server for a long while; memory must not creep, the log stays clean.

    .venv/bin/python bench/soak.py --minutes 30 --sessions 20

What it does (not part of `make test`):
  0. exports the committed tree (`git archive HEAD`, or --tree for the working tree) into a
     temporary folder and runs everything from there: a shared working tree edited meanwhile
     would otherwise be read by the server halfway through an edit;
  1. seeds a fresh SQLite database in a temporary folder (or uses --database-url, which must be a
     throw-away database: the soak writes to it);
  2. starts `streamlit run app.py` on 127.0.0.1 (a free port), logging to the folder;
  3. runs ../shared/tools/loadtest.py's websocket sessions (N of them, signed in as real demo users,
     browsing the pages and changing their filters) for --minutes, while --writers threads in this
     process write through the same command functions and transactions the pages use (internal case
     notes and severity changes): the websocket client drives only sign-in, navigation and filters;
  4. every minute records the server's resident memory (RSS), the database's size on disk and the
     writes done; at the end counts errors in the server log (none allowed) and compares the final
     memory with the memory after the first 5 minutes (within 10 % passes; for runs shorter than 10
     minutes the reference is taken at half time, and the report says so).
Prints one JSON line (also written to --out) and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOADTEST = ROOT.parent / "shared" / "tools" / "loadtest.py"
PASSWORD = "soak-Password-1"
USERS = "csm.apac,csm.emea,csm.na,csm.na2,manager"
LOG_ERROR = re.compile(r"Traceback|\bERROR\b|Exception|Uncaught", re.IGNORECASE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def database_bytes(url: str) -> int | None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from data_access.db import make_engine

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        files = [Path(parsed.database + suffix) for suffix in ("", "-wal", "-shm")]
        return sum(path.stat().st_size for path in files if path.exists())
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT pg_database_size(current_database())")).scalar()
    finally:
        engine.dispose()


def seed(url: str) -> None:
    from data_access.db import make_engine
    from data_access.migrate import upgrade
    from seed.demo import SeedOptions, database_is_empty, seed_database

    engine = make_engine(url)
    upgrade(engine)
    if database_is_empty(engine):
        options = SeedOptions(
            seed=3, customers=15, cases=2_000, days=120, today=date.today(), demo_password=PASSWORD
        )
        seed_database(engine, options)
    engine.dispose()


def snapshot(folder: Path, revision: str) -> Path:
    """The code to soak: `revision` exported from git into `folder/app`."""
    target = folder / "app"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def start_server(
    url: str,
    port: int,
    folder: Path,
    code: Path,
    options: tuple[str, ...] = (),
    log_name: str = "server.log",
) -> tuple[subprocess.Popen, Path]:
    """`streamlit run` on 127.0.0.1:`port` without a file watcher; `options` are more
    `--section.name=value` flags (bench/load_bench.py passes `--runner.postScriptGC=false`)."""
    log = folder / log_name
    env = dict(
        os.environ,
        DATABASE_URL=url,
        HYPERCARE_COOKIE_KEY=secrets.token_urlsafe(36),
        PYTHONUNBUFFERED="1",
    )
    handle = log.open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(code / "app.py"),
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            *options,
        ],  # fmt: skip
        cwd=code,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"The server stopped at start-up; see {log}.")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return server, log
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit(f"The server did not answer within 2 minutes; see {log}.")


class Writers:
    """Threads that write through the command functions, as pages do, at a bounded pace."""

    def __init__(self, url: str, count: int, pause_s: float) -> None:
        from data_access.db import make_engine

        self.engine = make_engine(url)
        self.stop = threading.Event()
        self.done = 0
        self.refused = 0
        self.failed: list[str] = []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._loop, args=(n, pause_s), daemon=True)
            for n in range(count)
        ]

    def _loop(self, number: int, pause_s: float) -> None:
        from sqlalchemy import text

        from data_access.actor import Actor
        from data_access.audit import CommandRefused
        from data_access.case_commands import add_internal_note
        from data_access.db import session_scope

        rng = random.Random(number)
        with self.engine.connect() as connection:
            admin = connection.execute(
                text("SELECT id, username FROM app_user WHERE username = 'admin'")
            ).one()
            cases = connection.execute(
                text("SELECT id FROM support_case WHERE status <> 'closed' LIMIT 200")
            ).scalars()
            case_ids = list(cases)
        actor = Actor(id=admin.id, username=admin.username, roles=("admin",))
        sequence = 0
        while not self.stop.wait(pause_s * rng.uniform(0.5, 1.5)):
            sequence += 1
            try:
                with session_scope(self.engine) as session:
                    add_internal_note(
                        session=session,
                        actor=actor,
                        case_id=rng.choice(case_ids),
                        note=f"soak note {number}-{sequence}",
                    )
                with self.lock:
                    self.done += 1
            except CommandRefused:
                with self.lock:
                    self.refused += 1
            except Exception as exc:  # a soak reports every failure rather than stopping
                with self.lock:
                    self.failed.append(repr(exc)[:200])

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.engine.dispose()


def stop_server(server: subprocess.Popen) -> None:
    """Ask the server to stop, and kill it if it has not within 30 seconds."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def load_loadtest():
    spec = importlib.util.spec_from_file_location("loadtest", LOADTEST)
    module = importlib.util.module_from_spec(spec)
    sys.modules["loadtest"] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--writers", type=int, default=4, help="threads writing case notes")
    parser.add_argument(
        "--write-pause", type=float, default=3.0, help="mean seconds between writes"
    )
    parser.add_argument("--think", type=float, default=2.0, help="mean pause between page actions")
    parser.add_argument("--database-url", default=None, help="a throw-away database (default: new)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "soak.json")
    parser.add_argument("--revision", default="HEAD", help="the git revision to soak")
    parser.add_argument(
        "--tree", action="store_true", help="soak the working tree as it is instead of a revision"
    )
    args = parser.parse_args(argv)
    if not LOADTEST.is_file():
        raise SystemExit(f"The soak drives sessions with {LOADTEST}, which is missing.")
    loadtest = load_loadtest()
    folder = Path(tempfile.mkdtemp(prefix="hypercare-soak-"))
    # The revision is resolved now, when its code is exported: HEAD may move during the run.
    resolved = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.revision],
        capture_output=True,
        text=True,
    ).stdout.strip()
    code = ROOT if args.tree else snapshot(folder, resolved or args.revision)
    sys.path.insert(0, str(code))  # seed and writers use the same code as the server
    url = args.database_url or f"sqlite:///{folder / 'soak.db'}"
    print(f"Seeding {url} …", flush=True)
    seed(url)
    port = free_port()
    server, log = start_server(url, port, folder, code)
    total_s = args.minutes * 60
    reference_at_s = 300.0 if args.minutes >= 10 else total_s / 2
    samples: list[dict] = []
    started = time.monotonic()
    stop_sampling = threading.Event()
    writers = Writers(url, args.writers, args.write_pause)

    def sample() -> None:
        samples.append(
            {
                "minute": round((time.monotonic() - started) / 60, 2),
                "rss_mb": rss_mb(server.pid),
                "database_bytes": database_bytes(url),
                "writes": writers.done,
            }
        )
        print(f"  {json.dumps(samples[-1])}", flush=True)

    def sampler() -> None:
        sample()
        while not stop_sampling.wait(60):
            sample()

    loadtest_args = argparse.Namespace(
        url=f"http://127.0.0.1:{port}",
        sessions=args.sessions,
        seconds=total_s,
        warmup=0.0,
        users=USERS,
        password=PASSWORD,
        pages=loadtest.PAGES,
        think=args.think,
        ramp=min(30.0, total_s / 4),
        timeout=180.0,
        signin_timeout=300.0,
        server_pid=server.pid,
        rss_interval=15.0,
        seed=1,
        out=None,
        trace=False,
    )
    thread = threading.Thread(target=sampler, daemon=True)
    try:
        print(
            f"Soak: {args.sessions} sessions for {args.minutes:g} minutes on port {port}",
            flush=True,
        )
        thread.start()
        with writers:
            sessions = asyncio.run(loadtest.run(loadtest_args))
        stop_sampling.set()
        thread.join(timeout=90)
        sample()
    finally:
        stop_sampling.set()
        stop_server(server)
    elapsed_min = (time.monotonic() - started) / 60
    log_errors = [
        line for line in log.read_text(errors="replace").splitlines() if LOG_ERROR.search(line)
    ]
    measured = [s for s in samples if s["rss_mb"] is not None]
    reference = next((s for s in measured if s["minute"] * 60 >= reference_at_s), None)
    final = measured[-2] if len(measured) >= 2 else None  # the last sample taken under load
    growth = (
        round(100 * (final["rss_mb"] - reference["rss_mb"]) / reference["rss_mb"], 1)
        if reference and final
        else None
    )
    checks = {
        "memory_within_10_percent": growth is not None and abs(growth) <= 10,
        "no_server_log_errors": not log_errors,
        "no_session_errors": sessions["errors_total"] == 0,
        "no_failed_writes": not writers.failed,
    }
    result = {
        "minutes_requested": args.minutes,
        "minutes_run": round(elapsed_min, 1),
        "sessions": args.sessions,
        "writers": args.writers,
        "writes": writers.done,
        "writes_refused": writers.refused,
        "write_failures": writers.failed[:5],
        "memory_reference_minute": round(reference_at_s / 60, 1),
        "memory_reference_mb": reference["rss_mb"] if reference else None,
        "memory_final_mb": final["rss_mb"] if final else None,
        "memory_growth_pct": growth,
        "database_bytes_start": samples[0]["database_bytes"] if samples else None,
        "database_bytes_end": samples[-1]["database_bytes"] if samples else None,
        "server_log_errors": log_errors[:10],
        "session_reruns": sessions["reruns"],
        "session_errors": sessions["errors_total"],
        "session_error_kinds": sessions["error_kinds"],
        "session_latency_ms": sessions["latency"],
        "other_cpu_pct": sessions["other_cpu_pct"],
        "per_minute": samples,
        "checks": checks,
        "server_log": str(log),
        "code": "working tree" if args.tree else f"git {args.revision} {resolved}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "per_minute"}), flush=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
