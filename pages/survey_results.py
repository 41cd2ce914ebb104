"""Survey results: response rate, SUS with grade, NPS, CSAT, distributions, comments and trend."""

import math
from dataclasses import asdict

import altair as alt
import pandas as pd
import streamlit as st

from data_access.policies import tier_labels
from data_access.scope import Scope
from data_access.surveys import (
    ResultFilters,
    SurveyResults,
    campaigns_in_scope,
    responses_export,
    results_by_campaign,
    results_by_year,
    survey_results,
)
from domain.surveys import LIKERT_LABELS
from ui.auth import read_session, require_access
from ui.downloads import csv_download
from ui.format import date_text

user = require_access(__file__)

LIKERT_COLOURS = ["#C62828", "#EF9A9A", "#BDBDBD", "#90CAF9", "#1565C0"]
NPS_GROUPS = {"detractors": "#C62828", "passives": "#BDBDBD", "promoters": "#2E7D32"}


@st.cache_data(ttl=60, show_spinner=False)
def load_campaigns(scope: Scope) -> pd.DataFrame:
    with read_session() as session:
        return campaigns_in_scope(session=session, scope=scope)


@st.cache_data(ttl=300, show_spinner=False)
def load_tier_labels() -> dict[str, str]:
    with read_session() as session:
        return tier_labels(session=session)


@st.cache_data(ttl=60, show_spinner="Scoring the responses…")
def load_results(
    scope: Scope, filters: ResultFilters
) -> tuple[SurveyResults, pd.DataFrame, pd.DataFrame]:
    with read_session() as session:
        return (
            survey_results(session=session, scope=scope, **asdict(filters)),
            results_by_campaign(session=session, scope=scope, **asdict(filters)),
            responses_export(session=session, scope=scope, **asdict(filters)),
        )


@st.cache_data(ttl=60, show_spinner=False)
def load_trend(scope: Scope, filters: ResultFilters) -> pd.DataFrame:
    with read_session() as session:
        return results_by_year(session=session, scope=scope, **asdict(filters))


def number_text(value: float | None, pattern: str = "{:.1f}") -> str:
    return "—" if value is None or math.isnan(value) else pattern.format(value)


def sus_interval_text(results: SurveyResults) -> str:
    if results.sus_ci is None:
        return "No responses yet."
    low, high = results.sus_ci
    if math.isnan(low):
        return "One response: no confidence interval yet."
    return f"95 % confidence interval {low:.1f} to {high:.1f} (68 is average)."


def short_statement(text: str, limit: int = 60) -> str:
    """A SUS statement short enough for an axis label (the tooltip has it in full)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def item_distribution_chart(distribution: pd.DataFrame) -> alt.Chart:
    statements = zip(distribution["item"], distribution["statement"], strict=True)
    frame = distribution.assign(
        label=[f"{item}. {short_statement(text)}" for item, text in statements],
        answer_label=[f"{answer} · {LIKERT_LABELS[answer]}" for answer in distribution["answer"]],
    )
    order = [f"{answer} · {label}" for answer, label in LIKERT_LABELS.items()]
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(
                "count:Q", stack="normalize", title="Share of answers", axis=alt.Axis(format="%")
            ),
            y=alt.Y("label:N", sort=None, title=None, axis=alt.Axis(labelLimit=360)),
            color=alt.Color(
                "answer_label:N",
                title="Answer",
                scale=alt.Scale(domain=order, range=LIKERT_COLOURS),
                sort=order,
            ),
            order=alt.Order("answer:Q"),
            tooltip=[
                alt.Tooltip("statement:N", title="Statement"),
                alt.Tooltip("answer_label:N", title="Answer"),
                alt.Tooltip("count:Q", title="Responses"),
            ],
        )
        .properties(height=340)
    )


def nps_split_chart(split: dict) -> alt.Chart:
    frame = pd.DataFrame(
        {
            "group": list(NPS_GROUPS),
            "count": [split[group] for group in NPS_GROUPS],
            "percent": [split[f"{group}_percent"] for group in NPS_GROUPS],
        }
    )
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("percent:Q", title="% of responses", scale=alt.Scale(domain=[0, 100])),
            y=alt.Y("group:N", title=None, sort=list(NPS_GROUPS)),
            color=alt.Color(
                "group:N",
                legend=None,
                scale=alt.Scale(domain=list(NPS_GROUPS), range=list(NPS_GROUPS.values())),
            ),
            tooltip=[
                alt.Tooltip("group:N", title="Group"),
                alt.Tooltip("count:Q", title="Responses"),
                alt.Tooltip("percent:Q", title="%", format=".1f"),
            ],
        )
        .properties(height=150)
    )


def trend_chart(trend: pd.DataFrame) -> alt.LayerChart:
    lines = trend.melt(
        id_vars="year",
        value_vars=["sus_mean", "nps", "csat_pct"],
        var_name="measure",
        value_name="value",
    ).dropna(subset=["value"])
    lines["measure"] = lines["measure"].map(
        {"sus_mean": "SUS mean", "nps": "NPS", "csat_pct": "CSAT %"}
    )
    base = alt.Chart(lines).encode(
        x=alt.X("year:O", title="Campaign year", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(domain=[-100, 100])),
        color=alt.Color(
            "measure:N",
            title=None,
            scale=alt.Scale(
                domain=["SUS mean", "NPS", "CSAT %"], range=["#C62828", "#2E7D32", "#1565C0"]
            ),
        ),
        tooltip=["year:O", "measure:N", alt.Tooltip("value:Q", format=".1f")],
    )
    interval = (
        alt.Chart(trend.dropna(subset=["sus_low", "sus_high"]))
        .mark_rule(strokeWidth=3, opacity=0.5, color="#C62828")
        .encode(
            x="year:O",
            y="sus_low:Q",
            y2="sus_high:Q",
            tooltip=[
                "year:O",
                alt.Tooltip("sus_low:Q", title="SUS 95 % low", format=".1f"),
                alt.Tooltip("sus_high:Q", title="SUS 95 % high", format=".1f"),
            ],
        )
    )
    return (base.mark_line(point=True) + interval).properties(height=260)


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
customer_names = dict(zip(campaigns["customer_id"], campaigns["customer"], strict=False))
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
campaign_titles = {
    row.id: f"{row.customer} · {row.title}" for row in matching.itertuples(index=False)
}
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
results, per_campaign, export = load_results(scope, filters)

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
        st.altair_chart(item_distribution_chart(results.item_distribution), width="stretch")

trend = load_trend(scope, ResultFilters(customer_id=filters.customer_id, tier=tier, region=region))
charts = st.columns([2, 3])
with charts[0], st.container(border=True):
    st.subheader("Promoters, passives, detractors")
    if results.nps_split is None:
        st.info("No NPS answers yet.")
    else:
        st.altair_chart(nps_split_chart(results.nps_split), width="stretch")
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
        st.altair_chart(trend_chart(trend), width="stretch")

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
comments = results.comments
if search.strip():
    needle = search.strip().lower()
    haystack = comments["comments"].str.lower() + " " + comments["customer"].str.lower()
    comments = comments[haystack.str.contains(needle, regex=False)]
if comments.empty:
    st.info("No comments match." if search.strip() else "No comments in these responses.")
else:
    # Comments are shown as plain text cells: never rendered as Markdown or HTML.
    st.dataframe(
        comments,
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
    export,
    file_name=f"survey-responses-{date_text(pd.Timestamp.now(tz='UTC')).replace(' ', '-')}.csv",
    key="responses_csv",
    user=user,
    label="Download responses (CSV)",
    disabled=export.empty,
)
