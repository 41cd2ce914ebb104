"""A CSV download whose table is read from the database only when clicked (survey responses):
the file arrives in the browser, whole, and the click is audited."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import text

from data_access.db import make_engine
from tests.browser.test_browser import SLOW, sign_in, wait_for, wait_settled
from tests.conftest import DEMO_PASSWORD


def test_survey_responses_are_read_when_the_download_is_clicked(fresh_server, page: Page):
    sign_in(page, fresh_server.url, "manager", DEMO_PASSWORD)
    page.goto(f"{fresh_server.url}/survey_results")
    expect(page.get_by_role("heading", name="Survey results")).to_be_visible(timeout=SLOW)
    wait_settled(page)
    with page.expect_download(timeout=SLOW) as download:
        page.get_by_role("button", name=re.compile("Download responses")).click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
    engine = make_engine(fresh_server.database_url)
    try:
        with engine.connect() as connection:
            submitted = connection.execute(
                text("SELECT count(*) FROM survey_response WHERE status = 'submitted'")
            ).scalar_one()

        def exports() -> int:
            with engine.connect() as connection:
                return connection.execute(
                    text("SELECT count(*) FROM audit_log WHERE action = 'export_csv'")
                ).scalar_one()

        assert submitted > 0 and len(rows) == submitted
        wait_for(lambda: exports() == 1)
    finally:
        engine.dispose()
