"""The admin's audit tab: filters and pages through the whole log, not the last 200 rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st
from streamlit.testing.v1 import AppTest

from data_access.db import session_scope
from data_access.models import AuditLog
from tests.pages.conftest import db_engine, page_path, signed_in

ACTOR = "audit-view-probe"
ROWS = 230


def add_probe_rows() -> None:
    engine = db_engine()
    start = datetime(2020, 1, 1, tzinfo=UTC)
    try:
        with session_scope(engine) as session:
            for n in range(ROWS):
                session.add(
                    AuditLog(
                        at=start + timedelta(minutes=n),
                        actor=ACTOR,
                        action="probe",
                        entity="probe",
                        entity_id=str(n),
                        detail="",
                    )
                )
    finally:
        engine.dispose()


def open_admin() -> AppTest:
    st.cache_data.clear()
    at = signed_in("admin")
    at.run()
    at.switch_page(page_path("admin.py"))
    at.run()
    assert not at.exception, at.exception
    return at


def shown_ids(at: AppTest) -> list[int]:
    (frame,) = [d.value for d in at.dataframe if "action" in d.value.columns]
    assert set(frame["actor"]) == {ACTOR}
    return [int(value) for value in frame["entity_id"]]


def test_the_oldest_entries_are_reachable_through_filters_and_pages():
    add_probe_rows()
    at = open_admin()
    at.selectbox(key="audit_actor").set_value(ACTOR).run()
    assert not at.exception, at.exception
    assert shown_ids(at) == list(range(ROWS - 1, ROWS - 51, -1))
    last_page = -(-ROWS // 50)
    at.number_input(key="audit_page").set_value(last_page).run()
    assert shown_ids(at)[-1] == 0  # the very first entry, more than 200 rows back
    assert any(f"of {ROWS}" in caption.value for caption in at.caption)


def test_a_filter_that_matches_nothing_says_so():
    at = open_admin()
    at.text_input(key="audit_search").set_value("no entry has this text 4711").run()
    assert not at.exception, at.exception
    assert "No audit entry matches these filters." in [info.value for info in at.info]
    assert not [d for d in at.dataframe if "action" in d.value.columns]
