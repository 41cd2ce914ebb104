"""What the benchmark scripts share: medians, a signed-in page under AppTest, the load line."""

from __future__ import annotations

import os
import secrets
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(
    action: Callable[[], object], runs: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    timings = []
    for _ in range(runs):
        started = clock()
        action()
        timings.append(clock() - started)
    return statistics.median(timings)


def seeded_once(path: Path, what: str, build: Callable[[Engine], None]) -> Path:
    """The SQLite bench database at `path`: reused when it exists, else `build` fills a freshly
    migrated one (`what` names it in the log). It is built under a temporary name and renamed
    when complete, so an interrupted build is never taken for a finished one."""
    from data_access.db import make_engine
    from data_access.migrate import upgrade

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".building")
    for leftover in path.parent.glob(partial.name + "*"):
        leftover.unlink()
    engine = make_engine(f"sqlite:///{partial}")
    upgrade(engine)
    started = time.perf_counter()
    print(f"building {what}…", flush=True)
    build(engine)
    engine.dispose()
    partial.rename(path)
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def signed_in_page(url: str, page_file: str, username: str = "manager") -> AppTest:
    """An AppTest on `url` that has run `app.py` signed in as `username`, switched to a page."""
    os.environ["DATABASE_URL"] = url
    os.environ["HYPERCARE_COOKIE_KEY"] = secrets.token_urlsafe(36)  # 48 characters
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    sign_in(at, username, session_version_of(url, username))
    at.run()
    at.switch_page(str(ROOT / "pages" / page_file))
    return at


def sign_in(at: AppTest, username: str, session_version: int | None) -> None:
    """Give `at` the session state app.py keeps for `username` once signed in."""
    for key, value in {
        "authentication_status": True,
        "username": username,
        "name": username,
        "roles": [],
        "session_version": session_version,
    }.items():
        at.session_state[key] = value


def session_version_of(url: str, username: str) -> int | None:
    """The user's current session version: a session signed in now carries it. A cached bench
    database is upgraded first (the app would do so on its first run anyway)."""
    from sqlmodel import Session, select

    from data_access.db import make_engine
    from data_access.migrate import upgrade
    from data_access.models import User

    engine = make_engine(url)
    try:
        upgrade(engine)
        with Session(engine) as session:
            return session.exec(
                select(User.session_version).where(User.username == username)
            ).first()
    finally:
        engine.dispose()


def page_run_timings(at: AppTest, runs: int) -> dict[str, float]:
    """Median script runs of the page: cache cleared (wall and CPU) and cached.

    CPU time of this process (the script runs in one of its threads) is what the page costs
    when other programs compete for the processor; wall time is what a person waits.
    """

    def uncached() -> None:
        st.cache_data.clear()
        at.run()

    return {
        "page run, cache cleared (s)": median_seconds(uncached, runs),
        "page run, cache cleared (CPU s)": median_seconds(uncached, runs, time.process_time),
        "page rerun, cached (s)": median_seconds(at.run, runs),
    }


def load_average_line() -> str:
    return f"load average during the run: {', '.join(f'{v:.1f}' for v in os.getloadavg())}"
