"""Running a write from a page: one transaction, one sentence on refusal, a notice and a rerun on
success. Every page write goes through `run_command`; a page keeps no variant of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st
from sqlmodel import Session

from data_access.audit import CommandRefused
from ui.auth import write_session
from ui.format import sentence_markdown

NOTICE_KEY = "command_notice"

Result = TypeVar("Result")


def run_command(
    command: Callable[[Session], Result],
    success: str | Callable[[Result], str],
    *,
    on_refused: Callable[[CommandRefused], None] | None = None,
    on_success: Callable[[Result], None] | None = None,
) -> None:
    """Run `command(session)` in one transaction, then show the page afresh.

    A refusal is shown where the command ran, as its one sentence (customer names in it shown
    literally, never as Markdown); nothing is written and the page does not rerun, so what the
    user typed stays to be fixed. `on_refused` may then keep what the page needs to show about
    it (a file's problems) or record the attempt in a transaction of its own.

    On success the cached reads are cleared and `success` (or `success(result)` when it needs
    what the command returned) is kept for `show_notice()`. `on_success(result)` then runs
    before the rerun: to start a form's next round, keep a returned value, or go to another
    page (`st.switch_page` leaves at once).
    """
    try:
        with write_session() as session:
            result = command(session)
    except CommandRefused as exc:
        st.error(sentence_markdown(str(exc)))
        if on_refused is not None:
            on_refused(exc)
        return
    st.cache_data.clear()
    st.session_state[NOTICE_KEY] = success(result) if callable(success) else success
    if on_success is not None:
        on_success(result)
    st.rerun()


def show_notice() -> None:
    """The success of the last command, once (call it where the page confirms its writes)."""
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.success(sentence_markdown(notice), icon=":material/check_circle:")
