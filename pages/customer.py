"""Customer: one customer's people, programme and open cases (only within the viewer's scope)."""

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from data_access.cases import open_case_clocks
from data_access.customers import contacts_of, portfolio
from data_access.scope import Scope
from domain.lifecycle import SEVERITY_LABELS, STATUS_LABELS
from ui.auth import read_session, require_access
from ui.contacts import contact_line, preferred_reach
from ui.customers import load_customer_names
from ui.format import (
    contact_labels,
    date_text,
    datetime_text,
    plain_markdown,
    value_text,
)
from ui.pickers import customer_picker
from ui.tables import local_time_column

user = require_access(__file__)


def case_link(case_id: int) -> str:
    """The Case page for one case, relative to this page (works under any base path)."""
    return f"case?id={int(case_id)}"


@st.cache_data(ttl=30, show_spinner="Loading the customer…")
def load_detail(scope: Scope, customer_id: int) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    now = datetime.now(UTC)
    one = scope.narrowed_to(customer_id)
    with read_session() as session:
        row = portfolio(session=session, scope=one, now=now).iloc[0]
        contacts = contacts_of(session=session, customer_id=customer_id)
        clocks = open_case_clocks(session=session, scope=one, now=now)
    return row, contacts, clocks


scope = Scope.for_user(user)
customers = load_customer_names(scope)
if customers.empty:
    st.title("Customer")
    st.info("No customers are assigned to you yet.")
    st.stop()

current = customer_picker(customers, key="customer_page_picker", label_visibility="collapsed")

row, contacts, cases = load_detail(scope, current)
st.title(plain_markdown(row["name"]))
st.caption(
    plain_markdown(
        f"{row['tier_label']} · {row['region']} · "
        f"{value_text(row['industry'], 'industry not recorded')}"
    )
)

facts = st.columns(4)
facts[0].metric("Open cases", int(row["open_cases"]))
facts[1].metric("Breaching SLA", int(row["breaching"]))
facts[2].metric("HyperCare since", date_text(row["hypercare_start"]))
facts[3].metric("Next renewal", date_text(row["next_renewal"]), f"in {row['days_to_renewal']} days")

left, right = st.columns(2)
with left, st.container(border=True):
    st.subheader("Team")
    st.markdown(f"**CSM:** {plain_markdown(value_text(row['csm'], 'not assigned'))}")
    st.markdown(
        f"**HyperCare resource:** {plain_markdown(value_text(row['hypercare_resource'], 'none'))}"
    )
    st.markdown(f"**Region time now:** {datetime_text(datetime.now(UTC), row['region_timezone'])}")
with right, st.container(border=True):
    st.subheader("Contacts")
    if contacts.empty:
        st.info("No contacts recorded.")
    names = contact_labels(contacts)
    for contact in contacts.itertuples():
        st.markdown(contact_line(contact, names[int(contact.id)]))
        st.caption(
            plain_markdown(
                f"{value_text(contact.title)} · {preferred_reach(contact, 'no details')}"
            )
        )

st.subheader("Open cases")
if cases.empty:
    st.info("No open cases.")
else:
    table = cases.assign(
        severity_label=cases["severity"].map(SEVERITY_LABELS),
        status_label=cases["status"].map(STATUS_LABELS),
        opened_local=cases["opened_at"].dt.tz_convert(user.timezone),
        case_link=cases["case_id"].map(case_link),
    ).sort_values("opened_at")
    st.dataframe(
        table,
        hide_index=True,
        column_order=[
            "case_link",
            "subject",
            "severity_label",
            "status_label",
            "opened_local",
            "breached",
            "at_risk",
        ],
        column_config={
            "case_link": st.column_config.LinkColumn(
                "Case", display_text=r"case\?id=(\d+)$", help="Open the case."
            ),
            "subject": "Subject",
            "severity_label": "Severity",
            "status_label": "Status",
            "opened_local": local_time_column(user.timezone, "Opened"),
            "breached": st.column_config.CheckboxColumn("Breached"),
            "at_risk": st.column_config.CheckboxColumn("At risk"),
        },
    )
