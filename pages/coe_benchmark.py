"""CoE benchmark: a customer's Centre-of-Excellence footprint per quarter against peers."""

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from data_access import coe, coe_commands
from data_access.actor import Actor
from data_access.scope import Scope
from domain.coe import COUNT_FIELDS, FIELD_LABELS, MATURITY_LABELS, CoeValues
from domain.quarters import BadQuarter, Quarter, quarters_between
from reports.coe_charts import history_trend, percentile_bars
from ui.auth import read_session, require_access
from ui.charts import show_chart
from ui.commands import run_command, show_notice
from ui.customers import chosen_customer, load_customer_names
from ui.downloads import csv_download
from ui.format import (
    DATE_COLUMN_FORMAT,
    date_text,
    plain_markdown,
    to_zone,
)
from ui.pickers import customer_picker
from ui.tables import file_problems, local_time_column

user = require_access(__file__)

UPLOAD_RESULT_KEY = "coe_upload_result"
TREND_MEASURES = {
    "certified_builders": "Certified model builders",
    "certified_architects": "Certified solution architects",
    "master_planners": "Master planners",
    "production_models": "Production models",
}


@st.cache_data(ttl=300, show_spinner=False)
def load_not_included(tier: str) -> str | None:
    """The sentence saying the tier has no CoE benchmark, or None."""
    with read_session() as session:
        return coe.not_included(session=session, tier=tier)


@st.cache_data(ttl=30, show_spinner="Loading the benchmark…")
def load_comparison(customer_id: int, quarter: Quarter) -> coe.CoeComparison | None:
    with read_session() as session:
        return coe.coe_comparison(session=session, customer_id=customer_id, quarter=quarter)


@st.cache_data(ttl=30, show_spinner=False)
def load_history(customer_id: int) -> pd.DataFrame:
    with read_session() as session:
        return coe.coe_history(session=session, customer_id=customer_id)


def quarter_picker(choices: list[Quarter], default: Quarter) -> Quarter:
    """The quarter named in the URL (`?quarter=2026Q3`) when it is one of `choices`."""
    requested = st.query_params.get("quarter")
    current = default
    if requested is not None:
        try:
            current = Quarter.parse(requested)
        except BadQuarter as exc:
            st.warning(plain_markdown(str(exc)))
        if current not in choices:
            st.warning(
                f"There is no benchmark quarter {plain_markdown(requested)}; showing {default.label}."
            )
            current = default
    choice = st.selectbox(
        "Quarter",
        choices,
        index=choices.index(current),
        format_func=lambda q: q.label,
        key="coe_quarter",
    )
    if requested != choice.code:
        st.query_params["quarter"] = choice.code
    return choice


def show_comparison(found: coe.CoeComparison | None, quarter: Quarter) -> None:
    st.subheader(f"Against peers · {quarter.label}")
    if found is None:
        st.info(f"No CoE benchmark was taken in {quarter.label}.")
        return
    group = found.comparison.group
    st.caption(f"Benchmark taken on {date_text(found.taken_on)}. {group.sentence}")
    builders = found.comparison.metric("builders_per_model")
    active = found.comparison.metric("active_share_pct")
    stage = found.comparison.metric("maturity_stage")
    left, middle, right = st.columns(3)
    left.metric(
        "Builders per production model",
        builders.value_text,
        help=f"Peer median {builders.median_text}.",
    )
    middle.metric(
        "Active share of licences", active.value_text, help=f"Peer median {active.median_text}."
    )
    right.metric("CoE maturity stage", stage.value_text, help=f"Peer median {stage.median_text}.")
    chart_data = found.chart_data()
    if chart_data.empty:
        st.info("Too few peers have a benchmark this quarter to show percentiles.")
    else:
        show_chart(percentile_bars, chart_data, width="content")
    st.dataframe(found.table(), hide_index=True, key="coe_comparison", height="content")
    st.markdown("**Next steps**")
    st.markdown("\n".join(f"- {plain_markdown(step)}" for step in found.next_steps))


def show_history(history: pd.DataFrame, customer_id: int) -> None:
    st.subheader("History")
    if history.empty:
        st.info("No CoE benchmark has been recorded for this customer yet.")
        return
    if len(history) > 1:
        show_chart(history_trend, history, TREND_MEASURES, width="content", height=320)
    shown = history.assign(
        updated_local=to_zone(history["updated_at"], user.timezone),
        maturity=history["maturity_stage"].map(lambda s: f"{s} · {MATURITY_LABELS.get(s, '?')}"),
    )
    st.dataframe(
        shown,
        hide_index=True,
        key="coe_history",
        column_order=[
            "quarter",
            "taken_on",
            "certified_builders",
            "certified_architects",
            "master_planners",
            "production_models",
            "workspaces",
            "workspace_size_gb",
            "workspace_allowance_gb",
            "licensed_users",
            "active_users",
            "active_share_pct",
            "alm_in_use",
            "data_hub",
            "maturity",
            "recorded_by",
            "updated_local",
        ],
        column_config={
            "quarter": "Quarter",
            "taken_on": st.column_config.DateColumn("Taken on", format=DATE_COLUMN_FORMAT),
            **{name: FIELD_LABELS[name] for name in FIELD_LABELS if name != "maturity_stage"},
            "workspace_size_gb": st.column_config.NumberColumn(
                FIELD_LABELS["workspace_size_gb"], format="%.1f"
            ),
            "active_share_pct": st.column_config.NumberColumn("Active share", format="%.0f %%"),
            "maturity": FIELD_LABELS["maturity_stage"],
            "recorded_by": "Recorded by",
            "updated_local": local_time_column(user.timezone, "Updated"),
        },
    )
    csv_download(
        history,
        file_name=f"coe-history-{customer_id}.csv",
        key="coe_history_csv",
        user=user,
        label="Download the history (CSV)",
    )


def snapshot_form(customer_id: int, quarter: Quarter, found: coe.CoeComparison | None) -> None:
    """Record the chosen quarter, or correct it when it exists (prefilled with its values)."""
    start = found.values if found is not None else CoeValues()
    if found is None:
        st.caption(
            f"Recording {quarter.label} uses one of the customer's CoE benchmarks for the "
            "subscription year."
        )
    else:
        st.caption(
            f"{quarter.label} is recorded; saving corrects it without using another benchmark."
        )
    suffix = f"{customer_id}_{quarter.code}"
    with st.form(f"coe_snapshot_{suffix}"):
        left, middle, right = st.columns(3)
        counts = {}
        for column, name in zip(
            (left, middle, right, left, middle, right, left), COUNT_FIELDS, strict=True
        ):
            counts[name] = column.number_input(
                FIELD_LABELS[name],
                min_value=0,
                step=1,
                value=int(getattr(start, name)),
                key=f"coe_{name}_{suffix}",
            )
        size = middle.number_input(
            FIELD_LABELS["workspace_size_gb"],
            min_value=0.0,
            value=float(start.workspace_size_gb),
            step=1.0,
            key=f"coe_size_{suffix}",
        )
        allowance = right.number_input(
            FIELD_LABELS["workspace_allowance_gb"],
            min_value=0.0,
            value=float(start.workspace_allowance_gb),
            step=10.0,
            key=f"coe_allowance_{suffix}",
        )
        stage = left.selectbox(
            FIELD_LABELS["maturity_stage"],
            list(MATURITY_LABELS),
            index=int(start.maturity_stage),
            format_func=lambda s: f"{s} · {MATURITY_LABELS[s]}",
            key=f"coe_stage_{suffix}",
        )
        alm = middle.checkbox(
            FIELD_LABELS["alm_in_use"], value=bool(start.alm_in_use), key=f"coe_alm_{suffix}"
        )
        hub = right.checkbox(
            FIELD_LABELS["data_hub"], value=bool(start.data_hub), key=f"coe_hub_{suffix}"
        )
        submitted = st.form_submit_button(
            "Correct the snapshot" if found is not None else "Record the snapshot", type="primary"
        )
    if submitted:
        run_command(
            lambda session: coe_commands.record_coe_snapshot(
                session=session,
                actor=Actor.of(user),
                customer_id=customer_id,
                quarter=quarter,
                workspace_size_gb=float(size),
                workspace_allowance_gb=float(allowance),
                alm_in_use=bool(alm),
                data_hub=bool(hub),
                maturity_stage=int(stage),
                now=datetime.now(UTC),
                **{name: int(value) for name, value in counts.items()},
            ),
            f"The CoE benchmark for {quarter.label} is saved.",
        )


def upload_form() -> None:
    st.caption(
        "One row per customer and quarter, with the columns "
        f"{', '.join(coe_commands.CSV_REQUIRED)} (optional: {', '.join(coe_commands.CSV_OPTIONAL)}, checked "
        "against the customer when filled in). Quarters are written like 2026Q3, ALM and data "
        "hub as yes or no. The whole file is checked first: if any row is wrong nothing is "
        "recorded and every problem is listed with its line number."
    )
    csv_download(
        coe_commands.csv_template,  # made when the button is clicked
        file_name="coe-benchmark-example.csv",
        key="coe_template_csv",
        user=user,
        label="Download an example file",
    )
    uploaded = st.file_uploader("CoE snapshots CSV", type=["csv"], key="coe_file")
    if uploaded is not None and st.button("Check and record", type="primary", key="coe_load"):
        content = uploaded.getvalue()
        st.session_state.pop(UPLOAD_RESULT_KEY, None)

        def keep_problems(refused: Exception) -> None:
            errors = getattr(refused, "errors", [])
            st.session_state[UPLOAD_RESULT_KEY] = [(e.line, e.reason) for e in errors]

        run_command(
            lambda session: coe_commands.load_coe_csv(
                session=session, actor=Actor.of(user), source=content, now=datetime.now(UTC)
            ),
            "Every row of the file is recorded.",
            on_refused=keep_problems,
        )
    if problems := st.session_state.get(UPLOAD_RESULT_KEY):
        file_problems(
            problems, user=user, key="coe_upload_errors", file_name="coe-upload-problems.csv"
        )


st.title("CoE benchmark")
show_notice()
scope = Scope.for_user(user)
customers = load_customer_names(scope)
if customers.empty:
    st.info("No customer is in your portfolio.")
    st.stop()
current = customer_picker(customers, key="coe_customer")
customer = chosen_customer(scope, current)
st.subheader(plain_markdown(str(customer["name"])))
st.caption(
    f"{customer['tier_label']} · size band {customer['size_band']} · HyperCare since "
    f"{date_text(customer['hypercare_start'])}"
)
if (refusal := load_not_included(str(customer["tier"]))) is not None:
    st.info(refusal)
    st.stop()

today = datetime.now(UTC)
latest = Quarter.of_instant(today, str(customer["region_timezone"]))
first = Quarter.containing(pd.Timestamp(customer["hypercare_start"]).date())
choices = list(reversed(quarters_between(min(first, latest), latest)))
history = load_history(current)
recorded = [Quarter.parse(code) for code in history["quarter"]]
default = max((q for q in recorded if q in choices), default=latest)
quarter = quarter_picker(choices, default)
comparison = load_comparison(current, quarter)

show_comparison(comparison, quarter)
show_history(history, current)

st.subheader("Record a benchmark")
record_tab, upload_tab = st.tabs(["Record or correct", "Upload a CSV file"])
with record_tab:
    snapshot_form(current, quarter, comparison)
with upload_tab:
    upload_form()
