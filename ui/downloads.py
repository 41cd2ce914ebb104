"""The one CSV download button: every table a page offers for download goes through it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from domain.csv_safe import csv_bytes


def csv_download(
    frame: pd.DataFrame, *, file_name: str, key: str, label: str = "Download CSV"
) -> None:
    """A download of `frame` as formula-safe CSV (`domain.csv_safe.csv_bytes`)."""
    st.download_button(
        label,
        csv_bytes(frame),
        file_name=file_name,
        mime="text/csv",
        icon=":material/download:",
        key=key,
        on_click="ignore",
    )
