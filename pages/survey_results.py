"""Survey results: response rate, SUS with grade, NPS, CSAT, distributions, comments and trend."""

import math
from collections.abc import Callable
from dataclasses import asdict

import pandas as pd
import streamlit as st

from data_access.policies import tier_labels
from data_access.scope import Scope
from data_access.survey_results import (
    CommentPage,
    ResultFilters,
    ScoredResponses,
    SurveyOverview,
    SurveyResults,
    campaigns_in_scope,
    comment_page,
    responses_export,
    scored_responses,
    survey_overview,
)
from reports.survey_charts import item_distribution_chart, nps_split_chart, trend_chart
from ui.auth import read_session, require_access
from ui.charts import show_chart
from ui.downloads import csv_download
from ui.format import date_text
from ui.paging import page_picker

user = require_access(__file__)


@st.cache_data(ttl=60, show_spinner=False)
def load_campaigns(scope: Scope) -> pd.DataFrame:
    with read_session() as session:
        return campaigns_in_scope(session=session, scope=scope)


@st.cache_data(ttl=300, show_spinner=False)
def load_tier_labels() -> dict[str, str]:
    with read_session() as session:
        return tier_labels(session=session)


@st.cache_data(ttl=60, show_spinner=False)
def load_scored(scope: Scope, filters: ResultFilters) -> ScoredResponses:
    """The responses under `filters`, counted against the campaigns this page lists already."""
    campaigns = load_campaigns(scope)
    with read_session() as session:
        return scored_responses(session=session, scope=scope, filters=filters, campaigns=campaigns)


@st.cache_data(ttl=60, show_spinner="Scoring the responses…")
def load_overview(scope: Scope, filters: ResultFilters) -> SurveyOverview:
    """Per filter choice; the responses it counts are cached per customer, tier and region
    (`load_scored`), so choosing a campaign or a year reads nothing again. Its comments are
    left out: the page reads them a page at a time (`load_comments`)."""
    scored = load_scored(scope, filters.across_years())
    with read_session() as session:
        return survey_overview(
            session=session, scope=scope, filters=filters, scored=scored, comments=False
        )


@st.cache_data(ttl=60, show_spinner=False)
def load_comments(scope: Scope, filters: ResultFilters, search: str, page: int) -> CommentPage:
    """A page of comments at a time: 2,000 customers have thousands."""
    with read_session() as session:
        return comment_page(session=session, scope=scope, filters=filters, search=search, page=page)


def comments_page_key(filters: ResultFilters, search: str) -> str:
    """Other filters or another search start again at the newest comments."""
    return f"comments_page_{asdict(filters)}_{search.strip().lower()}"


def export_of(scope: Scope, filters: ResultFilters) -> Callable[[], pd.DataFrame]:
    """Every response the filters leave, read when the download is clicked (not on every run:
    it was a third of this page's time on 1,000,000 cases and 2,000 customers)."""

    def read() -> pd.DataFrame:
        with read_session() as session:
            return responses_export(session=session, scope=scope, **asdict(filters))

    return read


def number_text(value: float | None, pattern: str = "{:.1f}") -> str:
    return "—" if value is None or math.isnan(value) else pattern.format(value)


def sus_interval_text(results: SurveyResults) -> str:
    if results.sus_ci is None:
        return "No responses yet."
    low, high = results.sus_ci
    if math.isnan(low):
        return "One response: no confidence interval yet."
    return f"95 % confidence interval {low:.1f} to {high:.1f} (68 is average)."


scope = Scope.for_user(user)
st.title("Survey results")
st.caption(
    "Adoption surveys of every customer"
    if scope.all_customers
    else "Adoption surveys of the customers where you are CSM or HyperCare resource"
)
campaigns = load_campaigns(scope)
if campaigns.empty:
    st.info("No adoption survey campaigns have been opened for your customers yet.")
    st.stop()

labels = load_tier_labels()
filter_row = st.columns(5)
# Column-wise, as lists: 2,000 customers have over a thousand campaigns, and iterating pandas'
# text columns cell by cell cost more than reading them.
customer_names = dict(
    zip(campaigns["customer_id"].tolist(), campaigns["customer"].tolist(), strict=True)
)
customer_id = filter_row[0].selectbox(
    "Customer",
    sorted(customer_names, key=customer_names.get),
    index=None,
    format_func=customer_names.get,
    placeholder="All customers",
)
tier = filter_row[1].selectbox(
    "Tier",
    sorted(campaigns["tier"].unique()),
    index=None,
    format_func=lambda code: labels.get(code, code),
    placeholder="All tiers",
)
region = filter_row[2].selectbox(
    "Region", sorted(campaigns["region"].unique()), index=None, placeholder="All regions"
)
year = filter_row[3].selectbox(
    "Campaign year",
    sorted(campaigns["year"].unique(), reverse=True),
    index=None,
    placeholder="All years",
)
matching = campaigns
for column, chosen in (
    ("customer_id", customer_id),
    ("tier", tier),
    ("region", region),
    ("year", year),
):
    if chosen is not None:
        matching = matching[matching[column] == chosen]
campaign_titles = dict(
    zip(
        matching["id"].tolist(),
        (matching["customer"] + " · " + matching["title"]).tolist(),
        strict=True,
    )
)
campaign_id = filter_row[4].selectbox(
    "Campaign",
    list(campaign_titles),
    index=None,
    format_func=campaign_titles.get,
    placeholder="All campaigns",
)

filters = ResultFilters(
    customer_id=None if customer_id is None else int(customer_id),
    tier=tier,
    region=region,
    campaign_id=None if campaign_id is None else int(campaign_id),
    year=None if year is None else int(year),
)
overview = load_overview(scope, filters)
results, per_campaign, trend = overview.results, overview.per_campaign, overview.trend

metrics = st.columns(4)
metrics[0].metric(
    "Response rate",
    number_text(results.response_rate, "{:.0f} %"),
    help=f"{results.responses} submitted of {results.invited} invited end users.",
)
metrics[1].metric(
    "SUS mean",
    "—" if results.sus_mean is None else f"{results.sus_mean:.1f} · grade {results.sus_grade}",
    help="System Usability Scale 0–100, Sauro–Lewis curved grade; 68 is average.",
)
metrics[2].metric(
    "NPS",
    number_text(results.nps, "{:+.0f}"),
    help="% promoters (9–10) minus % detractors (0–6).",
)
metrics[3].metric(
    "CSAT",
    number_text(results.csat_pct, "{:.0f} %"),
    help="Share of satisfaction answers that are 4 or 5.",
)
st.caption(
    f"{results.responses} responses of {results.invited} invited · {sus_interval_text(results)}"
)

if results.responses == 0:
    st.info("No submitted responses match these filters yet.")
else:
    with st.container(border=True):
        st.subheader("Answers per SUS statement")
        show_chart(item_distribution_chart, results.item_distribution)

charts = st.columns([2, 3])
with charts[0], st.container(border=True):
    st.subheader("Promoters, passives, detractors")
    if results.nps_split is None:
        st.info("No NPS answers yet.")
    else:
        show_chart(nps_split_chart, results.nps_split)
        split = results.nps_split
        st.caption(
            f"{split['promoters']} promoters · {split['passives']} passives · "
            f"{split['detractors']} detractors"
        )
with charts[1], st.container(border=True):
    st.subheader("Trend across years")
    if trend["responses"].sum() == 0:
        st.info("The trend appears once responses are submitted.")
    else:
        show_chart(trend_chart, trend)

st.subheader("Per campaign")
st.dataframe(
    per_campaign.assign(tier=per_campaign["tier"].map(lambda code: labels.get(code, code))),
    hide_index=True,
    key="per_campaign",
    column_order=[
        "customer",
        "tier",
        "region",
        "title",
        "responses",
        "invited",
        "response_rate",
        "sus_mean",
        "sus_grade",
        "nps",
        "csat_pct",
    ],
    column_config={
        "customer": st.column_config.TextColumn("Customer", pinned=True),
        "tier": "Tier",
        "region": "Region",
        "title": "Campaign",
        "responses": st.column_config.NumberColumn("Responses"),
        "invited": st.column_config.NumberColumn("Invited"),
        "response_rate": st.column_config.ProgressColumn(
            "Response rate", format="%.0f%%", min_value=0, max_value=100
        ),
        "sus_mean": st.column_config.NumberColumn("SUS mean", format="%.1f"),
        "sus_grade": "Grade",
        "nps": st.column_config.NumberColumn("NPS", format="%+.0f"),
        "csat_pct": st.column_config.NumberColumn("CSAT %", format="%.0f"),
    },
)

st.subheader("Comments")
search = st.text_input("Search comments", placeholder="Words in the comment or customer name")
page_key = comments_page_key(filters, search)
comments = load_comments(scope, filters, search, st.session_state.get(page_key, 0))
if comments.total == 0:
    st.info("No comments match." if search.strip() else "No comments in these responses.")
else:
    # A page past the end (fewer now) is read and chosen as the last one.
    page_picker(
        "Comments shown",
        comments.total,
        comments.page_size,
        page_key,
        "Newest first, a page at a time; the download holds every response.",
    )
    st.caption(
        f"{comments.total:,} comments"
        + (
            f"; these are {comments.first:,}–{comments.last:,}, newest first"
            if comments.pages > 1
            else ", newest first"
        )
        + "."
    )
    # Comments are shown as plain text cells: never rendered as Markdown or HTML.
    st.dataframe(
        comments.rows,
        hide_index=True,
        key="comments",
        column_config={
            "customer": "Customer",
            "campaign": "Campaign",
            "interview_date": st.column_config.DateColumn("Interview", format="D MMM YYYY"),
            "nps": st.column_config.NumberColumn("NPS answer"),
            "csat": st.column_config.NumberColumn("CSAT answer"),
            "comments": st.column_config.TextColumn("Comment", width="large"),
        },
    )

csv_download(
    export_of(scope, filters),
    file_name=f"survey-responses-{date_text(pd.Timestamp.now(tz='UTC')).replace(' ', '-')}.csv",
    key="responses_csv",
    user=user,
    label="Download responses (CSV)",
    disabled=not results.responses,
)
