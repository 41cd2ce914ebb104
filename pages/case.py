"""Case: one case's clocks, its conversation, the customer's contacts and the actions it allows."""

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from data_access.actor import Actor
from data_access.calendars import region_calendars
from data_access.cases import case_detail
from data_access.queue import case_clocks
from data_access.scope import Scope
from domain.clocks import AT_RISK_FRACTION, business_minutes_left
from domain.durations import (
    business_countdown_text,
    business_duration_text,
    countdown_text,
    duration_text,
)
from domain.lifecycle import OPEN_STATUSES, SEVERITY_LABELS, STATUS_LABELS
from ui.auth import read_session, require_access
from ui.case_actions import NOTICE_SECTION_KEY, actions_panel
from ui.case_conversation import conversation, timeline
from ui.commands import show_notice
from ui.contacts import contact_line, preferred_reach
from ui.format import local_time_text, plain_markdown, value_text
from ui.navigation import PAGES_DIR

user = require_access(__file__)


@st.cache_data(ttl=15, show_spinner="Loading the case…")
def load_case(scope: Scope, case_id: int) -> dict | None:
    with read_session() as session:
        return case_detail(session=session, scope=scope, case_id=case_id)


@st.cache_data(ttl=15, show_spinner=False)
def load_clocks(scope: Scope, case_id: int, now: datetime) -> pd.Series | None:
    with read_session() as session:
        return case_clocks(session=session, scope=scope, case_id=case_id, now=now)


@st.cache_data(ttl=300, show_spinner=False)
def load_calendars(today) -> dict:
    with read_session() as session:
        return region_calendars(session=session, today=today)


def back_to_queue() -> None:
    if st.button("Back to the queue", icon=":material/arrow_back:"):
        st.switch_page(PAGES_DIR / "case_queue.py", query_params=st.session_state.get("queue_url"))


def requested_case_id() -> int | None:
    """The case named in the URL (`?id=123`); None for anything no case id can be (text, or a
    number beyond the database's 64-bit integers, which the driver would refuse)."""
    try:
        case_id = int(str(st.query_params.get("id", "")).removeprefix("#"))
    except ValueError:
        return None
    return case_id if 0 < case_id < 2**63 else None


def both_times(moment, region_timezone: str, region: str) -> str:
    """'28 Nov 2026 14:05 (Europe/London) · 22:05 Sat local APAC'."""
    if moment is None or pd.isna(moment):
        return "—"
    local = pd.Timestamp(moment).tz_convert(region_timezone).strftime("%H:%M %a")
    return f"{local_time_text(moment, user.timezone)} ({user.timezone}) · {local} local {region}"


# --- clocks ------------------------------------------------------------------------------------


def first_response_box(case: dict, clocks: pd.Series, now: datetime) -> None:
    """Severity 1 has no response target, only the internal goal: missing it is a missed goal,
    never "Breached". A missed first response stays shown after the reply."""
    opened = pd.Timestamp(case["opened_at"])
    target = clocks["fr_target_minutes"]
    severity_1 = case["severity"] == 1
    if severity_1:
        st.markdown("**First response · severity 1: respond without delay**")
        st.caption(f"No response target applies; internal goal {duration_text(target)}.")
    else:
        st.markdown("**First response**")
        st.caption(f"Target {duration_text(target)}, calendar time (support is 24/7).")
    if pd.notna(clocks["fr_at"]):
        taken = (pd.Timestamp(clocks["fr_at"]) - opened).total_seconds() / 60
        missed = clocks["fr_state"] == "breached"
        st.markdown(
            f"{first_response_badge(missed, severity_1)} · replied after {duration_text(taken)}"
        )
        st.caption(
            f"Replied {both_times(clocks['fr_at'], case['region_timezone'], case['region'])}"
        )
    elif clocks["fr_state"] == "met":
        st.markdown(":green[🟢 Met] · solved before a reply was due")
    elif clocks["fr_state"] == "breached" and case["status"] not in OPEN_STATUSES:
        st.markdown(f"{first_response_badge(True, severity_1)} · solved without a reply")
    elif severity_1:
        waited = (pd.Timestamp(now) - opened).total_seconds() / 60
        if waited > target:
            st.markdown(
                f":red[**Respond now** · internal goal missed · open {duration_text(waited)}]"
            )
        else:
            st.markdown(f":orange[**Respond now** · open {duration_text(waited)}]")
        st.caption(f"Goal {both_times(clocks['fr_due'], case['region_timezone'], case['region'])}")
    else:
        remaining = (clocks["fr_due"] - pd.Timestamp(now)).total_seconds() / 60
        st.markdown(f"{state_badge(remaining, target)} · {countdown_text(remaining)}")
        st.caption(f"Due {both_times(clocks['fr_due'], case['region_timezone'], case['region'])}")
    st.progress(
        min(float(clocks["fr_consumed"]), 1.0),
        text="Share of the internal goal used" if severity_1 else "Share of the target used",
    )


def first_response_badge(missed: bool, severity_1: bool) -> str:
    if severity_1:
        return ":orange[🟠 Internal goal missed]" if missed else ":green[🟢 Goal met]"
    return ":red[🔴 First response missed]" if missed else ":green[🟢 Met]"


def resolution_box(case: dict, clocks: pd.Series, now: datetime, calendars: dict) -> None:
    """Business time left on the region calendar, with the due instant in both time zones."""
    target = clocks["res_target_minutes"]
    calendar = calendars.get(case["region"])
    per_day = calendar.working_minutes_per_day if calendar is not None else float("nan")
    st.markdown("**Resolution guideline**")
    st.caption(
        f"A guideline of {business_duration_text(target, per_day)} of business time in the "
        f"{case['region']} calendar, not a commitment; time pending the customer does not count."
    )
    state = clocks["res_state"]
    late = pd.Timestamp(now) > clocks["res_due"] if pd.notna(clocks["res_due"]) else False
    if state == "excluded":
        st.markdown(":blue[Excluded: with L2/L3] · left out of resolution statistics")
    elif state == "paused":
        left = clocks["res_remaining_minutes"]
        st.markdown(
            ":gray[⏸️ Paused: pending customer] · "
            f"{business_countdown_text(left, per_day, left < 0)} when resumed"
        )
    elif case["status"] not in OPEN_STATUSES:
        verdict = ":red[🔴 Breached]" if state == "breached" else ":green[🟢 Met]"
        used = business_duration_text(clocks["res_business_minutes"], per_day)
        st.markdown(f"{verdict} · solved after {used} of business time")
    else:
        left = clocks["res_remaining_minutes"]
        if calendar is not None:
            due_business = calendar.to_business_minutes(pd.DatetimeIndex([clocks["res_due"]]))
            left = business_minutes_left(
                pd.Series(due_business), pd.Series([case["region"]]), calendars, now
            ).iloc[0]
        badge = state_badge(left, target, late=late)
        st.markdown(f"{badge} · {business_countdown_text(left, per_day, late)} (business time)")
    if state != "excluded" and case["status"] in OPEN_STATUSES:
        st.caption(
            f"Due {both_times(clocks['res_due'], case['region_timezone'], case['region'])}"
            + (" if resumed now" if state == "paused" else "")
        )
    used = business_duration_text(clocks["res_business_minutes"], per_day)
    paused = clocks["res_paused_minutes"]
    st.progress(
        min(float(clocks["res_consumed"]), 1.0),
        text=f"Business time used: {used} of {business_duration_text(target, per_day)}"
        + (f" · {business_duration_text(paused, per_day)} paused" if paused > 0 else ""),
    )


def state_badge(remaining: float, target: float, *, late: bool | None = None) -> str:
    """Breached once late (past the due instant), at risk under a quarter of the target left."""
    if remaining < 0 if late is None else late:
        return ":red[🔴 Breached]"
    if remaining < AT_RISK_FRACTION * target:
        return ":orange[🟠 At risk]"
    return ":green[🟢 On track]"


def contacts_panel(case: dict) -> None:
    st.markdown(f"**HyperCare resource:** {plain_markdown(value_text(case['hypercare_resource']))}")
    contacts = case["contacts"]
    if contacts.empty:
        st.info("No contacts recorded for this customer.")
    for contact in contacts.itertuples():
        st.markdown(
            f"{contact_line(contact, contact.name)}: {plain_markdown(preferred_reach(contact))}"
        )


def fact(column, label: str, value: str) -> None:
    """A labelled fact that wraps instead of being cut off like a metric would be."""
    with column.container(border=True):
        st.caption(label)
        st.markdown(f"**{plain_markdown(value)}**")


# --- the page ----------------------------------------------------------------------------------

scope = Scope.for_user(user)
case_id = requested_case_id()
back_to_queue()
if case_id is None:
    st.title("Case")
    st.info("Choose a case in the queue to open it here.")
    st.stop()
case = load_case(scope, case_id)
if case is None:
    st.title("Case")
    st.warning("That case is not in your portfolio, or it does not exist.")
    st.stop()

st.title(f"#{case['case_id']} {plain_markdown(case['subject'])}")
st.caption(
    f"{plain_markdown(case['customer'])} · {case['tier_label']} · {case['region']} · opened "
    f"{both_times(case['opened_at'], case['region_timezone'], case['region'])} by {case['channel']}"
)

if NOTICE_SECTION_KEY not in st.session_state:
    show_notice()  # "Case opened." after the New case page

facts = st.columns(4)
fact(facts[0], "Status", STATUS_LABELS[case["status"]])
fact(
    facts[1],
    "Severity",
    SEVERITY_LABELS[case["severity"]] + (" · outage" if case["is_outage"] else ""),
)
fact(facts[2], "Assignee", case["assignee"] or "Unassigned")
fact(facts[3], "Escalated to", value_text(case["escalated_to"]))


@st.fragment(run_every="5s")
def clock_boxes() -> None:
    """Ticks every few seconds; it holds no widget, so a tick never touches the forms."""
    now = datetime.now(UTC)
    clocks = load_clocks(scope, case_id, now.replace(second=0, microsecond=0))
    if clocks is None:
        return
    calendars = load_calendars(now.date())
    left, right = st.columns(2)
    with left, st.container(border=True):
        first_response_box(case, clocks, now)
    with right, st.container(border=True):
        resolution_box(case, clocks, now, calendars)


clock_boxes()

main, side = st.columns([3, 2])
with main:
    st.subheader("Conversation")
    conversation(case, user.timezone)
with side:
    st.subheader("Actions")
    actions_panel(case, Actor.of(user))
    with st.container(border=True):
        st.subheader("Customer contacts")
        contacts_panel(case)

st.subheader("Timeline")
timeline(case, datetime.now(UTC), user.timezone)
if case["status"] not in OPEN_STATUSES:
    st.caption("The case is no longer open; its clocks are stopped.")
