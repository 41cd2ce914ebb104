"""Bad input in the URL or the configuration is one sentence or a default, never a traceback."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.pages.conftest import APP, page_path, signed_in


def open_page(page: str, **query: str) -> AppTest:
    st.cache_data.clear()
    at = signed_in("manager")
    at.run()
    at.switch_page(page_path(page))
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    return at


def test_a_week_in_year_one_shows_the_default_week():
    at = open_page("weekly_report.py", week="0001-01-01")
    assert not at.exception, at.exception
    assert at.selectbox(key="weekly_week").value.year > 2000


def test_a_case_id_beyond_64_bits_is_no_case():
    at = open_page("case.py", id="99999999999999999999")
    assert not at.exception, at.exception
    assert [title.value for title in at.title] == ["Case"]


def test_a_malformed_database_url_never_shows_its_password(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:Hunter2-secret@db.internal:port/hypercare")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    (error,) = at.error
    assert "not a valid database address" in error.value
    assert "Hunter2-secret" not in error.value and "app:***@db.internal" in error.value


@pytest.mark.parametrize(
    ("page", "query"),
    [
        ("qbr.py", {"quarter": "0001Q1"}),
        ("qbr.py", {"quarter": "9999Q4"}),
        ("qbr.py", {"quarter": "99999999999999999999Q1"}),
        ("coe_benchmark.py", {"quarter": "0001Q1"}),
        ("coe_benchmark.py", {"quarter": "99999999999999999999Q1"}),
        ("monitoring.py", {"alert": "99999999999999999999"}),
        ("entitlements.py", {"customer": "99999999999999999999"}),
        ("weekly_report.py", {"week": "9999-12-31"}),
        ("case_queue.py", {"q": "%' OR 1=1 --"}),
    ],
)
def test_out_of_range_url_values_never_crash(page, query):
    at = open_page(page, **query)
    assert not at.exception, at.exception
