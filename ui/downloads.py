"""The one CSV download button: every table a page offers for download goes through it.

The bytes are formula-safe (`domain.csv_safe.csv_bytes`) and each download is audited.

The CSV is written only when the button is clicked (Streamlit's deferred download: `data` is a
callable the server runs on that click), not on every run of the page: writing every table as
CSV on every rerun was a tenth of the server's time under load (bench/README.md, load section).
That callable also writes the audit row, through `record_export`, which re-reads the account
and its roles in its own transaction (a page's callback would run before the access guard; this
runs only for a button a guarded run drew, and the command checks the actor again). A refused
actor gets no file.

A click does not rerun the page (`on_click="ignore"`). It used to, so that the rerun could write
the audit row, but that rerun could finish before the server ran the click's callable; the
finished run then discarded the callable the click named, and the file never came (Streamlit
keeps only the callables of a session's latest run).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd
import streamlit as st

from data_access.actor import Actor
from data_access.audit import CommandRefused, record_export
from domain.csv_safe import csv_bytes
from ui import media_files
from ui.auth import write_session

log = logging.getLogger(__name__)

media_files.install()  # the file a click makes must outlive other sessions' runs until fetched


def csv_download(
    frame: pd.DataFrame | Callable[[], pd.DataFrame],
    *,
    file_name: str,
    key: str,
    user,
    label: str = "Download CSV",
    disabled: bool = False,
) -> None:
    """A download of `frame` as formula-safe CSV; taking it appends an `export_csv` audit row.

    `frame` may be a function making the table, for a table the page does not otherwise build:
    it is called only when the button is clicked."""
    if callable(frame):
        make = frame
    else:
        shown = frame.copy(deep=False)  # copy-on-write: later edits of `frame` stay out of the file
        make = lambda: shown  # noqa: E731
    actor = Actor.of(user)
    st.download_button(
        label,
        lambda: audited_csv(make, file_name=file_name, actor=actor),
        file_name=file_name,
        mime="text/csv",
        icon=":material/download:",
        key=key,
        disabled=disabled,
        on_click="ignore",
    )


def audited_csv(make: Callable[[], pd.DataFrame], *, file_name: str, actor: Actor) -> bytes:
    """The file for one click, run by the server outside any script run: the table, its CSV,
    then the audit row (who, which file, how many rows). Raises `CommandRefused`, with no file,
    when the actor may no longer export."""
    table = make()
    data = csv_bytes(table)
    try:
        with write_session() as session:
            record_export(session=session, actor=actor, file_name=file_name, rows=len(table))
    except CommandRefused as exc:
        log.warning("export of %s by %s refused: %s", file_name, actor.username, exc)
        raise
    return data
