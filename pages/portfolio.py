"""Portfolio: every customer in the viewer's scope, with open cases, SLA breaches and renewal."""

from datetime import UTC, datetime

import altair as alt
import pandas as pd
import streamlit as st

from data_access.customers import portfolio
from data_access.scope import Scope
from ui.auth import read_session, require_access
from ui.charts import show_chart
from ui.downloads import csv_download
from ui.format import DATE_COLUMN_FORMAT, MISSING
from ui.navigation import PAGES_DIR

user = require_access(__file__)


@st.cache_data(ttl=30, show_spinner="Loading the portfolio…")
def load_portfolio(scope: Scope) -> pd.DataFrame:
    with read_session() as session:
        return portfolio(session=session, scope=scope, now=datetime.now(UTC))


def open_cases_by_tier(shown: pd.DataFrame) -> pd.DataFrame:
    """Open cases of the customers shown per tier and severity (tier_label, severity, cases)."""
    return (
        shown.groupby("tier_label")[["sev1", "sev2", "sev3", "sev4"]]
        .sum()
        .reset_index()
        .melt(id_vars="tier_label", var_name="severity", value_name="cases")
    )


def open_cases_chart(by_tier: pd.DataFrame) -> alt.Chart:
    """One bar per tier stacked by severity (`open_cases_by_tier`)."""
    return (
        alt.Chart(by_tier)
        .mark_bar()
        .encode(
            x=alt.X("cases:Q", title="Open cases"),
            y=alt.Y("tier_label:N", title=None),
            color=alt.Color(
                "severity:N",
                title="Severity",
                scale=alt.Scale(
                    domain=["sev1", "sev2", "sev3", "sev4"],
                    range=["#C62828", "#EF6C00", "#F9A825", "#90A4AE"],
                ),
            ),
            tooltip=["tier_label", "severity", "cases"],
        )
        .properties(height=160)
    )


scope = Scope.for_user(user)
st.title("Portfolio")
st.caption(
    "All customers" if scope.all_customers else "Customers where you are CSM or HyperCare resource"
)
frame = load_portfolio(scope)

if frame.empty:
    st.info(
        "No customers are assigned to you yet. An administrator assigns CSMs on the Admin page."
    )
    st.stop()

filters = st.columns([3, 2, 2, 2, 2], vertical_alignment="bottom")
search = filters[0].text_input("Search", placeholder="Customer, CSM or resource name")
tiers = filters[1].multiselect("Tier", sorted(frame["tier_label"].unique()))
regions = filters[2].multiselect("Region", sorted(frame["region"].unique()))
csms = filters[3].multiselect("CSM", sorted(frame["csm"].dropna().unique()))
only_breaching = filters[4].toggle(
    "Only breaching", help="Customers with an open case past its target (severity 1 has none)"
)

shown = frame
if search:
    needle = search.strip().lower()
    haystack = (
        shown["name"].str.lower()
        + " "
        + shown["csm"].fillna("").str.lower()
        + " "
        + shown["hypercare_resource"].fillna("").str.lower()
    )
    shown = shown[haystack.str.contains(needle, regex=False)]
if tiers:
    shown = shown[shown["tier_label"].isin(tiers)]
if regions:
    shown = shown[shown["region"].isin(regions)]
if csms:
    shown = shown[shown["csm"].isin(csms)]
if only_breaching:
    shown = shown[shown["breaching"] > 0]

metrics = st.columns(4)
metrics[0].metric("Customers", len(shown))
metrics[1].metric("Open cases", int(shown["open_cases"].sum()))
metrics[2].metric("Severity 1 open", int(shown["sev1"].sum()))
metrics[3].metric("Breached cases", int(shown["breaching"].sum()))

if shown.empty:
    st.info("No customer matches these filters.")
    st.stop()

st.caption("Select a row to open the customer.")
selection = st.dataframe(
    shown.assign(
        csm=shown["csm"].fillna(MISSING),
        hypercare_resource=shown["hypercare_resource"].fillna(MISSING),
    ),
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="portfolio_table",
    column_order=[
        "name",
        "tier_label",
        "region",
        "csm",
        "hypercare_resource",
        "open_cases",
        "sev1",
        "sev2",
        "sev3",
        "sev4",
        "breaching",
        "at_risk",
        "next_renewal",
        "days_to_renewal",
    ],
    column_config={
        "name": st.column_config.TextColumn("Customer", pinned=True),
        "tier_label": "Tier",
        "region": "Region",
        "csm": "CSM",
        "hypercare_resource": "HyperCare resource",
        "open_cases": st.column_config.NumberColumn("Open", help="Open cases, all severities"),
        "sev1": st.column_config.NumberColumn("Sev 1"),
        "sev2": st.column_config.NumberColumn("Sev 2"),
        "sev3": st.column_config.NumberColumn("Sev 3"),
        "sev4": st.column_config.NumberColumn("Sev 4"),
        "breaching": st.column_config.NumberColumn(
            "Breached",
            help="Open cases whose clock on screen is past its target: the first response "
            "before the reply, then the resolution guideline. Severity 1 has no response "
            "target, so a missed internal goal is not counted.",
        ),
        "at_risk": st.column_config.NumberColumn("At risk", help="Under 25 % of a target left"),
        "next_renewal": st.column_config.DateColumn("Next renewal", format=DATE_COLUMN_FORMAT),
        "days_to_renewal": st.column_config.NumberColumn("Days to renewal"),
    },
)
chosen = selection.selection.rows if selection else []
if chosen:
    customer_id = int(shown.iloc[chosen[0]]["id"])
    st.switch_page(PAGES_DIR / "customer.py", query_params={"customer": customer_id})

st.subheader("Open cases by tier and severity")
# The chart is drawn from its dozen sums, not the customers' rows: its cache key digests what
# it is given, and 2,000 customers' rows cost 10 ms a run to digest.
show_chart(open_cases_chart, open_cases_by_tier(shown))
csv_download(
    shown.drop(columns=["csm_id", "hypercare_resource_id", "region_id"]),
    file_name="portfolio.csv",
    key="portfolio_csv",
    user=user,
)
