"""The page benchmark's databases: two sizes, each on SQLite and PostgreSQL, built once with
`python -m seed` and cached.

- small: 50 customers, 10,000 cases, 90 days of metrics;
- large: 2,000 customers, 1,000,000 cases, 365 days of metrics (about 11,000 production models);
- `quick=True`: a tenth of the customers and cases (days unchanged), so a tenth of the rows.

Both sizes hold the same number of open cases (OPEN_CASES), so the queue shows the same work
and any difference is the cost of history. SQLite files live in bench/out/ (git-ignored);
each PostgreSQL database is kept on the server (created with createdb on PGHOST, default
127.0.0.1) and a stamp file in bench/out/ records that its seed finished. A build that did not
finish leaves no stamp (PostgreSQL) or no file (SQLite), so the next run builds it again.

Build ahead of a run: `.venv/bin/python bench/bench_databases.py [--quick] [--only large]`.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from data_access.db import make_engine  # noqa: E402
from data_access.migrate import upgrade  # noqa: E402
from data_access.models import Case, Customer, User  # noqa: E402
from data_access.scope import Scope  # noqa: E402
from domain.lifecycle import OPEN_STATUSES  # noqa: E402

OUT = ROOT / "bench" / "out"
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
SEED = 3


@dataclass(frozen=True)
class Size:
    name: str
    customers: int
    cases: int
    days: int
    open_cases: int


FULL = {
    "small": Size("small", customers=50, cases=10_000, days=90, open_cases=1_000),
    "large": Size("large", customers=2_000, cases=1_000_000, days=365, open_cases=1_000),
}


def sizes(quick: bool) -> dict[str, Size]:
    if not quick:
        return dict(FULL)
    return {
        name: Size(
            f"{name}_quick",
            customers=max(1, size.customers // 10),
            cases=size.cases // 10,
            days=size.days,
            open_cases=size.open_cases // 10,
        )
        for name, size in FULL.items()
    }


def sqlite_path(size: Size) -> Path:
    return OUT / f"pages_{size.name}.db"


def pg_database(size: Size) -> str:
    return f"hypercare_bench_{size.name}"


def pg_stamp(size: Size) -> Path:
    return OUT / f"{pg_database(size)}.pg-stamp"


def url(size: Size, engine: str) -> str:
    if engine == "sqlite":
        return f"sqlite:///{sqlite_path(size)}"
    return f"{PG_SERVER}/{pg_database(size)}"


def _seed_arguments(size: Size, database_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "seed",
        "--seed",
        str(SEED),
        "--customers",
        str(size.customers),
        "--cases",
        str(size.cases),
        "--open-cases",
        str(size.open_cases),
        "--days",
        str(size.days),
        "--database-url",
        database_url,
    ]


def _stamp_text(size: Size, seconds: float) -> str:
    return json.dumps({**asdict(size), "built_s": round(seconds, 1), "built_at": time.ctime()})


def _stamped(stamp: Path, size: Size) -> bool:
    if not stamp.exists():
        return False
    recorded = json.loads(stamp.read_text())
    return all(recorded.get(key) == value for key, value in asdict(size).items())


def ensure(size: Size, engine: str, log=print) -> str:
    """The URL of the seeded `size` database on `engine`, built first if it is not cached.

    One builder at a time per database: a second one waits for the first, then finds its stamp.
    """
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / f"{size.name}_{engine}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = _ensure(size, engine, log)
        # A database cached before a newer migration is brought to head, as an operator's would
        # be (`python -m data_access.migrate`), rather than measured without it.
        database = make_engine(built)
        try:
            upgrade(database)
        finally:
            database.dispose()
        return built


def _ensure(size: Size, engine: str, log) -> str:
    if engine == "sqlite":
        path = sqlite_path(size)
        stamp = path.with_suffix(".stamp")
        if path.exists() and _stamped(stamp, size):
            return url(size, engine)
        building = path.with_name(path.stem + ".building.db")
        for leftover in (path, stamp, building):
            leftover.unlink(missing_ok=True)
        log(f"building {path.name} ({size.cases:,} cases, {size.customers:,} customers)…")
        started = time.perf_counter()
        _run_seed(size, f"sqlite:///{building}")
        building.rename(path)
        stamp.write_text(_stamp_text(size, time.perf_counter() - started))
        log(f"  built in {time.perf_counter() - started:.0f} s")
        return url(size, engine)
    stamp = pg_stamp(size)
    if _stamped(stamp, size):
        return url(size, engine)
    stamp.unlink(missing_ok=True)
    name = pg_database(size)
    host = os.environ.get("PGHOST", "127.0.0.1")
    log(f"building PostgreSQL {name} ({size.cases:,} cases, {size.customers:,} customers)…")
    subprocess.run(["dropdb", "-h", host, "-U", "postgres", "--if-exists", name], check=True)
    subprocess.run(["createdb", "-h", host, "-U", "postgres", name], check=True)
    started = time.perf_counter()
    _run_seed(size, url(size, engine))
    with (ROOT / "bench" / "out" / f"{name}.vacuum.log").open("w") as output:
        # Fresh bulk-loaded tables have no statistics until autovacuum gets to them.
        subprocess.run(
            ["psql", "-h", host, "-U", "postgres", "-d", name, "-c", "VACUUM ANALYZE"],
            check=True,
            stdout=output,
        )
    stamp.write_text(_stamp_text(size, time.perf_counter() - started))
    log(f"  built in {time.perf_counter() - started:.0f} s")
    return url(size, engine)


def _run_seed(size: Size, database_url: str) -> None:
    log_file = OUT / f"seed_{size.name}_{database_url.split(':', 1)[0]}.log"
    with log_file.open("w") as output:
        done = subprocess.run(
            _seed_arguments(size, database_url), cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    if done.returncode != 0:
        raise RuntimeError(f"python -m seed failed ({done.returncode}); see {log_file}")


def representative_case(engine: Engine, username: str) -> int | None:
    """The newest open case in the user's scope (what a person opens from the queue)."""
    with Session(engine) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        scope = Scope(user_id=user.id, all_customers="csm" not in user.roles)
        return session.exec(
            select(Case.id)
            .join(Customer, Customer.id == Case.customer_id)
            .where(Case.status.in_(OPEN_STATUSES), scope.customer_filter())
            .order_by(Case.opened_at.desc())
            .limit(1)
        ).first()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--only", choices=sorted(FULL), nargs="+", default=sorted(FULL))
    parser.add_argument("--engines", choices=["sqlite", "postgresql"], nargs="+")
    options = parser.parse_args()
    for name in options.only:
        for engine in options.engines or ["sqlite", "postgresql"]:
            print(ensure(sizes(options.quick)[name], engine), flush=True)


if __name__ == "__main__":
    main()
