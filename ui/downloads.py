"""The one CSV download button: every table a page offers for download goes through it.

The bytes are formula-safe (`domain.csv_safe.csv_bytes`) and each download is audited. A click
reruns the page, and the export is recorded in that rerun's script body (after the page's
access guard), never in a callback: a callback runs before the guard and must not write.
"""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from data_access.actor import Actor
from data_access.audit import CommandRefused, record_export
from domain.csv_safe import csv_bytes
from ui.auth import write_session

log = logging.getLogger(__name__)


def csv_download(
    frame: pd.DataFrame,
    *,
    file_name: str,
    key: str,
    user,
    label: str = "Download CSV",
    disabled: bool = False,
) -> None:
    """A download of `frame` as formula-safe CSV; taking it appends an `export_csv` audit row."""
    clicked = st.download_button(
        label,
        csv_bytes(frame),
        file_name=file_name,
        mime="text/csv",
        icon=":material/download:",
        key=key,
        disabled=disabled,
        on_click="rerun",
    )
    if clicked:
        try:
            with write_session() as session:
                record_export(
                    session=session, actor=Actor.of(user), file_name=file_name, rows=len(frame)
                )
        except CommandRefused as exc:
            log.warning("export of %s by %s not audited: %s", file_name, user.username, exc)
