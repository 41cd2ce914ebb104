"""Metric upload: load daily model metrics from a CSV file, all rows or none."""

import pandas as pd
import streamlit as st

from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.metric_loader import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    MetricFileRefused,
    load_metric_csv,
)
from domain.monitoring import COUNT_METRICS, METRICS, metric_label
from ui.auth import require_access
from ui.commands import run_command, show_notice
from ui.downloads import csv_download
from ui.format import date_text
from ui.tables import file_problems

user = require_access(__file__)

PROBLEMS_KEY = "metric_upload_problems"
EXAMPLE = pd.DataFrame(
    [
        {"model_id": 12, "model_name": "Sales Forecast PROD", "day": "2026-10-30"}
        | {"open_time_s": 21.4, "import_s": 44.0, "export_s": 30.2, "processing_s": 118.9}
        | {"times_accessed": 412, "users": 61, "changes": 930},
        {"model_id": 12, "model_name": "", "day": "2026-10-31"}
        | {"open_time_s": 22.0, "import_s": "", "export_s": 29.8, "processing_s": 121.3}
        | {"times_accessed": 398, "users": 58, "changes": 880},
    ]
)

st.title("Metric upload")
show_notice()
st.caption(
    "Daily figures per production model, from the platform's usage export. The whole file is "
    "checked first: if any row is wrong nothing is loaded and every problem is listed with its "
    "line number. Loading the same file again changes nothing; a corrected file replaces the "
    "figures of the days it holds. The same loader runs from the command line: "
    "`python -m data_access.metric_loader FILE.csv`."
)

with st.expander("File format"):
    st.markdown(
        f"A header line with the columns **{', '.join(REQUIRED_COLUMNS)}** "
        f"(optional: {', '.join(OPTIONAL_COLUMNS)}, checked against the model when filled in). "
        "Days are written YYYY-MM-DD and may not be in the future. A blank figure is a missing "
        "value. Durations are seconds; counts are whole numbers."
    )
    st.dataframe(
        pd.DataFrame(
            {
                "column": list(METRICS),
                "meaning": [metric_label(m) for m in METRICS],
                "kind": ["whole number" if m in COUNT_METRICS else "seconds" for m in METRICS],
            }
        ),
        hide_index=True,
    )
    csv_download(
        EXAMPLE,
        file_name="metrics-example.csv",
        key="metrics_example_csv",
        user=user,
        label="Download an example file",
    )

uploaded = st.file_uploader("Metrics CSV", type=["csv"], key="metric_file")
if uploaded is not None and st.button("Check and load", type="primary", key="load_metrics"):
    st.session_state.pop(PROBLEMS_KEY, None)
    bar = st.progress(0.0, text="Reading the file")

    def keep_problems(refused: CommandRefused) -> None:
        bar.empty()
        errors = refused.errors if isinstance(refused, MetricFileRefused) else []
        st.session_state[PROBLEMS_KEY] = [(e.line, e.reason) for e in errors]

    run_command(
        lambda session: load_metric_csv(
            session=session,
            actor=Actor.of(user),
            source=uploaded.getvalue(),
            file_name=uploaded.name,
            progress=lambda fraction, what: bar.progress(min(fraction, 1.0), text=what),
        ),
        lambda report: (
            f"Loaded {report.rows:,} rows for {report.models} models, "
            f"{date_text(report.first_day)} to {date_text(report.last_day)}: "
            f"{report.inserted:,} new, {report.updated:,} changed, "
            f"{report.unchanged:,} already stored."
        ),
        on_refused=keep_problems,
    )

if problems := st.session_state.get(PROBLEMS_KEY):
    file_problems(problems, user=user, key="upload_errors", file_name="metric-upload-problems.csv")
