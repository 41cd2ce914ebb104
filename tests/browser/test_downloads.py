"""A CSV download whose table is read from the database only when clicked (survey responses):
the file arrives in the browser, whole, and the click is audited; and it still arrives when
script runs end between the click and the browser's fetch."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from data_access.db import make_engine
from tests.browser.conftest import Server, start_server, stop_server
from tests.browser.test_browser import SLOW, sign_in, wait_for, wait_settled
from tests.conftest import DEMO_PASSWORD

SWEEP_BEFORE_FETCH = Path(__file__).parent / "sweep_before_fetch"


def download_responses(page: Page, base: str) -> Path:
    sign_in(page, base, "manager", DEMO_PASSWORD)
    page.goto(f"{base}/survey_results")
    expect(page.get_by_role("heading", name="Survey results")).to_be_visible(timeout=SLOW)
    wait_settled(page)
    with page.expect_download(timeout=SLOW) as download:
        page.get_by_role("button", name=re.compile("Download responses")).click()
    return Path(download.value.path())


@pytest.fixture
def sweeping_server(seeded_database) -> Iterator[Server]:
    """A server on which two orphan clean-ups run between each click's file and its fetch."""
    server = start_server(seeded_database, extra_env={"PYTHONPATH": str(SWEEP_BEFORE_FETCH)})
    yield server
    stop_server(server)


def test_the_file_of_a_click_outlives_script_runs_ending_before_the_fetch(sweeping_server, page):
    """Streamlit deletes an unshown download on the second clean-up; ui/media_files.py keeps it.
    Without that, this download is cancelled (a fresh-clone CI failure of test_queue_live.py)."""
    path = download_responses(page, sweeping_server.url)
    rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"))))
    assert len(rows) == submitted_responses(sweeping_server.database_url) > 0


def submitted_responses(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            query = text("SELECT count(*) FROM survey_response WHERE status = 'submitted'")
            return connection.execute(query).scalar_one()
    finally:
        engine.dispose()


def test_survey_responses_are_read_when_the_download_is_clicked(fresh_server, page: Page):
    engine = make_engine(fresh_server.database_url)
    try:

        def exports() -> int:
            with engine.connect() as connection:
                return connection.execute(
                    text("SELECT count(*) FROM audit_log WHERE action = 'export_csv'")
                ).scalar_one()

        before = exports()  # the module's database: other tests here download too
        path = download_responses(page, fresh_server.url)
        rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"))))
        submitted = submitted_responses(fresh_server.database_url)
        assert submitted > 0 and len(rows) == submitted
        wait_for(lambda: exports() == before + 1)
    finally:
        engine.dispose()
