"""Table pieces several pages show: times in the viewer's zone, and a refused file's problems."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.downloads import csv_download
from ui.format import DATETIME_COLUMN_FORMAT


def local_time_column(timezone: str, label: str = "When") -> st.column_config.Column:
    """A column of aware times (converted with `ui.format.to_zone`), its heading naming the
    zone they are shown in: 'When (Europe/London)'."""
    return st.column_config.DatetimeColumn(f"{label} ({timezone})", format=DATETIME_COLUMN_FORMAT)


def file_problems(problems: list[tuple[int, str]], *, user, key: str, file_name: str) -> None:
    """The problems of a file refused as a whole, one row per line, with their download."""
    st.markdown("**Problems in the last file, which was refused as a whole**")
    frame = pd.DataFrame(problems, columns=["line", "problem"])
    st.dataframe(
        frame,
        hide_index=True,
        key=key,
        column_config={
            "line": st.column_config.NumberColumn("Line", format="%d"),
            "problem": st.column_config.TextColumn("Problem", width="large"),
        },
    )
    csv_download(
        frame,
        file_name=file_name,
        key=f"{key}_csv",
        user=user,
        label="Download the problems (CSV)",
    )
