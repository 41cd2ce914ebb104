"""Entitlements: one customer's allowances, optimisation requests, model enrolment and ledger.

Top to bottom, as on the screen: the customer; its subscription year and allowance cards; its
open optimisation requests; what can be done for it (log, move and deliver requests, enrol
models, and for managers an extra or a tier change); its ledger. The managers' view over every
customer is the Entitlement portfolio page.
"""

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import streamlit as st

from data_access.customers import contacts_of
from data_access.entitlement_ledger import entitlement_balances, ledger_history
from data_access.model_caps import customer_models
from data_access.optimisation_requests import optimisation_requests
from data_access.scope import Scope
from domain.entitlements import OPEN_REQUEST_STATES, is_overdue, sentence_case
from ui.auth import read_session, require_access
from ui.commands import show_notice
from ui.customers import chosen_customer, load_customer_names
from ui.downloads import csv_download
from ui.entitlement_actions import STATE_LABELS, actions_section, usage_text
from ui.format import DATE_COLUMN_FORMAT, date_text, plain_markdown, to_zone
from ui.pickers import customer_picker
from ui.tables import local_time_column

user = require_access(__file__)

OVERDUE_STYLE = "color: #C62828; font-weight: 600"


def entitlements_screen() -> None:
    """The page, section by section in the order they appear."""
    scope = Scope.for_user(user)
    today = datetime.now(UTC).date()
    st.title("Entitlements")
    show_notice()
    customers = load_customer_names(scope)
    if customers.empty:
        st.info(
            "No customers are assigned to you yet. An administrator assigns CSMs on the Admin page."
        )
        return
    if not scope.all_customers:
        st.caption("Customers where you are CSM or HyperCare resource")
    customer_id = customer_picker(customers, key="customer_picker")
    customer = chosen_customer(scope, customer_id)
    data = load_customer(scope, customer_id, today)
    if data["balances"].empty:
        st.info("This customer's HyperCare subscription has not started yet.")
        return
    subscription_section(customer, data["balances"], today)
    open_requests = open_requests_section(data["requests"], today)
    actions_section(user, customer_id, customer, data, open_requests)
    ledger_section(customer_id, data["ledger"])


# --- The customer's subscription year and allowances -----------------------------------------


def subscription_section(customer: pd.Series, balances: pd.DataFrame, today: date) -> None:
    renews_on = balances["renews_on"].iloc[0]
    st.subheader(plain_markdown(str(customer["name"])))
    st.caption(
        f"{customer['tier_label']} · subscription year {date_text(balances['year_start'].iloc[0])} "
        f"to {date_text(renews_on - timedelta(days=1))} · renews on {date_text(renews_on)} "
        f"(in {(renews_on - today).days} days)"
    )
    counted = balances[balances["measure"] != "eligibility"]
    columns = st.columns(3)
    for position, (_, row) in enumerate(counted.iterrows()):
        with columns[position % 3]:
            entitlement_card(row)
    flags = balances[balances["measure"] == "eligibility"]
    for column, (_, row) in zip(st.columns(len(flags)), flags.iterrows(), strict=True):
        with column:
            entitlement_card(row)


def entitlement_card(row: pd.Series) -> None:
    with st.container(border=True):
        st.markdown(f"**{sentence_case(row['label'])}**")
        if row["measure"] == "eligibility":
            if row["allowance"]:
                st.markdown(":green[:material/check_circle: Eligible]")
            else:
                st.caption("Not included in this tier.")
            return
        available = row["allowance"] + row["extra"]
        if available == 0 and row["used"] == 0:
            st.caption("Not included in this tier.")
            return
        st.progress(min(row["used"] / available, 1.0) if available else 1.0, text=usage_text(row))
        if row["measure"] == "cap":
            st.caption("At a time; production models only.")
        else:
            st.caption(f"{row['remaining']} left this subscription year.")


# --- Open optimisation requests ---------------------------------------------------------------


def open_requests_section(requests: pd.DataFrame, today: date) -> pd.DataFrame:
    """The open requests, overdue ones in red; returns them for the actions below."""
    open_requests = requests[requests["state"].isin(OPEN_REQUEST_STATES)]
    st.subheader("Open optimisation requests")
    if open_requests.empty:
        st.info("No open optimisation requests.")
        return open_requests
    overdue = [
        is_overdue(state, target, today)
        for target, state in zip(open_requests["target_date"], open_requests["state"], strict=True)
    ]
    table = open_requests.assign(
        status=open_requests["state"].map(STATE_LABELS),
        due=[
            due_text(target, state, today)
            for target, state in zip(
                open_requests["target_date"], open_requests["state"], strict=True
            )
        ],
        requested_local=to_zone(open_requests["requested_at"], user.timezone),
    )
    styled = table.style.apply(
        lambda column: [OVERDUE_STYLE if late else "" for late in overdue],
        subset=["target_date", "due"],
    )
    st.dataframe(
        styled,
        hide_index=True,
        key="open_requests",
        column_order=[
            "id",
            "requested_by",
            "requested_local",
            "model",
            "request_text",
            "status",
            "target_date",
            "due",
        ],
        column_config={
            "id": st.column_config.NumberColumn("Request", format="#%d"),
            "requested_by": "Asked by",
            "requested_local": local_time_column(user.timezone, "Asked"),
            "model": "Model",
            "request_text": st.column_config.TextColumn("Written request", width="large"),
            "status": "Status",
            "target_date": st.column_config.DateColumn("Target", format=DATE_COLUMN_FORMAT),
            "due": "Due",
        },
    )
    late = sum(overdue)
    if late:
        st.markdown(
            f":red[:material/schedule: {late} open request"
            f"{'s are' if late > 1 else ' is'} past the target date.]"
        )
    return open_requests


def due_text(target: date, state: str, today: date) -> str:
    if is_overdue(state, target, today):
        return f"overdue by {(today - target).days} d"
    days = (target - today).days
    return "due today" if days == 0 else f"due in {days} d"


# --- Ledger -------------------------------------------------------------------------------------


def ledger_section(customer_id: int, ledger: pd.DataFrame) -> None:
    st.subheader("Ledger")
    if ledger.empty:
        st.info("Nothing has been debited or credited yet.")
        return
    ledger_table = ledger.assign(
        at_local=to_zone(ledger["at"], user.timezone),
        actor=ledger["actor"].fillna("system (import)"),
        what=ledger["label"].fillna(ledger["kind"]),
    )
    st.dataframe(
        ledger_table,
        hide_index=True,
        key="ledger",
        column_order=["at_local", "what", "delta", "reason", "actor", "request_id"],
        column_config={
            "at_local": local_time_column(user.timezone),
            "what": "Entitlement",
            "delta": st.column_config.NumberColumn("Change", format="%+d"),
            "reason": st.column_config.TextColumn("Why", width="large"),
            "actor": "Who",
            "request_id": st.column_config.NumberColumn("Request", format="#%d"),
        },
    )
    csv_download(
        ledger_table.drop(columns=["at_local"]),
        file_name=f"ledger-{customer_id}.csv",
        key="ledger_csv",
        user=user,
        label="Download the ledger (CSV)",
    )


# --- Reads (cached; every write clears them) ----------------------------------------------------


@st.cache_data(ttl=30, show_spinner="Loading entitlements…")
def load_customer(scope: Scope, customer_id: int, today: date) -> dict[str, pd.DataFrame]:
    with read_session() as session:
        return {
            "balances": entitlement_balances(session=session, customer_id=customer_id, on=today),
            "ledger": ledger_history(session=session, customer_id=customer_id),
            "requests": optimisation_requests(
                session=session, scope=scope, customer_id=customer_id
            ),
            "contacts": contacts_of(session=session, customer_id=customer_id),
            "models": customer_models(session=session, customer_id=customer_id),
        }


entitlements_screen()
