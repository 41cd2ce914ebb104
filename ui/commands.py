"""Running a write from a page: one transaction, one sentence on refusal, a notice on success."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from sqlmodel import Session

from data_access.audit import CommandRefused
from ui.auth import write_session
from ui.format import sentence_markdown

NOTICE_KEY = "command_notice"


def run_command(
    command: Callable[[Session], object],
    success: str,
    on_refused: Callable[[CommandRefused], None] | None = None,
) -> bool:
    """Run `command(session)` in one transaction.

    A refusal is shown as its one sentence (customer names in it shown literally, never as
    Markdown) and nothing is written (`on_refused` may then record
    the attempt in a transaction of its own). On success the cached reads are cleared and
    `success` is kept to be shown by `show_notice()` after the page reruns.
    """
    try:
        with write_session() as session:
            command(session)
    except CommandRefused as exc:
        st.error(sentence_markdown(str(exc)))
        if on_refused is not None:
            on_refused(exc)
        return False
    st.cache_data.clear()
    st.session_state[NOTICE_KEY] = success
    return True


def show_notice() -> None:
    """The success of the last command, once (call it near the top of the page)."""
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.success(sentence_markdown(notice), icon=":material/check_circle:")
