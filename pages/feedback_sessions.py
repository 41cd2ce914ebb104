"""Feedback sessions: written requests for remote end-user interviews, scheduling and findings."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from data_access.actor import Actor
from data_access.feedback_sessions import (
    FEEDBACK_STATE_LABELS,
    FEEDBACK_TEXT_MAX_CHARS,
    feedback_sessions,
    record_feedback_findings,
    request_feedback_session,
    schedule_feedback_session,
)
from data_access.scope import Scope
from ui.auth import read_session, require_access
from ui.commands import run_command, show_notice
from ui.customers import chosen_customer, load_assignees, load_contacts, load_customer_names
from ui.downloads import csv_download
from ui.format import (
    DATE_INPUT_FORMAT,
    local_time_text,
    sentence_markdown,
    to_zone,
)
from ui.tables import local_time_column

user = require_access(__file__)


@st.cache_data(ttl=30, show_spinner=False)
def load_sessions(scope: Scope, customer_id: int | None) -> pd.DataFrame:
    with read_session() as session:
        return feedback_sessions(session=session, scope=scope, customer_id=customer_id)


def local_moment(day: date, clock: time) -> datetime:
    """A date and time typed in the viewer's zone, as an aware datetime."""
    return datetime.combine(day, clock, tzinfo=ZoneInfo(user.timezone))


def session_label(row: pd.Series) -> str:
    return f"#{row['id']} · {row['customer']} · requested {local_time_text(row['requested_at'], user.timezone)}"


scope = Scope.for_user(user)
actor = Actor.of(user)
st.title("Feedback sessions")
st.caption(
    "Remote end-user interviews: requested in writing, scheduled with a HyperCare resource, "
    "findings and recommendations recorded. They use the same yearly adoption survey + "
    "end-user interview entitlement as the survey campaign."
)
customers = load_customer_names(scope)
if customers.empty:
    st.info("No customers are assigned to you yet.")
    st.stop()

names = dict(zip(customers["id"], customers["name"], strict=True))
customer_id = st.selectbox(
    "Customer", list(names), index=None, format_func=names.get, placeholder="All customers"
)
sessions = load_sessions(scope, None if customer_id is None else int(customer_id))
show_notice()

counts = sessions["state"].value_counts()
shown_states = ("requested", "scheduled", "done")
for column, state in zip(st.columns(len(shown_states)), shown_states, strict=True):
    column.metric(FEEDBACK_STATE_LABELS[state], int(counts.get(state, 0)))

if sessions.empty:
    st.info("No feedback sessions have been requested for these customers yet.")
else:
    # Requests, findings and recommendations are free text: shown as plain cells, never Markdown.
    st.dataframe(
        sessions.assign(
            requested_at=to_zone(sessions["requested_at"], user.timezone),
            scheduled_for=to_zone(sessions["scheduled_for"], user.timezone),
        ),
        hide_index=True,
        key="feedback_sessions",
        column_order=[
            "id",
            "customer",
            "state_label",
            "requested_by",
            "requested_at",
            "request_text",
            "scheduled_for",
            "resource",
            "findings",
            "recommendations",
        ],
        column_config={
            "id": st.column_config.NumberColumn("#", format="%d"),
            "customer": "Customer",
            "state_label": "State",
            "requested_by": "Requested by",
            "requested_at": local_time_column(user.timezone, "Requested"),
            "request_text": st.column_config.TextColumn("Written request", width="medium"),
            "scheduled_for": local_time_column(user.timezone, "Scheduled for"),
            "resource": "Run by",
            "findings": st.column_config.TextColumn("Findings", width="medium"),
            "recommendations": st.column_config.TextColumn("Recommendations", width="medium"),
        },
    )
    csv_download(
        sessions.drop(columns=["customer_id", "resource_id", "state"]),
        file_name="feedback-sessions.csv",
        key="feedback_sessions_csv",
        user=user,
    )

request_tab, schedule_tab, findings_tab = st.tabs(
    ["Record a request", "Schedule", "Record findings"]
)
now_local = datetime.now(ZoneInfo(user.timezone))

with request_tab:
    if customer_id is None:
        st.info("Choose a customer above to record its written request.")
    else:
        contacts = load_contacts(int(customer_id))
        if contacts.empty:
            st.info(
                sentence_markdown(
                    f"{names[customer_id]} has no contacts yet; an administrator adds them."
                )
            )
        else:
            contact_names = dict(zip(contacts["id"], contacts["name"], strict=True))
            with st.form("request_feedback", clear_on_submit=False):
                contact_id = st.selectbox(
                    "Requested by", list(contact_names), format_func=contact_names.get
                )
                when = st.columns(2)
                requested_on = when[0].date_input(
                    "Request received on",
                    value=now_local.date(),
                    max_value=now_local.date(),
                    format=DATE_INPUT_FORMAT,
                )
                requested_time = when[1].time_input(
                    "at (your time)", value=now_local.time().replace(second=0, microsecond=0)
                )
                text = st.text_area(
                    "Written request",
                    max_chars=FEEDBACK_TEXT_MAX_CHARS,
                    placeholder="Paste the e-mail or give its reference.",
                )
                if st.form_submit_button("Record request", type="primary"):
                    run_command(
                        lambda session: request_feedback_session(
                            session=session,
                            actor=actor,
                            customer_id=int(customer_id),
                            contact_id=int(contact_id),
                            requested_at=local_moment(requested_on, requested_time),
                            request_text=text,
                        ),
                        f"Request from {contact_names[contact_id]} recorded.",
                    )

with schedule_tab:
    open_requests = sessions[sessions["state"].isin(["requested", "scheduled"])]
    if open_requests.empty:
        st.info("No requested or scheduled session to (re)schedule.")
    else:
        chosen_labels = {row["id"]: session_label(row) for _, row in open_requests.iterrows()}
        chosen = st.selectbox(
            "Session", list(chosen_labels), format_func=chosen_labels.get, key="schedule_session"
        )
        customer_of = open_requests.set_index("id").at[chosen, "customer_id"]
        resources = load_assignees(int(customer_of))
        resource_names = dict(zip(resources["id"], resources["name"], strict=True))
        assigned = chosen_customer(scope, int(customer_of))["hypercare_resource_id"]
        resource_ids = list(resource_names)
        preferred = [i for i in (assigned, user.id) if i in resource_ids]
        default = resource_ids.index(preferred[0]) if preferred else 0
        with st.form("schedule_feedback"):
            resource_id = st.selectbox(
                "Run by (HyperCare resource)",
                resource_ids,
                index=default if resource_ids else None,
                format_func=resource_names.get,
                placeholder="Nobody with the csm role can see this customer",
            )
            when = st.columns(2)
            # Tomorrow by default: today at 10:00 is already past (or before the request) for
            # most of the day.
            day = when[0].date_input(
                "Date",
                value=now_local.date() + timedelta(days=1),
                min_value=now_local.date(),
                format=DATE_INPUT_FORMAT,
            )
            clock = when[1].time_input("Time (your time)", value=time(10, 0))
            if st.form_submit_button("Schedule", type="primary"):
                run_command(
                    lambda session: schedule_feedback_session(
                        session=session,
                        actor=actor,
                        feedback_session_id=int(chosen),
                        scheduled_for=local_moment(day, clock),
                        resource_id=-1 if resource_id is None else int(resource_id),
                    ),
                    f"Session #{chosen} scheduled.",
                )

with findings_tab:
    scheduled = sessions[sessions["state"] == "scheduled"]
    if scheduled.empty:
        st.info("No scheduled session is waiting for its findings.")
    else:
        chosen_labels = {row["id"]: session_label(row) for _, row in scheduled.iterrows()}
        with st.form("record_findings"):
            chosen = st.selectbox("Session", list(chosen_labels), format_func=chosen_labels.get)
            findings = st.text_area("Findings", max_chars=FEEDBACK_TEXT_MAX_CHARS)
            recommendations = st.text_area("Recommendations", max_chars=FEEDBACK_TEXT_MAX_CHARS)
            if st.form_submit_button("Record findings", type="primary"):
                run_command(
                    lambda session: record_feedback_findings(
                        session=session,
                        actor=actor,
                        feedback_session_id=int(chosen),
                        findings=findings,
                        recommendations=recommendations,
                    ),
                    f"Findings of session #{chosen} recorded.",
                )
