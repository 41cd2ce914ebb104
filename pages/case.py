"""Case: one case's clocks, its conversation, the customer's contacts and the actions it allows."""

from collections.abc import Callable
from datetime import UTC, datetime

import altair as alt
import pandas as pd
import streamlit as st

from data_access.actor import Actor
from data_access.calendars import region_calendars
from data_access.case_commands import (
    add_internal_note,
    change_severity,
    record_case_event,
)
from data_access.cases import case_assignees, case_detail
from data_access.queue import case_clocks
from data_access.scope import Scope
from domain.clocks import (
    AT_RISK_FRACTION,
    business_countdown_text,
    business_duration_text,
    business_minutes_left,
    countdown_text,
    duration_text,
)
from domain.dates import CHART_MOMENT_FORMAT
from domain.lifecycle import (
    ACTION_LABELS,
    OPEN_STATUSES,
    SEVERITY_LABELS,
    STATUS_LABELS,
    allowed_actions,
)
from ui.auth import read_session, require_access
from ui.commands import run_command, show_notice
from ui.contacts import contact_line, preferred_reach
from ui.format import local_time_text, plain_markdown, value_text
from ui.navigation import PAGES_DIR
from ui.tables import local_time_column

user = require_access(__file__)

STATUS_ACTIONS = ("resume", "transfer_l2", "transfer_l3", "solve", "reopen", "close")
EVENT_LABELS = {
    "status": "Status change",
    "public_reply": "Public reply",
    "internal_note": "Internal note",
    "assign": "Assignment",
    "severity": "Severity change",
}
NOTICE_SECTION_KEY = "case_notice_section"
REFUSED_REPLY_KEY = "case_refused_reply"


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


@st.cache_data(ttl=60, show_spinner=False)
def load_assignees(customer_id: int) -> pd.DataFrame:
    with read_session() as session:
        return case_assignees(session=session, customer_id=customer_id)


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


# --- conversation and timeline -------------------------------------------------------------------


def conversation(case: dict) -> None:
    """The description, public replies and internal notes as one thread, each marked."""
    events = case["events"]
    opened_by = events["actor"].iloc[0] if not events.empty else None
    with st.container(border=True):
        st.caption(
            f":material/description: **Description** · {plain_markdown(value_text(opened_by))} · "
            f"{local_time_text(case['opened_at'], user.timezone)}"
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
                f"{local_time_text(item.at, user.timezone)}"
            )
            st.text(item.note)
    if thread.empty:
        st.caption("No replies or internal notes yet.")


def timeline(case: dict, now: datetime) -> None:
    """Status spells as a chart and every event as a table, both in the viewer's time zone."""
    events = case["events"]
    if events.empty:
        st.info("No events recorded.")
        return
    spells = events[events["kind"] == "status"].reset_index(drop=True)
    spells = pd.DataFrame(
        {
            "start": viewer_wall_clock(spells["at"]),
            "end": viewer_wall_clock(spells["at"].shift(-1).fillna(pd.Timestamp(now))),
            "status": spells["to_status"].map(STATUS_LABELS),
            "to_status": spells["to_status"],
        }
    )
    spells = spells[spells["to_status"] != "closed"].drop(columns="to_status")
    replies = events[events["kind"] == "public_reply"]
    replies = pd.DataFrame(
        {"at": viewer_wall_clock(replies["at"]), "actor": replies["actor"].map(value_text)}
    )
    when = f"{CHART_MOMENT_FORMAT} ({user.timezone})"
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
    st.caption(f"Times in {user.timezone}.")
    st.altair_chart(chart.properties(height=60), width="stretch")
    table = events.assign(
        at=events["at"].dt.tz_convert(user.timezone),
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
            "at": local_time_column(user.timezone),
            "actor": "Who",
            "kind": "What",
            "change": "Status",
            "note": st.column_config.TextColumn("Note", width="large"),
        },
    )


def viewer_wall_clock(moments: pd.Series) -> pd.Series:
    """Aware instants as the viewer's wall-clock time labelled UTC: the chart draws on a UTC
    scale, so its axis reads the viewer's local time whatever the browser's own time zone."""
    local = pd.to_datetime(moments, utc=True).dt.tz_convert(user.timezone)
    return local.dt.tz_localize(None).dt.tz_localize("UTC")


# --- actions ---------------------------------------------------------------------------------
#
# Each action is a form without clear_on_submit whose key carries a round number: a recorded
# action starts the next round (fresh, empty widgets), a refused one keeps the same round, so the
# typed text stays for the user to fix. Writes happen here in the script body, never in
# callbacks. A form's values reach the server only when it is submitted, so a reply whose text
# arrives is a sent reply even when the clock fragment's rerun swallowed the button's trigger;
# and a stale second click belongs to a round that no longer exists, so it cannot record twice.


def form_round(case_id: int, name: str) -> str:
    return f"{name}_{case_id}_{st.session_state.get(f'round_{name}_{case_id}', 0)}"


def next_round(case_id: int, name: str) -> None:
    key = f"round_{name}_{case_id}"
    st.session_state[key] = st.session_state.get(key, 0) + 1


def recorded(case_id: int, section: str) -> Callable[[object], None]:
    """What a recorded action does before the page shows afresh (`run_command`): start the
    section's next round, with the confirmation beside the action. A refusal stays beside the
    action as one sentence, in the same round."""

    def start_next_round(_result: object) -> None:
        next_round(case_id, section)
        st.session_state[NOTICE_SECTION_KEY] = section

    return start_next_round


def notice_here(section: str) -> None:
    """The confirmation of the last action, shown next to that action."""
    if st.session_state.get(NOTICE_SECTION_KEY) == section:
        st.session_state.pop(NOTICE_SECTION_KEY)
        show_notice()


def reply_form(case: dict, actor: Actor) -> None:
    case_id = case["case_id"]
    first = pd.isna(case["first_response_at"])
    key = form_round(case_id, "reply")
    may_pend = case["status"] in ("new", "open")
    with st.form(key, border=False):
        message = st.text_area(
            "First public reply" if first else "Public reply",
            placeholder="What the customer will read",
            key=f"{key}_text",
        )
        with st.container(horizontal=True):
            send = st.form_submit_button(
                "Send first public reply" if first else "Send reply", type="primary"
            )
            send_and_pend = may_pend and st.form_submit_button("Send reply and set pending")
    notice_here("reply")
    text = message.strip()
    arrived = bool(text) and st.session_state.get(REFUSED_REPLY_KEY) != (key, text)
    if not (send or send_and_pend or arrived):
        return
    if not text:
        st.error("Write the reply before sending it.")
        return

    def reply(session) -> None:
        record_case_event(
            session=session, actor=actor, case_id=case_id, action="public_reply", note=text
        )
        if send_and_pend:
            record_case_event(session=session, actor=actor, case_id=case_id, action="set_pending")

    success = "Reply sent; the case is pending the customer." if send_and_pend else "Reply sent."
    st.session_state[REFUSED_REPLY_KEY] = (key, text)
    run_command(reply, success, on_success=recorded(case_id, "reply"))


def note_form(case: dict, actor: Actor) -> None:
    case_id = case["case_id"]
    key = form_round(case_id, "note")
    with st.form(key, border=False):
        note = st.text_area(
            "Internal note", placeholder="Only staff will read this", key=f"{key}_text", height=90
        )
        add = st.form_submit_button("Add internal note")
    notice_here("note")
    if add:
        run_command(
            lambda session: add_internal_note(
                session=session, actor=actor, case_id=case_id, note=note
            ),
            "Internal note added.",
            on_success=recorded(case_id, "note"),
        )


def status_form(case: dict, actor: Actor, allowed: tuple[str, ...]) -> None:
    case_id = case["case_id"]
    shown = [action for action in ("set_pending", *STATUS_ACTIONS) if action in allowed]
    if not shown:
        return
    key = form_round(case_id, "status")
    with st.form(key, border=False):
        note = st.text_input("Note for the status change (optional)", key=f"{key}_note")
        with st.container(horizontal=True):
            pressed = [
                action
                for action in shown
                if st.form_submit_button(ACTION_LABELS[action], key=f"{key}_{action}")
            ]
    notice_here("status")
    if pressed:
        action = pressed[0]
        run_command(
            lambda session: record_case_event(
                session=session, actor=actor, case_id=case_id, action=action, note=note.strip()
            ),
            f"{ACTION_LABELS[action]}: done.",
            on_success=recorded(case_id, "status"),
        )


def assign_form(case: dict, actor: Actor) -> None:
    """Only people who can see the customer are offered (the command checks it again)."""
    case_id = case["case_id"]
    people = load_assignees(case["customer_id"])
    names = dict(zip(people["id"], people["name"], strict=True))
    may_take = user.id in names and case["assignee_id"] != user.id
    key = form_round(case_id, "assign")
    with st.form(key, border=False), st.container(horizontal=True, vertical_alignment="bottom"):
        who = st.selectbox(
            "Assign to",
            list(names),
            format_func=names.get,
            index=None,
            placeholder="Choose someone who can see this customer",
            key=f"{key}_who",
        )
        assign = st.form_submit_button("Assign")
        take = may_take and st.form_submit_button("Assign to me", icon=":material/person_add:")
    notice_here("assign")
    if not (assign or take):
        return
    if assign and who is None:
        st.error("Choose who to assign the case to.")
        return
    assignee = user.id if take else who
    run_command(
        lambda session: record_case_event(
            session=session, actor=actor, case_id=case_id, action="assign", assignee_id=assignee
        ),
        f"Assigned to {names.get(assignee, 'them')}.",
        on_success=recorded(case_id, "assign"),
    )


def severity_form(case: dict, actor: Actor) -> None:
    case_id = case["case_id"]
    key = form_round(case_id, "severity")
    with st.form(key, border=False):
        with st.container(horizontal=True, vertical_alignment="bottom"):
            severity = st.selectbox(
                "Severity",
                list(SEVERITY_LABELS),
                index=list(SEVERITY_LABELS).index(case["severity"]),
                format_func=SEVERITY_LABELS.get,
                key=f"{key}_severity",
            )
            reason = st.text_input(
                "Reason", placeholder="Why the severity changes", key=f"{key}_reason"
            )
        change = st.form_submit_button("Change severity")
    notice_here("severity")
    if change:
        run_command(
            lambda session: change_severity(
                session=session, actor=actor, case_id=case_id, severity=severity, reason=reason
            ),
            f"Severity changed to {SEVERITY_LABELS[severity]}.",
            on_success=recorded(case_id, "severity"),
        )


def actions_panel(case: dict) -> None:
    allowed = allowed_actions(case["status"])
    if not allowed:
        st.info("A closed case is final; open a new case if the problem returns.")
        return
    actor = Actor.of(user)
    with st.container(border=True):
        reply_form(case, actor)
    with st.container(border=True):
        status_form(case, actor, allowed)
    with st.container(border=True):
        note_form(case, actor)
    with st.container(border=True):
        assign_form(case, actor)
    if case["status"] in OPEN_STATUSES:
        with st.container(border=True):
            severity_form(case, actor)


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
    conversation(case)
with side:
    st.subheader("Actions")
    actions_panel(case)
    with st.container(border=True):
        st.subheader("Customer contacts")
        contacts_panel(case)

st.subheader("Timeline")
timeline(case, datetime.now(UTC))
if case["status"] not in OPEN_STATUSES:
    st.caption("The case is no longer open; its clocks are stopped.")
