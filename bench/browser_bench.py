"""Browser timings: from navigation to the page being idle, small vs large, five most used pages.

A real server (`streamlit run app.py`, as tests/browser start it) runs against each cached bench
database (bench/bench_databases.py); Playwright drives Debian's Chromium (/usr/bin/chromium).
Signed in once as the manager, then for each page: `goto(url)` until the app reports its
script idle (`[data-test-script-state="notRunning"]`) with the page's title shown. The first
visit on a fresh server is "cold" (the page's st.cache_data entries are empty); the median of
the next visits is "warm" (within the caches' time-to-live, as a person clicking around sees).

The manager's password on the bench database is replaced by a random one for the run (the seed's
are not kept).

Run: `.venv/bin/python bench/browser_bench.py [--quick] [--engines sqlite postgresql] [--visits N]`.
Writes bench/out/browser_bench.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from sqlalchemy import update  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench import bench_databases  # noqa: E402
from data_access.db import make_engine  # noqa: E402
from data_access.models import User  # noqa: E402
from data_access.users import hash_password  # noqa: E402
from tests.browser.conftest import CHROMIUM, start_server, stop_server  # noqa: E402

OUT = ROOT / "bench" / "out" / "browser_bench.json"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
PAGES = ("case_queue", "case", "portfolio", "monitoring", "weekly_report")
USERNAME = "manager"
TIMEOUT_MS = 120_000


def set_password(url: str) -> tuple[str, int | None]:
    """A fresh random password for the manager, and the representative case to open."""
    password = secrets.token_urlsafe(18)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            session.exec(
                update(User)
                .where(User.username == USERNAME)
                .values(password_hash=hash_password(password), failed_logins=0, locked_until=None)
            )
            session.commit()
            assert session.exec(select(User.id).where(User.username == USERNAME)).one()
        return password, bench_databases.representative_case(engine, USERNAME)
    finally:
        engine.dispose()


def idle_with_title(page) -> None:
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)
    page.locator("h1").first.wait_for(state="visible", timeout=TIMEOUT_MS)
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)


def sign_in(page, base: str, password: str) -> None:
    page.goto(base)
    # Idle, and still idle after the cookie component's round trip (which triggers a rerun).
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)
    page.wait_for_timeout(3_000)
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)
    page.get_by_role("textbox", name="Username").fill(USERNAME)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    try:
        page.get_by_role("button", name="Sign out").wait_for(state="visible", timeout=TIMEOUT_MS)
    except Exception:
        page.screenshot(path=str(OUT.with_name("browser_sign_in_failed.png")))
        raise
    deadline = time.monotonic() + 30
    while not any(c["name"] for c in page.context.cookies()) and time.monotonic() < deadline:
        time.sleep(0.2)
    page.wait_for_timeout(1_500)
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)


def time_pages(url: str, visits: int, browser) -> dict[str, dict[str, float]]:
    password, case_id = set_password(url)
    server = start_server(url)
    try:
        context = browser.new_context()
        page = context.new_page()
        sign_in(page, server.url, password)
        timings = {}
        for name in PAGES:
            address = f"{server.url}/{name}" + (f"?id={case_id}" if name == "case" else "")
            seconds = []
            for _ in range(visits):
                started = time.perf_counter()
                page.goto(address)
                idle_with_title(page)
                seconds.append(time.perf_counter() - started)
            timings[name] = {
                "cold_s": round(seconds[0], 3),
                "warm_s": round(statistics.median(seconds[1:]), 3) if visits > 1 else None,
            }
            print(
                f"  {name:<14} cold {seconds[0]:.2f} s, warm {timings[name]['warm_s']} s",
                flush=True,
            )
        context.close()
        return timings
    finally:
        stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("QUICK")))
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--visits", type=int, default=4)
    options = parser.parse_args()
    sizes = bench_databases.sizes(options.quick)
    results = {"quick": options.quick, "load_average_before": os.getloadavg(), "timings": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for engine in options.engines:
                for size in ("small", "large"):
                    url = bench_databases.ensure(sizes[size], engine)
                    print(f"{engine} {size}:", flush=True)
                    for name, found in time_pages(url, options.visits, browser).items():
                        results["timings"].append(
                            {"page": name, "engine": engine, "size": size, **found}
                        )
        finally:
            browser.close()
    results["load_average_after"] = os.getloadavg()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
