"""The case page's history: the conversation as one marked thread, and the timeline of every event."""

from __future__ import annotations

from datetime import datetime

import altair as alt
import pandas as pd
import streamlit as st

from domain.dates import CHART_MOMENT_FORMAT
from domain.lifecycle import STATUS_LABELS
from ui.charts import show_chart
from ui.format import local_time_text, plain_markdown, value_text
from ui.tables import local_time_column

EVENT_LABELS = {
    "status": "Status change",
    "public_reply": "Public reply",
    "internal_note": "Internal note",
    "assign": "Assignment",
    "severity": "Severity change",
}


def conversation(case: dict, timezone: str) -> None:
    """The description, public replies and internal notes as one thread, each marked."""
    events = case["events"]
    opened_by = events["actor"].iloc[0] if not events.empty else None
    with st.container(border=True):
        st.caption(
            f":material/description: **Description** · {plain_markdown(value_text(opened_by))} · "
            f"{local_time_text(case['opened_at'], timezone)}"
        )
        st.text(case["description"] or "No description was given.")
    thread = events[events["kind"].isin(["public_reply", "internal_note"])]
    for item in thread.itertuples():
        public = item.kind == "public_reply"
        with st.container(border=True):
            marker = (
                ":blue[:material/mail: **Public reply**] · seen by the customer"
                if public
                else ":orange[:material/lock: **Internal note**] · staff only"
            )
            st.caption(
                f"{marker} · {plain_markdown(value_text(item.actor))} · "
                f"{local_time_text(item.at, timezone)}"
            )
            st.text(item.note)
    if thread.empty:
        st.caption("No replies or internal notes yet.")


def timeline(case: dict, now: datetime, timezone: str) -> None:
    """Status spells as a chart and every event as a table, both in the viewer's time zone."""
    events = case["events"]
    if events.empty:
        st.info("No events recorded.")
        return
    st.caption(f"Times in {timezone}.")
    # The open spell ends at the current minute (the tooltips show minutes), so a rerun within
    # the minute reuses the chart instead of building it again.
    show_chart(timeline_chart, events, pd.Timestamp(now).floor("min"), timezone)
    table = events.assign(
        at=events["at"].dt.tz_convert(timezone),
        actor=events["actor"].map(value_text),
        kind=events["kind"].map(EVENT_LABELS).fillna(events["kind"]),
        change=events["from_status"].map(STATUS_LABELS).fillna("")
        + " → "
        + events["to_status"].map(STATUS_LABELS).fillna(""),
    )
    table.loc[events["kind"] != "status", "change"] = ""
    st.dataframe(
        table,
        hide_index=True,
        column_order=["at", "actor", "kind", "change", "note"],
        column_config={
            "at": local_time_column(timezone),
            "actor": "Who",
            "kind": "What",
            "change": "Status",
            "note": st.column_config.TextColumn("Note", width="large"),
        },
    )


def timeline_chart(events: pd.DataFrame, now: pd.Timestamp, timezone: str) -> alt.LayerChart:
    """The case's status spells as bars (the open one ending `now`) and its public replies as
    ticks, on the viewer's wall clock."""
    spells = events[events["kind"] == "status"].reset_index(drop=True)
    spells = pd.DataFrame(
        {
            "start": viewer_wall_clock(spells["at"], timezone),
            "end": viewer_wall_clock(spells["at"].shift(-1).fillna(pd.Timestamp(now)), timezone),
            "status": spells["to_status"].map(STATUS_LABELS),
            "to_status": spells["to_status"],
        }
    )
    spells = spells[spells["to_status"] != "closed"].drop(columns="to_status")
    replies = events[events["kind"] == "public_reply"]
    replies = pd.DataFrame(
        {
            "at": viewer_wall_clock(replies["at"], timezone),
            "actor": replies["actor"].map(value_text),
        }
    )
    when = f"{CHART_MOMENT_FORMAT} ({timezone})"
    axis = alt.Axis(title=None, format=CHART_MOMENT_FORMAT)
    chart = (
        alt.Chart(spells)
        .mark_bar(height=24)
        .encode(
            x=alt.X("start:T", axis=axis, scale=alt.Scale(type="utc")),
            x2="end:T",
            y=alt.value(20),
            color=alt.Color("status:N", title="Status"),
            tooltip=[
                alt.Tooltip("status:N", title="Status"),
                alt.Tooltip("start:T", title="From", format=when, formatType="utc"),
                alt.Tooltip("end:T", title="To", format=when, formatType="utc"),
            ],
        )
    )
    if not replies.empty:
        chart += (
            alt.Chart(replies)
            .mark_tick(thickness=2, size=30, color="#263238")
            .encode(
                x=alt.X("at:T", scale=alt.Scale(type="utc")),
                y=alt.value(20),
                tooltip=[
                    alt.Tooltip("actor:N", title="Reply by"),
                    alt.Tooltip("at:T", title="At", format=when, formatType="utc"),
                ],
            )
        )
    return chart.properties(height=60)


def viewer_wall_clock(moments: pd.Series, timezone: str) -> pd.Series:
    """Aware instants as the viewer's wall-clock time labelled UTC: the chart draws on a UTC
    scale, so its axis reads the viewer's local time whatever the browser's own time zone."""
    local = pd.to_datetime(moments, utc=True).dt.tz_convert(timezone)
    return local.dt.tz_localize(None).dt.tz_localize("UTC")
