"""Customer: one customer's people, programme and open cases (only within the viewer's scope)."""

from ui.auth import require_access

user = require_access(__file__)

from datetime import UTC, datetime  # noqa: E402

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from data_access.cases import open_case_clocks  # noqa: E402
from data_access.customers import contacts_of, customers_in_scope, portfolio  # noqa: E402
from data_access.scope import Scope  # noqa: E402
from domain.lifecycle import SEVERITY_LABELS, STATUS_LABELS  # noqa: E402
from ui.auth import read_session  # noqa: E402
from ui.format import date_text, local_time_text  # noqa: E402
from ui.pickers import customer_picker  # noqa: E402

CHANNEL_ICONS = {"email": ":material/mail:", "phone": ":material/call:", "chat": ":material/chat:"}


@st.cache_data(ttl=30, show_spinner=False)
def load_customers(scope: Scope) -> pd.DataFrame:
    with read_session() as session:
        return customers_in_scope(session=session, scope=scope)


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
customers = load_customers(scope)
if customers.empty:
    st.title("Customer")
    st.info("No customers are assigned to you yet.")
    st.stop()

current = customer_picker(customers, key="customer_page_picker", label_visibility="collapsed")

row, contacts, cases = load_detail(scope, current)
st.title(row["name"])
st.caption(f"{row['tier_label']} · {row['region']} · {row['industry'] or 'industry not recorded'}")

facts = st.columns(4)
facts[0].metric("Open cases", int(row["open_cases"]))
facts[1].metric("Breaching SLA", int(row["breaching"]))
facts[2].metric("HyperCare since", date_text(row["hypercare_start"]))
facts[3].metric("Next renewal", date_text(row["next_renewal"]), f"in {row['days_to_renewal']} days")

left, right = st.columns(2)
with left, st.container(border=True):
    st.subheader("Team")
    st.write(f"**CSM:** {row['csm'] or 'not assigned'}")
    st.write(f"**HyperCare resource:** {row['hypercare_resource'] or 'none'}")
    st.write(f"**Region time now:** {local_time_text(datetime.now(UTC), row['region_timezone'])}")
with right, st.container(border=True):
    st.subheader("Contacts")
    if contacts.empty:
        st.info("No contacts recorded.")
    for contact in contacts.itertuples():
        channel = contact.preferred_channel
        reach = {"email": contact.email, "phone": contact.phone, "chat": contact.chat_handle}
        st.markdown(
            f"{CHANNEL_ICONS.get(channel, '')} **{contact.name}**"
            f"{' (primary)' if contact.is_primary else ''} — prefers {channel}"
        )
        st.caption(f"{contact.title or ''} · {reach.get(channel) or 'no details'}")

st.subheader("Open cases")
if cases.empty:
    st.info("No open cases.")
else:
    table = cases.assign(
        severity_label=cases["severity"].map(SEVERITY_LABELS),
        status_label=cases["status"].map(STATUS_LABELS),
        opened_local=cases["opened_at"].dt.tz_convert(user.timezone),
    ).sort_values("opened_at")
    st.dataframe(
        table,
        hide_index=True,
        column_order=[
            "case_id",
            "subject",
            "severity_label",
            "status_label",
            "opened_local",
            "breached",
            "at_risk",
        ],
        column_config={
            "case_id": st.column_config.NumberColumn("Case", format="#%d"),
            "subject": "Subject",
            "severity_label": "Severity",
            "status_label": "Status",
            "opened_local": st.column_config.DatetimeColumn(
                f"Opened ({user.timezone})", format="D MMM YYYY HH:mm"
            ),
            "breached": st.column_config.CheckboxColumn("Breached"),
            "at_risk": st.column_config.CheckboxColumn("At risk"),
        },
    )
