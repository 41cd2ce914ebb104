"""Taking a CSV download appends an `export_csv` audit row, written with the file when the
server runs the button's deferred callable; drawing the button or rerunning writes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import streamlit as st
from sqlalchemy import text
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from data_access.audit import CommandRefused
from tests.pages.conftest import db_engine, page_path, signed_in


def open_page(username: str, page: str) -> AppTest:
    st.cache_data.clear()
    at = signed_in(username)
    at.run()
    at.switch_page(page_path(page))
    at.run()
    assert not at.exception, at.exception
    return at


# Each download button's callable, as its latest run registered it, by the button's id.
CLICKS: dict[str, Callable[[], bytes]] = {}


@pytest.fixture(autouse=True)
def deferred(monkeypatch):
    CLICKS.clear()
    add = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, *, element_id=""):
        CLICKS[element_id] = data_callable
        return add(self, data_callable, mimetype, coordinates, file_name, element_id=element_id)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)


def click_download(at: AppTest, key: str) -> bytes:
    """What the server does when the button is clicked: it runs the callable the button's last
    run registered, outside any script run, and serves what it returns."""
    (button,) = [b for b in at.get("download_button") if b.proto.id.endswith(key)]
    assert button.proto.deferred_file_id, "a CSV download is written on click"
    return CLICKS[button.proto.id]()


def exports() -> list[tuple[str, str, str]]:
    engine = db_engine()
    try:
        with engine.connect() as connection:
            return [
                tuple(row)
                for row in connection.execute(
                    text(
                        "SELECT actor, entity_id, detail FROM audit_log "
                        "WHERE action = 'export_csv' ORDER BY id"
                    )
                )
            ]
    finally:
        engine.dispose()


def test_a_csv_download_is_audited_with_its_file_and_rows():
    before = exports()
    at = open_page("csm.emea", "portfolio.py")
    at.run()
    assert exports() == before  # drawing the button, and rerunning, records nothing
    body = click_download(at, "portfolio_csv").decode("utf-8-sig")
    after = exports()
    assert len(after) == len(before) + 1
    actor, file_name, detail = after[-1]
    assert (actor, file_name) == ("csm.emea", "portfolio.csv")
    rows = len(body.splitlines()) - 1
    assert rows > 0 and f'"rows": {rows}' in detail


def test_the_export_is_recorded_once_per_click():
    at = open_page("manager", "case_queue.py")
    before = len(exports())
    click_download(at, "queue_csv")
    at.run()  # any later rerun does not record it again
    assert len(exports()) == before + 1
    click_download(at, "queue_csv")  # a second click is a second file and a second row
    assert len(exports()) == before + 2


def test_an_account_deactivated_after_the_page_was_drawn_gets_no_file():
    at = open_page("csm.emea", "portfolio.py")
    before = exports()
    engine = db_engine()
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE app_user SET is_active = false WHERE username = 'csm.emea'")
            )
        with pytest.raises(CommandRefused, match="no longer active"):
            click_download(at, "portfolio_csv")
        assert exports() == before
    finally:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE app_user SET is_active = true WHERE username = 'csm.emea'")
            )
        engine.dispose()
