"""`python -m seed`: fill an empty database with deterministic demo or scale data."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

from tqdm import tqdm

from data_access.db import (
    REPO_ROOT,
    DatabaseUnavailable,
    connected_engine,
    private_files,
)
from data_access.migrate import upgrade
from seed.demo import SeedOptions, database_is_empty
from seed.staging import seed_all_or_nothing

LOGINS_FILE = REPO_ROOT / "data" / "demo-logins.txt"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m seed", description=__doc__)
    parser.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data)")
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--cases", type=int, default=5_000)
    parser.add_argument("--open-cases", type=int, default=None, help="how many cases are open")
    parser.add_argument("--days", type=int, default=365, help="days of history")
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="reference day")
    parser.add_argument("--database-url", default=None, help="default: DATABASE_URL or data/")
    parser.add_argument("--if-empty", action="store_true", help="do nothing if data exists")
    parser.add_argument(
        "--demo-password", default=None, help="one password for every demo login (default: random)"
    )
    arguments = parser.parse_args(argv)
    for name in ("customers", "cases", "days"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return arguments


def write_logins(path: Path, logins: dict[str, tuple[str, str]]) -> None:
    """The demo passwords in `path`, created with mode 600 (a new file replaces any old one)."""
    lines = [
        f"{username:<16} {role:<14} {password}" for username, (role, password) in logins.items()
    ]
    text = "username         role           password\n" + "\n".join(lines) + "\n"
    with private_files():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    try:
        engine = connected_engine(arguments.database_url)
        upgrade(engine)
    except DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not database_is_empty(engine):
        if arguments.if_empty:
            print("The database already holds data; leaving it as it is.")
            if LOGINS_FILE.exists() and arguments.database_url is None:
                # Passwords are printed once, by the seed that made them, never into later logs.
                print(
                    f"Demo logins are in {LOGINS_FILE.relative_to(REPO_ROOT)} (readable by you only)."
                )
            return 0
        print("error: the database already holds data; seed only an empty one.", file=sys.stderr)
        return 2
    options = SeedOptions(
        seed=arguments.seed,
        customers=arguments.customers,
        cases=arguments.cases,
        open_cases=arguments.open_cases,
        days=arguments.days,
        demo_password=arguments.demo_password,
    )
    if arguments.today:
        options.today = arguments.today
    started = time.perf_counter()
    with tqdm(total=100, unit="%", bar_format="{l_bar}{bar}| {elapsed}") as bar:

        def progress(step: str, fraction: float) -> None:
            bar.set_description(step)
            bar.update(round(fraction * 100) - bar.n)

        # All or nothing: seeded in a staging copy and swapped in (a killed seed leaves no part).
        report = seed_all_or_nothing(engine, options, progress)
    elapsed = time.perf_counter() - started
    print(f"Seeded in {elapsed:.1f}s: " + ", ".join(f"{k} {v:,}" for k, v in report.counts.items()))
    if arguments.database_url is None:
        write_logins(LOGINS_FILE, report.logins)
    print("Demo logins:")
    for username, (role, password) in report.logins.items():
        print(f"  {username:<16} {role:<14} {password}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
