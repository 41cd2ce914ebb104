"""Two app replicas on one PostgreSQL database, as behind a load balancer (deploy/): what one
writes the other reads within the cache TTL, a lockout counted on one holds on the other, and the
scheduled daily job started on both at once runs once.

Runs only on PostgreSQL (TEST_DATABASE_URL), in a database of its own, with two `streamlit run`
processes on free ports of 127.0.0.1 sharing one cookie key, as replicas must.
"""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select, text

from data_access.db import make_engine
from data_access.models import Case
from domain.lifecycle import OPEN_STATUSES
from tests.browser.conftest import ROOT, Server, _seed, start_server, stop_server
from tests.browser.test_browser import (
    IDLE,
    SLOW,
    failed_logins,
    sign_in,
    wait_for,
    wait_idle,
    wait_settled,
)
from tests.conftest import DEMO_PASSWORD, fresh_postgres_database

SLACK_S = 20  # a rerun and a page load on a loaded two-core machine
WARM_UP_MS = 180_000


def case_page_ttl() -> int:
    """The cache TTL of the case page's `load_case`, read from the page's source."""
    tree = ast.parse((ROOT / "pages" / "case.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "load_case":
            for decorator in node.decorator_list:
                for keyword in getattr(decorator, "keywords", []):
                    if keyword.arg == "ttl":
                        return int(ast.literal_eval(keyword.value))
    raise AssertionError("pages/case.py has no load_case cached with a ttl")


@pytest.fixture(scope="module")
def replica_database() -> Iterator[str]:
    with fresh_postgres_database() as url:
        _seed(url)
        yield url


@pytest.fixture(scope="module")
def replicas(replica_database, browser: Browser) -> Iterator[tuple[Server, Server]]:
    key = secrets.token_urlsafe(48)
    first = start_server(replica_database, cookie_key=key)
    try:
        second = start_server(replica_database, cookie_key=key)
    except BaseException:
        stop_server(first)
        raise
    for server in (first, second):
        # A server's first run imports every page and opens the database: on a loaded machine
        # that alone can outlast the page timeouts the tests use.
        page = new_page(browser)
        page.goto(server.url)
        page.wait_for_selector(IDLE, timeout=WARM_UP_MS)
        page.context.close()
    yield first, second
    stop_server(second)
    stop_server(first)


def open_case(database_url: str) -> int:
    with make_engine(database_url).connect() as connection:
        return connection.execute(
            select(func.min(Case.id)).where(Case.status.in_(OPEN_STATUSES))
        ).scalar_one()


def new_page(browser: Browser) -> Page:
    return browser.new_context().new_page()


def test_a_write_through_one_replica_is_read_through_the_other_within_the_cache_ttl(
    replicas, browser: Browser
):
    first, second = replicas
    case_id = open_case(first.database_url)
    note = f"Replica note {uuid.uuid4().hex[:8]}"
    reader = new_page(browser)
    sign_in(reader, second.url, "manager", DEMO_PASSWORD)
    reader.goto(f"{second.url}/case?id={case_id}")
    expect(reader.get_by_role("button", name="Add internal note")).to_be_visible(timeout=SLOW)
    wait_settled(reader)  # the second replica has this case cached now, without the note

    writer = new_page(browser)
    sign_in(writer, first.url, "manager", DEMO_PASSWORD)
    writer.goto(f"{first.url}/case?id={case_id}")
    expect(writer.get_by_role("button", name="Add internal note")).to_be_visible(timeout=SLOW)
    wait_settled(writer)  # after the cookie component's rerun, or the click can land in it
    writer.get_by_role("textbox", name="Internal note").fill(note)
    writer.get_by_role("button", name="Add internal note").click()
    expect(writer.get_by_text("Internal note added.")).to_be_visible(timeout=SLOW)
    written = time.monotonic()

    ttl = case_page_ttl()
    deadline = written + ttl + SLACK_S
    while not reader.get_by_text(note).count():
        assert time.monotonic() < deadline, (
            f"the second replica did not show the note within {ttl} s (+{SLACK_S} s)"
        )
        reader.wait_for_timeout(1_000)
        reader.reload()
        wait_idle(reader)
    print(f"write on replica 1 read on replica 2 after {time.monotonic() - written:.1f} s")
    for page in (reader, writer):
        page.context.close()


def test_a_lockout_counted_on_one_replica_holds_on_the_other(replicas, browser: Browser):
    first, second = replicas
    username = "csm.na2"
    page = new_page(browser)
    page.goto(first.url)
    wait_idle(page)
    page.wait_for_timeout(1_500)
    for attempt in range(1, 6):
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Password").fill(f"wrong-password-{attempt}")
        page.get_by_role("button", name="Sign in").click()
        if attempt < 5:
            wait_for(lambda a=attempt: failed_logins(first.database_url, username)[0] == a)
    wait_for(lambda: failed_logins(first.database_url, username)[1] is not None)

    other = new_page(browser)
    other.goto(second.url)
    wait_idle(other)
    other.wait_for_timeout(1_500)
    other.get_by_role("textbox", name="Username").fill(username)
    other.get_by_role("textbox", name="Password").fill(DEMO_PASSWORD)
    other.get_by_role("button", name="Sign in").click()
    expect(other.get_by_text(re.compile("locked after five wrong passwords"))).to_be_visible(
        timeout=SLOW
    )
    other.wait_for_timeout(2_000)
    expect(other.get_by_role("button", name="Sign out")).to_have_count(0)
    for each in (page, other):
        each.context.close()


def scheduled_runs(database_url: str, day) -> list[dict]:
    with make_engine(database_url).connect() as connection:
        details = connection.execute(
            text("SELECT detail FROM audit_log WHERE action = 'monitor_run' AND entity_id = :day"),
            {"day": day.isoformat()},
        ).scalars()
        return [run for run in map(json.loads, details) if run.get("scheduled")]


def test_the_scheduled_daily_job_started_on_both_replicas_at_once_runs_once(replica_database):
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    environment = {**os.environ, "DATABASE_URL": replica_database}
    engine = make_engine(replica_database)
    # Hold the models table while both start: whichever takes the job lock waits here, inside
    # its run, so the other surely starts while the first is running.
    with engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE planning_model IN ACCESS EXCLUSIVE MODE"))
        jobs = [
            subprocess.Popen(
                [sys.executable, "-m", "data_access.monitor"],
                cwd=ROOT,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 120
            while all(job.poll() is None for job in jobs):
                assert time.monotonic() < deadline, "neither job finished within 120 s"
                time.sleep(0.2)
            assert [job.poll() is None for job in jobs].count(True) == 1, "both jobs ended"
        finally:
            blocker.rollback()
        outputs = [job.communicate(timeout=120) for job in jobs]
    engine.dispose()
    assert [job.returncode for job in jobs] == [0, 0], outputs
    printed = sorted(out.strip() for out, _ in outputs)
    print("\n".join(printed))
    ran = [out for out in printed if out.startswith(f"{yesterday}: ")]
    stopped = [out for out in printed if "holds the job lock" in out]
    assert len(ran) == 1 and len(stopped) == 1, printed
    assert len(scheduled_runs(replica_database, yesterday)) == 1
