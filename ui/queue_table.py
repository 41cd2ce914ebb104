"""The case queue's tables: the open cases (their fixed columns and headings), the solved and
closed cases a search finds, and the SLA summary per tier."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from domain.lifecycle import SEVERITY_LABELS, STATUS_LABELS
from domain.queue_view import CLOCK_LABELS, local_due_text
from ui.format import MISSING, datetime_text

TABLE_COLUMNS = [
    "state",
    "case_id",
    "customer",
    "severity_label",
    "countdown",
    "due_viewer",
    "assignee",
    "subject",
    "due_local",
    "status_label",
    "clock_label",
    "tier_label",
    "queue_position",
    "queue_reason",
]


def due_text(due: pd.Series, timezone: str) -> pd.Series:
    return due.map(lambda moment: datetime_text(moment, timezone, missing=MISSING))


def table_frame(shown: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """The columns that do not move between ticks, formatted once per run."""
    stopped = (shown["clock"] == "resolution") & shown["res_state"].isin(["paused", "excluded"])
    due = shown["due"].mask(stopped)
    return pd.DataFrame(
        {
            "queue_position": shown["queue_position"],
            "case_id": shown["case_id"],
            "customer": shown["customer"],
            "subject": shown["subject"],
            "tier_label": shown["tier_label"],
            "severity_label": shown["severity"].map(SEVERITY_LABELS),
            "status_label": shown["status"].map(STATUS_LABELS),
            "clock_label": shown["clock"].map(CLOCK_LABELS),
            "due_viewer": due_text(due, timezone),
            "due_local": (
                local_due_text(due, shown["region_timezone"]) + " " + shown["region"]
            ).where(due.notna(), MISSING),
            "assignee": shown["assignee"].fillna("Unassigned"),
            "queue_reason": shown["queue_reason"],
        },
        index=shown.index,
    )


def open_cases_table(table: pd.DataFrame, *, key: str, timezone: str):
    """The open cases with their live countdown and state, any rows selectable; returns the
    selection."""
    return st.dataframe(
        table,
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        key=key,
        column_order=TABLE_COLUMNS,
        column_config={
            "state": st.column_config.TextColumn("State", pinned=True),
            "case_id": st.column_config.NumberColumn("Case", format="#%d", pinned=True),
            "customer": st.column_config.TextColumn("Customer", width="medium"),
            "severity_label": "Severity",
            "countdown": st.column_config.TextColumn(
                "Time left",
                help="First response: calendar time (support is 24/7). Resolution guideline: "
                "business time in the region's calendar; 1 bd is one working day.",
            ),
            "due_viewer": st.column_config.TextColumn(f"Due ({timezone})"),
            "assignee": "Assignee",
            "subject": st.column_config.TextColumn("Subject", width="large"),
            "due_local": st.column_config.TextColumn("Due (region local)"),
            "status_label": "Status",
            "clock_label": st.column_config.TextColumn(
                "Clock",
                help="First response until the first public reply, then the resolution "
                "guideline (business days in the region's calendar; a guideline, not a "
                "commitment)",
            ),
            "tier_label": "Tier",
            "queue_position": st.column_config.NumberColumn(
                "Position", help="Position in the whole queue"
            ),
            "queue_reason": st.column_config.TextColumn("Why here", width="medium"),
        },
    )


def closed_cases_table(closed: pd.DataFrame, timezone: str):
    """Solved and closed cases a search found, one row selectable; returns the selection."""
    return st.dataframe(
        closed.assign(
            severity_label=closed["severity"].map(SEVERITY_LABELS),
            status_label=closed["status"].map(STATUS_LABELS),
            opened=due_text(closed["opened_at"], timezone),
            solved=due_text(closed["solved_at"], timezone),
            assignee=closed["assignee"].fillna("Unassigned"),
        ),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="closed_matches",
        column_order=[
            "case_id",
            "customer",
            "subject",
            "severity_label",
            "status_label",
            "opened",
            "solved",
            "assignee",
        ],
        column_config={
            "case_id": st.column_config.NumberColumn("Case", format="#%d"),
            "customer": "Customer",
            "subject": st.column_config.TextColumn("Subject", width="large"),
            "severity_label": "Severity",
            "status_label": "Status",
            "opened": f"Opened ({timezone})",
            "solved": f"Solved ({timezone})",
            "assignee": "Assignee",
        },
    )


def summary_table(summary: pd.DataFrame, timezone: str) -> None:
    """Per tier, one compact line: open, at risk, breached, first response met this week."""
    met = summary["fr_met_percent"].map(
        lambda value: MISSING if pd.isna(value) else f"{value:.0f} %"
    )
    st.dataframe(
        summary.assign(
            fr_met_text=met,
            fr_count=summary["fr_met"].astype(str) + " of " + summary["fr_measured"].astype(str),
        ),
        hide_index=True,
        key="queue_summary",
        column_order=["tier_label", "open", "at_risk", "breached", "fr_met_text", "fr_count"],
        column_config={
            "tier_label": "Tier",
            "open": st.column_config.NumberColumn("Open"),
            "at_risk": st.column_config.NumberColumn("At risk"),
            "breached": st.column_config.NumberColumn(
                "Breached", help="Severity 1 has no response target: a missed goal is not here."
            ),
            "fr_met_text": st.column_config.TextColumn("First response met"),
            "fr_count": st.column_config.TextColumn("Cases this week"),
        },
    )
    st.caption(
        "All open cases in your view, whatever the filters. First response met: cases opened "
        f"since Monday 00:00 ({timezone}) whose first-response target has been reached or "
        "passed; severity 1 has no target."
    )
