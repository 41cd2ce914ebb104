"""Case: one case's clocks, customer contacts, history and the actions its status allows."""

from ui.auth import require_access

user = require_access(__file__)

from datetime import UTC, datetime  # noqa: E402

import altair as alt  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from data_access.audit import CommandRefused  # noqa: E402
from data_access.case_commands import case_detail, record_case_event  # noqa: E402
from data_access.queue import assignees, case_clocks  # noqa: E402
from data_access.scope import Scope  # noqa: E402
from domain.clocks import AT_RISK_FRACTION, countdown_text, duration_text  # noqa: E402
from domain.lifecycle import (  # noqa: E402
    ACTION_LABELS,
    OPEN_STATUSES,
    SEVERITY_LABELS,
    STATUS_LABELS,
    allowed_actions,
)
from domain.roles import Role  # noqa: E402
from ui.auth import read_session, write_session  # noqa: E402
from ui.format import local_time_text, plain_markdown  # noqa: E402
from ui.navigation import PAGES_DIR  # noqa: E402

CHANNEL_ICONS = {"email": ":material/mail:", "phone": ":material/call:", "chat": ":material/chat:"}
STATUS_ACTIONS = ("set_pending", "resume", "transfer_l2", "transfer_l3", "solve", "reopen", "close")
EVENT_LABELS = {
    "status": "Status change",
    "public_reply": "Public reply",
    "internal_note": "Internal note",
    "assign": "Assignment",
}


@st.cache_data(ttl=15, show_spinner="Loading the case…")
def load_case(scope: Scope, case_id: int) -> tuple[dict | None, pd.Series | None]:
    now = datetime.now(UTC)
    with read_session() as session:
        detail = case_detail(session=session, scope=scope, case_id=case_id)
        if detail is None:
            return None, None
        return detail, case_clocks(session=session, scope=scope, case_id=case_id, now=now)


@st.cache_data(ttl=300, show_spinner=False)
def load_assignees() -> pd.DataFrame:
    with read_session() as session:
        return assignees(session=session)


def back_to_queue() -> None:
    if st.button("Back to the queue", icon=":material/arrow_back:"):
        st.switch_page(PAGES_DIR / "case_queue.py", query_params=st.session_state.get("queue_url"))


def requested_case_id() -> int | None:
    try:
        return int(str(st.query_params.get("id", "")).removeprefix("#"))
    except ValueError:
        return None


def both_times(moment, region_timezone: str, region: str) -> str:
    """'28 Nov 2026 14:05 (Europe/London) · 22:05 local APAC'."""
    if moment is None or pd.isna(moment):
        return "—"
    local = pd.Timestamp(moment).tz_convert(region_timezone).strftime("%H:%M %a")
    return f"{local_time_text(moment, user.timezone)} ({user.timezone}) · {local} local {region}"


def first_response_box(case: dict, clocks: pd.Series, now: datetime) -> None:
    opened = pd.Timestamp(case["opened_at"])
    target = clocks["fr_target_minutes"]
    if case["severity"] == 1:
        st.markdown("**First response · severity 1: respond without delay**")
        st.caption(f"No response target applies; internal goal {duration_text(target)}.")
        if clocks["respond_now"]:
            waited = (pd.Timestamp(now) - opened).total_seconds() / 60
            colour = "red" if waited > target else "orange"
            st.markdown(f":{colour}[**Respond now** · open {duration_text(waited)}]")
            st.progress(min(waited / target, 1.0))
            return
    else:
        st.markdown("**First response**")
        st.caption(f"Target {duration_text(target)}, calendar time (support is 24/7).")
    if pd.notna(clocks["fr_at"]):
        taken = (pd.Timestamp(clocks["fr_at"]) - opened).total_seconds() / 60
        verdict = ":red[🔴 Breached]" if clocks["fr_state"] == "breached" else ":green[🟢 Met]"
        st.markdown(f"{verdict} · replied after {duration_text(taken)}")
        st.caption(
            f"Replied {both_times(clocks['fr_at'], case['region_timezone'], case['region'])}"
        )
    elif clocks["fr_state"] == "met":
        st.markdown(":green[🟢 Met] · solved before a reply was due")
    else:
        remaining = (clocks["fr_due"] - pd.Timestamp(now)).total_seconds() / 60
        st.markdown(f"{state_badge(remaining, target)} · {countdown_text(remaining)}")
        st.caption(f"Due {both_times(clocks['fr_due'], case['region_timezone'], case['region'])}")
    st.progress(min(float(clocks["fr_consumed"]), 1.0), text="Share of the target used")


def resolution_box(case: dict, clocks: pd.Series, now: datetime) -> None:
    target = clocks["res_target_minutes"]
    st.markdown("**Resolution guideline**")
    st.caption(
        f"A guideline of {target / 60:.0f} business hours in the {case['region']} calendar, "
        "not a commitment; time pending the customer does not count."
    )
    state = clocks["res_state"]
    if state == "excluded":
        st.markdown(":blue[Excluded: with L2/L3] · left out of resolution statistics")
    elif state == "paused":
        st.markdown(":gray[⏸️ Paused: pending customer] · the clock resumes when the case reopens")
    elif case["status"] not in OPEN_STATUSES:
        verdict = ":red[🔴 Breached]" if state == "breached" else ":green[🟢 Met]"
        st.markdown(
            f"{verdict} · solved after {duration_text(clocks['res_business_minutes'])} "
            "of business time"
        )
    else:
        remaining = (clocks["res_due"] - pd.Timestamp(now)).total_seconds() / 60
        badge = state_badge(clocks["res_remaining_minutes"], target, late=remaining < 0)
        st.markdown(f"{badge} · {countdown_text(remaining)}")
    if state != "excluded" and case["status"] in OPEN_STATUSES:
        st.caption(
            f"Due {both_times(clocks['res_due'], case['region_timezone'], case['region'])}"
            + (" if resumed now" if state == "paused" else "")
        )
    used = duration_text(clocks["res_business_minutes"])
    paused = clocks["res_paused_minutes"]
    st.progress(
        min(float(clocks["res_consumed"]), 1.0),
        text=f"Business time used: {used} of {target / 60:.0f}h"
        + (f" · {duration_text(paused)} paused" if paused > 0 else ""),
    )


def state_badge(remaining: float, target: float, *, late: bool | None = None) -> str:
    """Breached once late (past the due instant), at risk under a quarter of the target left."""
    if remaining < 0 if late is None else late:
        return ":red[🔴 Breached]"
    if remaining < AT_RISK_FRACTION * target:
        return ":orange[🟠 At risk]"
    return ":green[🟢 On track]"


def contacts_panel(case: dict) -> None:
    st.markdown(f"**HyperCare resource:** {case['hypercare_resource'] or 'none'}")
    contacts = case["contacts"]
    if contacts.empty:
        st.info("No contacts recorded for this customer.")
    for contact in contacts.itertuples():
        channel = contact.preferred_channel
        reach = {"email": contact.email, "phone": contact.phone, "chat": contact.chat_handle}
        st.markdown(
            f"{CHANNEL_ICONS.get(channel, '')} **{contact.name}**"
            f"{' (primary)' if contact.is_primary else ''} — prefers {channel}: "
            f"{reach.get(channel) or 'no details'}"
        )


def timeline(case: dict, now: datetime) -> None:
    events = case["events"]
    if events.empty:
        st.info("No events recorded.")
        return
    spells = events[events["kind"] == "status"].reset_index(drop=True)
    spells = spells.assign(
        start=spells["at"],
        end=spells["at"].shift(-1).fillna(pd.Timestamp(now)),
        status=spells["to_status"].map(STATUS_LABELS),
    )
    spells = spells[spells["to_status"] != "closed"]
    replies = events[events["kind"] == "public_reply"]
    base = alt.Chart(spells).encode(
        x=alt.X("start:T", title=None),
        x2="end:T",
        y=alt.value(20),
    )
    chart = base.mark_bar(height=24).encode(
        color=alt.Color("status:N", title="Status"),
        tooltip=[
            alt.Tooltip("status:N", title="Status"),
            alt.Tooltip("start:T", title="From", format="%d %b %H:%M"),
            alt.Tooltip("end:T", title="To", format="%d %b %H:%M"),
        ],
    )
    if not replies.empty:
        chart += (
            alt.Chart(replies)
            .mark_tick(thickness=2, size=30, color="#263238")
            .encode(x="at:T", y=alt.value(20), tooltip=[alt.Tooltip("actor:N", title="Reply by")])
        )
    st.altair_chart(chart.properties(height=60), width="stretch")
    table = events.assign(
        at=events["at"].dt.tz_convert(user.timezone),
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
            "at": st.column_config.DatetimeColumn(
                f"When ({user.timezone})", format="D MMM YYYY HH:mm"
            ),
            "actor": "Who",
            "kind": "What",
            "change": "Status",
            "note": st.column_config.TextColumn("Note", width="large"),
        },
    )


def perform(case_id: int, action: str, *, note: str = "", assignee_id: int | None = None):
    """One command in one transaction; a refusal is shown as its one sentence."""
    try:
        with write_session() as session:
            record_case_event(
                session=session,
                case_id=case_id,
                actor_id=user.id,
                actor=user.username,
                action=action,
                note=note,
                assignee_id=assignee_id,
            )
    except CommandRefused as exc:
        st.error(str(exc))
        return
    st.cache_data.clear()
    st.session_state["case_done"] = f"{ACTION_LABELS[action]}: done."
    st.rerun()


def actions_panel(case: dict) -> None:
    allowed = allowed_actions(case["status"])
    if not allowed:
        st.info("A closed case is final; open a new case if the problem returns.")
        return
    case_id = case["case_id"]
    if "assign" in allowed:
        people = load_assignees()
        may_take = Role.CSM in user.roles and case["assignee_id"] != user.id
        if may_take:
            left, right = st.columns([2, 3], vertical_alignment="bottom")
            if left.button("Assign to me", icon=":material/person_add:"):
                perform(case_id, "assign", assignee_id=user.id)
        else:
            right = st.container()
        with right:
            who = st.selectbox(
                "Assign to",
                people["id"].tolist(),
                format_func=dict(zip(people["id"], people["name"], strict=True)).get,
                index=None,
                placeholder="Choose a person",
            )
            if st.button("Assign", disabled=who is None):
                perform(case_id, "assign", assignee_id=who)
    if "public_reply" in allowed:
        first = pd.isna(case["first_response_at"])
        with st.form("reply", clear_on_submit=True):
            message = st.text_area(
                "First public reply" if first else "Public reply",
                placeholder="What the customer will read",
            )
            if st.form_submit_button(
                "Send first public reply" if first else "Send reply", type="primary"
            ):
                if message.strip():
                    perform(case_id, "public_reply", note=message.strip())
                else:
                    st.error("Write the reply before sending it.")
    shown = [action for action in STATUS_ACTIONS if action in allowed]
    if shown:
        note = st.text_input("Note for the status change (optional)", key="status_note")
        for column, action in zip(st.columns(len(shown)), shown, strict=True):
            if column.button(ACTION_LABELS[action], key=f"action_{action}", width="stretch"):
                perform(case_id, action, note=note.strip())


scope = Scope.for_user(user)
case_id = requested_case_id()
back_to_queue()
if case_id is None:
    st.title("Case")
    st.info("Choose a case in the queue to open it here.")
    st.stop()
case, clocks = load_case(scope, case_id)
if case is None:
    st.title("Case")
    st.warning("That case is not in your portfolio, or it does not exist.")
    st.stop()

st.title(f"#{case['case_id']} {case['subject']}")
st.caption(
    f"{case['customer']} · {case['tier_label']} · {case['region']} · opened "
    f"{both_times(case['opened_at'], case['region_timezone'], case['region'])} by {case['channel']}"
)
done = st.session_state.pop("case_done", None)
if done:
    st.success(done)


def fact(column, label: str, value: str) -> None:
    """A labelled fact that wraps instead of being cut off like a metric would be."""
    with column.container(border=True):
        st.caption(label)
        st.markdown(f"**{plain_markdown(value)}**")


facts = st.columns(4)
fact(facts[0], "Status", STATUS_LABELS[case["status"]])
fact(
    facts[1],
    "Severity",
    SEVERITY_LABELS[case["severity"]] + (" · outage" if case["is_outage"] else ""),
)
fact(facts[2], "Assignee", case["assignee"] or "Unassigned")
fact(facts[3], "Escalated to", case["escalated_to"] or "—")


@st.fragment(run_every="5s")
def clock_boxes() -> None:
    """Ticks every few seconds from the due instants already computed."""
    now = datetime.now(UTC)
    left, right = st.columns(2)
    with left, st.container(border=True):
        first_response_box(case, clocks, now)
    with right, st.container(border=True):
        resolution_box(case, clocks, now)


clock_boxes()

main, side = st.columns([3, 2])
with main, st.container(border=True):
    st.subheader("Actions")
    actions_panel(case)
with side, st.container(border=True):
    st.subheader("Customer contacts")
    contacts_panel(case)
    if case["description"]:
        st.subheader("Description")
        st.write(case["description"])

st.subheader("Timeline")
timeline(case, datetime.now(UTC))
if case["status"] not in OPEN_STATUSES:
    st.caption("The case is no longer open; its clocks are stopped.")
