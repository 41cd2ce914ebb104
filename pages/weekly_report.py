"""Weekly report: a customer's enrolled production models, Monday to Sunday, at four granularities."""

from datetime import UTC, date, datetime

import altair as alt
import pandas as pd
import streamlit as st

from data_access.scope import Scope
from data_access.weekly_report import (
    enrolled_models,
    model_totals,
    weekly_report,
    weekly_report_cap,
    weekly_trend,
)
from domain.dates import CHART_SHORT_DAY_FORMAT
from domain.weekly import (
    DATA_POINTS,
    GRANULARITIES,
    change_percent,
    change_text,
    days_over,
    last_complete_week,
    recent_weeks,
    reconciliation_note,
    so_far_text,
    today_in,
    week_label,
    week_option_label,
    week_start,
)
from ui.auth import read_session, require_access
from ui.charts import show_chart
from ui.customers import chosen_customer, load_customer_names
from ui.downloads import csv_download
from ui.format import MISSING, plain_markdown
from ui.pickers import customer_picker

user = require_access(__file__)

PICKER_WEEKS = 26
TREND_WEEKS = 12
CHART_LINES = 10
DEFAULT_GRANULARITY = "model"


@st.cache_data(ttl=300, show_spinner=False)
def load_enrolment(customer_id: int) -> tuple[pd.DataFrame, int]:
    with read_session() as session:
        return (
            enrolled_models(session=session, customer_id=customer_id),
            weekly_report_cap(session=session, customer_id=customer_id),
        )


@st.cache_data(ttl=300, show_spinner="Adding up the week…")
def load_report(customer_id: int, week: date, granularity: str, today: date) -> pd.DataFrame:
    with read_session() as session:
        return weekly_report(
            session=session,
            customer_id=customer_id,
            week_start=week,
            granularity=granularity,
            today=today,
        )


@st.cache_data(ttl=300, show_spinner=False)
def load_model_totals(customer_id: int, week: date, today: date) -> dict[str, float | None]:
    with read_session() as session:
        return model_totals(session=session, customer_id=customer_id, week_start=week, today=today)


@st.cache_data(ttl=300, show_spinner=False)
def load_trend(customer_id: int, granularity: str, end_week: date) -> pd.DataFrame:
    with read_session() as session:
        return weekly_trend(
            session=session,
            customer_id=customer_id,
            granularity=granularity,
            end_week=end_week,
            weeks=TREND_WEEKS,
        )


EARLIEST_LINKED_WEEK = date(2000, 1, 3)
"""No product usage is older than this Monday; a link to an earlier week shows the default."""


def chosen_week(column, today: date) -> date:
    """A week of the last 26 complete ones, or the week in progress once a day of it is over;
    a link may name an older week (?week=2026-06-01). The last complete week is the default."""
    last_complete = last_complete_week(today)
    running = week_start(today)
    weeks = recent_weeks(last_complete, PICKER_WEEKS)
    if days_over(running, today) > 0:
        weeks = [running, *weeks]
    requested = st.query_params.get("week")
    try:
        linked = week_start(date.fromisoformat(requested)) if requested else None
    except ValueError:
        linked = None
    if linked is not None and linked < EARLIEST_LINKED_WEEK:
        linked = None  # the trend counts weeks back from it: year 1 has none before it
    if linked is not None and linked <= last_complete and linked not in weeks:
        weeks = sorted([*weeks, linked], reverse=True)
    current = linked if linked in weeks else last_complete

    def label(start: date) -> str:
        running_text = so_far_text(start, today)
        return week_option_label(start) + (f" ({running_text})" if running_text else "")

    choice = column.selectbox(
        "Week", weeks, index=weeks.index(current), format_func=label, key="weekly_week"
    )
    if choice != current:
        st.query_params["week"] = choice.isoformat()
    return choice


def value_column(point: str) -> str:
    spec = DATA_POINTS[point]
    return f"{spec.label} ({spec.unit})" if spec.unit else spec.label


def change_column(point: str) -> str:
    return f"{DATA_POINTS[point].label} Δ"


def table_for(report: pd.DataFrame, granularity: str) -> pd.DataFrame:
    """Exactly the table shown (and downloaded): rounded as displayed, changes with ▲/▼."""
    spec = GRANULARITIES[granularity]
    shown = pd.DataFrame({spec.entity_label: report["entity"]})
    if spec.context_label:
        shown[spec.context_label] = report["context"]
    if "workspace" in report:
        shown["Workspace"] = report["workspace"]
    if granularity in ("workspace", "user"):
        shown["Models"] = report["models"].round().astype("Int64")
    shown["Active days" if granularity == "user" else "Days with figures"] = (
        report["days"].round().astype("Int64")
    )
    for point in spec.data_points:
        values = report[point].astype(float)
        shown[value_column(point)] = (
            values.round(1) if DATA_POINTS[point].unit else values.round().astype("Int64")
        )
        shown[change_column(point)] = report[f"{point}_change_pct"].map(change_text)
    return shown


def column_config(granularity: str) -> dict:
    spec = GRANULARITIES[granularity]
    config = {
        spec.entity_label: st.column_config.TextColumn(spec.entity_label, pinned=True),
        "Days with figures": st.column_config.NumberColumn(
            help="Days of the week with daily figures (7 when none is missing)"
        ),
        "Active days": st.column_config.NumberColumn(help="Days of the week with any activity"),
        "Models": st.column_config.NumberColumn(
            help="Enrolled models with figures this week"
            if granularity == "workspace"
            else "Enrolled models the user worked in this week"
        ),
    }
    for point in spec.data_points:
        data_point = DATA_POINTS[point]
        config[value_column(point)] = st.column_config.NumberColumn(
            help=data_point.help, format="%.1f" if data_point.unit else "%d"
        )
        config[change_column(point)] = st.column_config.TextColumn(
            help="Change against the previous week; blank when that week had no value or zero"
        )
    return config


def total_metric(column, report: pd.DataFrame, point: str, compared_with: str) -> None:
    now, before = report[point].sum(min_count=1), report[f"{point}_prev"].sum(min_count=1)
    percent = change_percent(now, before)
    column.metric(
        f"{DATA_POINTS[point].label}, all rows",
        MISSING if pd.isna(now) else f"{int(now):,}",
        None if percent is None else f"{percent:+.1f} % on {compared_with}",
    )


def reconciliation_notes(report: pd.DataFrame, granularity: str, totals: dict) -> list[str]:
    """Why this granularity's rows do not add up to the models' totals, one sentence each."""
    notes = []
    for point, models_total in totals.items():
        if point not in report:
            continue
        note = reconciliation_note(
            granularity, DATA_POINTS[point].label, report[point].sum(min_count=1), models_total
        )
        if note:
            notes.append(note)
    return notes


def series_names(trend: pd.DataFrame) -> pd.Series:
    """One legend name per entity: two models both called 'Sales Forecast' in different
    workspaces must not share a line, so a repeated name gets its context beside it."""
    names = trend.drop_duplicates("entity_id")
    repeated = names["entity"].duplicated(keep=False)
    context = names["context"].fillna("").astype(str)
    if "workspace" in names:
        context = names["workspace"].fillna("").astype(str) + " · " + context
    context = context.where(context != "", "#" + names["entity_id"].astype(str))
    unique = names["entity"].where(~repeated, names["entity"] + " (" + context + ")")
    unique = unique.where(
        ~unique.duplicated(keep=False), unique + " #" + names["entity_id"].astype(str)
    )
    return trend["entity_id"].map(dict(zip(names["entity_id"], unique, strict=True)))


def trend_chart(trend: pd.DataFrame, point: str, week: date, entity_label: str) -> alt.LayerChart:
    data_point = DATA_POINTS[point]
    frame = trend.assign(
        entity=series_names(trend),
        week=pd.to_datetime(trend["week_start"]),
        week_text=trend["week_start"].map(week_label),
    )
    axis_title = value_column(point)
    lines = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("week:T", title=None, axis=alt.Axis(format=CHART_SHORT_DAY_FORMAT)),
            y=alt.Y(f"{point}:Q", title=axis_title),
            color=alt.Color(
                "entity:N",
                title=entity_label,
                legend=alt.Legend(labelLimit=280),
            ),
            tooltip=[
                alt.Tooltip("entity:N", title=entity_label),
                alt.Tooltip("week_text:N", title="Week"),
                alt.Tooltip("days:Q", title="Days with figures"),
                alt.Tooltip(
                    f"{point}:Q", title=axis_title, format=".1f" if data_point.unit else ","
                ),
            ],
        )
    )
    chosen = (
        alt.Chart(pd.DataFrame({"week": [pd.Timestamp(week)]}))
        .mark_rule(strokeDash=[4, 4], color="#90A4AE")
        .encode(x="week:T")
    )
    return (chosen + lines).properties(height=300)


scope = Scope.for_user(user)
st.title("Weekly report")
customers = load_customer_names(scope)
if customers.empty:
    st.info(
        "No customers are assigned to you yet. An administrator assigns CSMs on the Admin page."
    )
    st.stop()

pickers = st.columns([3, 3, 4], vertical_alignment="bottom")
with pickers[0]:
    customer_id = customer_picker(customers, key="weekly_customer")
customer = chosen_customer(scope, customer_id)
region_today = today_in(customer["region_timezone"], datetime.now(UTC))
week = chosen_week(pickers[1], region_today)
running = so_far_text(week, region_today)
compared_with = "the same days of the week before" if running else "the week before"
granularity = (
    pickers[2].segmented_control(
        "Granularity",
        list(GRANULARITIES),
        format_func=lambda key: GRANULARITIES[key].label,
        default=DEFAULT_GRANULARITY,
        key="weekly_granularity",
    )
    or DEFAULT_GRANULARITY
)
spec = GRANULARITIES[granularity]

models, cap = load_enrolment(customer_id)
reported = models[models["reported"]]
st.subheader(
    plain_markdown(
        f"{customer['name']} · {week_label(week)}" + (f" · {running}" if running else "")
    )
)
st.caption(
    f"{customer['tier_label']} · weeks run Monday to Sunday on {customer['region']} calendar days "
    f"({customer['region_timezone']}). Durations are the average of the daily values; times "
    "accessed and changes are weekly totals; users is the highest daily count (daily counts "
    "cannot say how many different people used a model in the week). Δ is the change on the "
    "week before."
    + (
        f" This week is still running ({running}): it is compared with the same days of the "
        "week before, not with that whole week."
        if running
        else ""
    )
)
if reported.empty:
    if cap == 0:
        st.info(
            f"{customer['tier_label']} has no weekly report: the tier includes no models in it."
        )
    else:
        st.info(
            f"No production models are enrolled in the weekly report yet; up to {cap} can be "
            "enrolled on the Entitlements page."
        )
    st.stop()
if len(models) > len(reported):
    st.warning(
        f"{len(models)} models are enrolled but {customer['tier_label']} includes {cap}; "
        f"the report shows the first {cap} enrolled."
    )

report = load_report(customer_id, week, granularity, region_today)
facts = st.columns(3)
facts[0].metric("Models reported", f"{len(reported)} of {cap}")
total_metric(facts[1], report, "times_accessed", compared_with)
total_metric(facts[2], report, "changes", compared_with)
for note in reconciliation_notes(
    report, granularity, load_model_totals(customer_id, week, region_today)
):
    st.caption(note)

if report.empty:
    st.info("No user worked in the enrolled models this week or the week before.")
    st.stop()

shown = table_for(report, granularity)
st.dataframe(shown, hide_index=True, column_config=column_config(granularity), key="weekly_table")
csv_download(
    shown,
    file_name=f"weekly-report-{customer_id}-{week.isoformat()}-{granularity}.csv",
    key="weekly_csv",
    user=user,
)

st.subheader(f"Last {TREND_WEEKS} weeks")
trend = load_trend(customer_id, granularity, week)
point = (
    st.segmented_control(
        "Trend of",
        list(spec.data_points),
        format_func=lambda key: DATA_POINTS[key].label,
        default=spec.data_points[0],
        key=f"weekly_trend_{granularity}",
    )
    or spec.data_points[0]
)
if trend.empty:
    st.info("No figures in these weeks.")
    st.stop()
leaders = report.sort_values([point, "entity"], ascending=[False, True], na_position="last").head(
    CHART_LINES
)["entity_id"]
if report["entity_id"].nunique() > CHART_LINES:
    st.caption(
        f"The {CHART_LINES} {spec.entity_label.lower()}s with the highest "
        f"{DATA_POINTS[point].label.lower()} this week; the table lists all."
    )
show_chart(trend_chart, trend[trend["entity_id"].isin(leaders)], point, week, spec.entity_label)
