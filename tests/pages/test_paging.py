"""ui/paging.py: what a page of a long list covers, and the picker of pages under AppTest."""

from streamlit.testing.v1 import AppTest

from domain.paging import span


def test_a_page_spans_its_rows_and_the_last_one_stops_at_the_total():
    assert [span(page, 25, 60) for page in range(3)] == [(1, 25), (26, 50), (51, 60)]
    assert span(0, 25, 0) == (0, 0)


def picker_app(total: int) -> None:
    import streamlit as st

    from ui.paging import page_picker

    st.session_state["chosen"] = page_picker("Rows", total, 10, "rows_page", "A page at a time.")


def test_the_picker_offers_each_page_and_a_page_past_the_end_becomes_the_last():
    at = AppTest.from_function(picker_app, args=(35,))
    at.run()
    picker = at.selectbox(key="rows_page")
    assert picker.options == ["1–10", "11–20", "21–30", "31–35"]  # as the user reads them
    picker.set_value(3).run()
    assert at.session_state["chosen"] == 3
    at = AppTest.from_function(picker_app, args=(15,))
    at.session_state["rows_page"] = 3
    at.run()
    assert at.session_state["chosen"] == 1
    assert at.selectbox(key="rows_page").value == 1


def test_one_page_draws_no_picker():
    at = AppTest.from_function(picker_app, args=(10,))
    at.run()
    assert not at.selectbox and at.session_state["chosen"] == 0
