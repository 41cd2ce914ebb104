"""A long list shown a page at a time: the picker of its pages (`domain.paging` counts them)."""

from __future__ import annotations

import streamlit as st

from domain.paging import page_count, span


def page_picker(label: str, total: int, size: int, key: str, help: str) -> int:
    """The page chosen (from 0) of `total` rows, `size` to a page: a select box of the pages
    ("1–25", "26–50", …) when there is more than one. A page chosen before the list got
    shorter becomes its last page."""
    pages = page_count(total, size)
    if st.session_state.get(key, 0) >= pages:
        st.session_state[key] = pages - 1
    if pages == 1:
        return 0
    return st.selectbox(
        label,
        range(pages),
        format_func=lambda page: "{:,}–{:,}".format(*span(page, size, total)),
        key=key,
        help=help,
    )
