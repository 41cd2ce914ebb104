"""Presentation mode for the meeting-room screen: `?present=1` in the URL, one section per slide.

The URL holds the mode and the slide (`?slide=N`, counted from 1), so `app.py` can hide the
navigation and `ui.auth` the sidebar before any page runs, and a reload keeps the place. The
functions that change them are button callbacks: they only move within the page, never write.
"""

from __future__ import annotations

import streamlit as st

PRESENT_PARAM = "present"
SLIDE_PARAM = "slide"


def presenting() -> bool:
    """Whether this run shows the presentation (`?present=1`)."""
    return st.query_params.get(PRESENT_PARAM) == "1"


def start_presenting() -> None:
    st.query_params[PRESENT_PARAM] = "1"
    st.query_params[SLIDE_PARAM] = "1"


def stop_presenting() -> None:
    for name in (PRESENT_PARAM, SLIDE_PARAM):
        if name in st.query_params:
            del st.query_params[name]


def current_slide(count: int) -> int:
    """The slide in the URL as an index from 0, kept within [0, count); the first when unreadable."""
    try:
        number = int(st.query_params.get(SLIDE_PARAM, "1"))
    except ValueError:
        number = 1
    return min(max(number, 1), max(count, 1)) - 1


def go_to_slide(index: int) -> None:
    st.query_params[SLIDE_PARAM] = str(index + 1)
