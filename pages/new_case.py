"""New case: log a case an agent took by phone or chat, then work it on the Case page."""

import streamlit as st

from data_access.actor import Actor
from data_access.case_commands import (
    DESCRIPTION_MAX_CHARS,
    SUBJECT_MAX_CHARS,
    open_case,
)
from data_access.scope import Scope
from domain.contacts import CASE_CHANNELS
from domain.lifecycle import SEVERITY_LABELS
from ui.auth import require_access
from ui.commands import run_command
from ui.customers import load_contacts, load_customer_names
from ui.format import contact_labels
from ui.navigation import PAGES_DIR
from ui.pickers import customer_picker

user = require_access(__file__)

CHANNEL_LABELS = {"phone": "Phone call", "chat": "Chat", "email": "E-mail", "portal": "Portal"}

st.title("New case")
st.caption("For a case taken by phone or chat: it opens as new, and its clocks start now.")
customers = load_customer_names(Scope.for_user(user))
if customers.empty:
    st.info("No customer is in your portfolio, so there is no one to open a case for.")
    st.stop()

customer_id = customer_picker(customers, key="new_case_customer")
contacts = load_contacts(customer_id)
names = contact_labels(contacts) if not contacts.empty else {}
round_key = f"new_case_{st.session_state.get('new_case_round', 0)}"

with st.form(round_key):
    left, right = st.columns(2)
    contact_id = left.selectbox(
        "The customer's contact",
        list(names),
        index=None,
        format_func=names.get,
        placeholder="Who reported it" if names else "No contacts recorded for this customer",
        key=f"{round_key}_contact",
    )
    channel = right.selectbox(
        "Channel",
        list(CASE_CHANNELS),
        index=list(CASE_CHANNELS).index("phone"),
        format_func=CHANNEL_LABELS.get,
        key=f"{round_key}_channel",
    )
    left, right = st.columns(2)
    severity = left.selectbox(
        "Severity",
        list(SEVERITY_LABELS),
        index=2,
        format_func=SEVERITY_LABELS.get,
        key=f"{round_key}_severity",
    )
    is_outage = right.checkbox("Outage (the customer cannot work)", key=f"{round_key}_outage")
    subject = st.text_input("Subject", max_chars=SUBJECT_MAX_CHARS, key=f"{round_key}_subject")
    description = st.text_area(
        "Description",
        max_chars=DESCRIPTION_MAX_CHARS,
        placeholder="What the customer reported, in their words",
        key=f"{round_key}_description",
    )
    submitted = st.form_submit_button("Open case", type="primary")

if submitted:
    if names and contact_id is None:
        st.error("Choose the customer's contact who reported it.")
    else:

        def open_it(session) -> int:
            case = open_case(
                session=session,
                actor=Actor.of(user),
                customer_id=customer_id,
                subject=subject,
                severity=severity,
                channel=channel,
                is_outage=is_outage,
                description=description,
                contact_id=contact_id,
            )
            return case.id

        def show_case(case_id: int) -> None:
            st.session_state["new_case_round"] = st.session_state.get("new_case_round", 0) + 1
            st.switch_page(PAGES_DIR / "case.py", query_params={"id": str(case_id)})

        run_command(open_it, "Case opened.", on_success=show_case)
