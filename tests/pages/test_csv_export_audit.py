"""Taking a CSV download appends an `export_csv` audit row, written in the script body."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from tests.pages.conftest import db_engine, page_path, signed_in


def open_page(username: str, page: str) -> AppTest:
    st.cache_data.clear()
    at = signed_in(username)
    at.run()
    at.switch_page(page_path(page))
    at.run()
    assert not at.exception, at.exception
    return at


def click_download(at: AppTest, key: str) -> AppTest:
    """What the browser sends when the button is clicked: its trigger, then a rerun."""
    (button,) = [b for b in at.get("download_button") if b.proto.id.endswith(key)]
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = button.proto.id
    state.trigger_value = True
    at._run(states)
    assert not at.exception, at.exception
    return at


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
    assert exports() == before  # showing the button records nothing
    click_download(at, "portfolio_csv")
    after = exports()
    assert len(after) == len(before) + 1
    actor, file_name, detail = after[-1]
    assert (actor, file_name) == ("csm.emea", "portfolio.csv")
    assert '"rows": ' in detail


def test_the_export_is_recorded_once_per_click():
    at = open_page("manager", "case_queue.py")
    before = len(exports())
    click_download(at, "queue_csv")
    at.run()  # any later rerun does not record it again
    assert len(exports()) == before + 1
