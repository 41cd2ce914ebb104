"""The case page's actions: reply, change the status, add an internal note, assign, change severity.

Each action is a form without clear_on_submit whose key carries a round number: a recorded
action starts the next round (fresh, empty widgets), a refused one keeps the same round, so the
typed text stays for the user to fix. Writes happen here in the script body, never in
callbacks. A form's values reach the server only when it is submitted, so a reply whose text
arrives is a sent reply even when the clock fragment's rerun swallowed the button's trigger;
and a stale second click belongs to a round that no longer exists, so it cannot record twice.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from data_access.actor import Actor
from data_access.case_commands import add_internal_note, change_severity, record_case_event
from domain.lifecycle import ACTION_LABELS, OPEN_STATUSES, SEVERITY_LABELS, allowed_actions
from ui.commands import run_command, show_notice
from ui.customers import load_assignees

STATUS_ACTIONS = ("resume", "transfer_l2", "transfer_l3", "solve", "reopen", "close")
NOTICE_SECTION_KEY = "case_notice_section"
REFUSED_REPLY_KEY = "case_refused_reply"


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
    may_take = actor.id in names and case["assignee_id"] != actor.id
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
    assignee = actor.id if take else who
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


def actions_panel(case: dict, actor: Actor) -> None:
    """Every action the case's status allows, each in its own box; none for a closed case."""
    allowed = allowed_actions(case["status"])
    if not allowed:
        st.info("A closed case is final; open a new case if the problem returns.")
        return
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
