"""Monitoring: the alert inbox with contact logging, and each model's metrics against their bands."""

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd
import streamlit as st
from sqlmodel import Session

from data_access import alerts, monitor
from data_access.actor import Actor
from data_access.customers import contacts_of
from data_access.scope import Scope
from domain.anomaly import SETTINGS
from domain.dates import CHART_DAY_FORMAT
from domain.monitoring import (
    ALERT_STATE_LABELS,
    CHANNEL_LABELS,
    CONTACT_CHANNELS,
    METRIC_LABELS,
    METRIC_UNITS,
    METRICS,
    OPEN_ALERT_STATES,
    SEVERITY_LABELS,
    metric_label,
)
from ui.auth import read_session, require_access
from ui.commands import run_command, show_notice
from ui.downloads import csv_download
from ui.format import (
    DATE_COLUMN_FORMAT,
    DATE_INPUT_FORMAT,
    DATETIME_COLUMN_FORMAT,
    contact_labels,
    date_text,
    datetime_text,
    plain_markdown,
    to_zone,
    value_text,
)

user = require_access(__file__)

SEVERITY_COLOURS = {"minor": "#F9A825", "major": "#EF6C00", "critical": "#C62828"}
DAY_CHOICES = {30: "30 days", 90: "90 days", 180: "6 months", 365: "1 year"}
BAND_COLOUR = "#90CAF9"
LINE_COLOUR = "#1565C0"
ANOMALY_COLOUR = "#C62828"
FORM_ROUND = "monitoring_contacts_logged"
FIGURES_HELP = "Counted over the alerts the filters above show."


@st.cache_data(ttl=30, show_spinner="Loading alerts…")
def load_inbox(scope: Scope) -> pd.DataFrame:
    with read_session() as session:
        return alerts.alert_inbox(session=session, scope=scope)


@st.cache_data(ttl=30, show_spinner=False)
def load_contact_log(scope: Scope, alert_id: int) -> pd.DataFrame:
    with read_session() as session:
        return alerts.alert_contact_log(session=session, scope=scope, alert_id=alert_id)


@st.cache_data(ttl=60, show_spinner=False)
def load_contacts(customer_id: int) -> pd.DataFrame:
    with read_session() as session:
        return contacts_of(session=session, customer_id=customer_id)


@st.cache_data(ttl=60, show_spinner=False)
def load_models(scope: Scope) -> pd.DataFrame:
    with read_session() as session:
        return alerts.monitored_models(session=session, scope=scope)


@st.cache_data(ttl=60, show_spinner="Scoring the metric…")
def load_series(scope: Scope, model_id: int, metric: str, days: int) -> pd.DataFrame:
    with read_session() as session:
        return alerts.metric_series(
            session=session, scope=scope, model_id=model_id, metric=metric, days=days
        )


@st.cache_data(ttl=60, show_spinner="Scoring the model's metrics…")
def load_bands(scope: Scope, model_id: int, days: int) -> pd.DataFrame:
    with read_session() as session:
        return alerts.model_metric_bands(session=session, scope=scope, model_id=model_id, days=days)


@st.cache_data(ttl=300, show_spinner=False)
def load_explanation(
    model_id: int, metric: str, opened_on: date, value: float, lower: float, upper: float
) -> str:
    with read_session() as session:
        return monitor.alert_explanation(
            session=session,
            model_id=model_id,
            metric=metric,
            opened_on=opened_on,
            value=value,
            lower=lower,
            upper=upper,
        )


def run_and_refresh(command: Callable[[Session], object], success: str) -> None:
    if run_command(command, success):
        st.rerun()


def alert_title(row: pd.Series) -> str:
    return (
        f"#{row['id']} · {row['customer']} · {row['model']} · {row['metric_label']} "
        f"{row['direction_label']} · {date_text(row['opened_on'])}"
    )


def band_text(row: pd.Series) -> str:
    return f"{row['lower']:,.1f} – {row['upper']:,.1f}"


def status_text(row: pd.Series) -> str:
    """The state, with 'back in band since' for open alerts that are recovering."""
    label = ALERT_STATE_LABELS[row["state"]]
    if row["state"] in OPEN_ALERT_STATES and not pd.isna(row["back_in_band_on"]):
        return f"{label} · back in band since {date_text(row['back_in_band_on'])}"
    return label


# --- charts ---------------------------------------------------------------------------------


def metric_layers(unit: str) -> list[alt.Chart]:
    """Band as an area, baseline dashed, metric as a line, anomalies and alert openings marked.

    The layers carry no data: the layer (or facet) around them does.
    """
    base = alt.Chart().encode(x=alt.X("day:T", title=None))
    tooltip = [
        alt.Tooltip("day:T", title="Day", format="%a " + CHART_DAY_FORMAT),
        alt.Tooltip("value:Q", title=f"Value ({unit})", format=",.2f"),
        alt.Tooltip("baseline:Q", title="Baseline", format=",.2f"),
        alt.Tooltip("lower:Q", title="Band from", format=",.2f"),
        alt.Tooltip("upper:Q", title="Band to", format=",.2f"),
        alt.Tooltip("anomalous:N", title="Outside the band"),
    ]
    band = base.mark_area(opacity=0.35, color=BAND_COLOUR).encode(
        y=alt.Y("lower:Q", title=unit), y2="upper:Q"
    )
    baseline = base.mark_line(strokeDash=[4, 3], color="#607D8B", strokeWidth=1).encode(
        y="baseline:Q"
    )
    line = base.mark_line(color=LINE_COLOUR, point=alt.OverlayMarkDef(size=12)).encode(
        y="value:Q", tooltip=tooltip
    )
    anomalies = (
        base.transform_filter(alt.datum.anomalous)
        .mark_point(color=ANOMALY_COLOUR, filled=True, size=60)
        .encode(y="value:Q", tooltip=tooltip)
    )
    openings = (
        base.transform_filter("isValid(datum.alert_id)")
        .mark_rule(color=ANOMALY_COLOUR, strokeWidth=2, strokeDash=[2, 2])
        .encode(
            tooltip=[
                alt.Tooltip("day:T", title="Alert opened", format=CHART_DAY_FORMAT),
                alt.Tooltip("alert_id:Q", title="Alert #"),
                alt.Tooltip("alert_state:N", title="State"),
            ]
        )
    )
    return [band, baseline, line, anomalies, openings]


def metric_chart(frame: pd.DataFrame, metric: str, height: int = 320) -> alt.LayerChart:
    return alt.layer(*metric_layers(METRIC_UNITS[metric]), data=frame).properties(
        height=height, title=metric_label(metric)
    )


def small_multiples(frame: pd.DataFrame) -> alt.FacetChart:
    return (
        alt.layer(*metric_layers(""), data=frame)
        .properties(height=140, width=300)
        .facet(
            facet=alt.Facet(
                "metric_label:N",
                title=None,
                sort=[METRIC_LABELS[m] for m in METRICS],
                header=alt.Header(labelFontWeight="bold", labelFontSize=13),
            ),
            columns=2,
        )
        .resolve_scale(y="independent")
    )


def chart_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Altair wants plain columns: booleans as bools, missing alert ids as missing."""
    shown = frame.copy()
    shown["anomalous"] = shown["anomalous"].astype(bool)
    shown["incident_opens"] = shown["incident_opens"].astype(bool)
    return shown


# --- the page -------------------------------------------------------------------------------

scope = Scope.for_user(user)
st.title("Monitoring")
st.caption(
    "Daily model metrics against thresholds learnt from each model's own history. Durations "
    "alert when too high, activity when too low; one alert is open at most per model, metric "
    "and direction, and it closes itself after "
    f"{SETTINGS.close_after} days back in band."
)
show_notice()

inbox_tab, charts_tab = st.tabs(["Alert inbox", "Model charts"])

with inbox_tab:
    inbox = load_inbox(scope)
    if inbox.empty:
        st.info(
            "No monitoring alerts yet. Alerts appear here when the daily job finds a model's "
            "metric outside its band."
        )
    else:
        filters = st.columns([3, 2, 3], vertical_alignment="bottom")
        customer_names = sorted(inbox["customer"].unique())
        chosen_customers = filters[0].multiselect(
            "Customer", customer_names, placeholder="All customers", key="inbox_customers"
        )
        chosen_severities = filters[1].multiselect(
            "Severity",
            list(SEVERITY_LABELS),
            format_func=SEVERITY_LABELS.get,
            placeholder="All severities",
            key="inbox_severity",
        )
        chosen_states = filters[2].multiselect(
            "State",
            list(ALERT_STATE_LABELS),
            default=list(OPEN_ALERT_STATES),
            format_func=ALERT_STATE_LABELS.get,
            placeholder="All states",
            key="inbox_states",
        )
        shown = inbox
        if chosen_customers:
            shown = shown[shown["customer"].isin(chosen_customers)]
        if chosen_severities:
            shown = shown[shown["severity"].isin(chosen_severities)]
        if chosen_states:
            shown = shown[shown["state"].isin(chosen_states)]

        open_alerts = shown[shown["is_open"]]
        counts = st.columns(4)
        counts[0].metric("Open alerts", len(open_alerts), help=FIGURES_HELP)
        counts[1].metric(
            "Not yet contacted", int((open_alerts["state"] == "new").sum()), help=FIGURES_HELP
        )
        counts[2].metric(
            "Critical open", int((open_alerts["severity"] == "critical").sum()), help=FIGURES_HELP
        )
        counts[3].metric(
            "Closed without a contact",
            int(((~shown["is_open"]) & (shown["contacts"] == 0)).sum()),
            help="Alerts the job closed (back in band) or a CSM closed before anyone "
            "contacted the customer. " + FIGURES_HELP,
        )

        if shown.empty:
            st.info("No alert matches these filters.")
        else:
            table = shown.assign(
                severity_label=shown["severity"].map(SEVERITY_LABELS),
                band=shown.apply(band_text, axis=1),
                status=shown.apply(status_text, axis=1),
                opened_local=to_zone(shown["opened_at"], user.timezone),
                contact_name=shown["contact_name"].map(value_text),
                channel_label=shown["channel_label"].map(value_text),
                csm=shown["csm"].map(value_text),
            )
            st.dataframe(
                table,
                hide_index=True,
                key="inbox_table",
                column_order=[
                    "id",
                    "severity_label",
                    "customer",
                    "model",
                    "metric_label",
                    "direction_label",
                    "opened_on",
                    "value",
                    "baseline",
                    "band",
                    "deviation",
                    "status",
                    "contact_name",
                    "channel_label",
                    "contacts",
                    "csm",
                ],
                column_config={
                    "id": st.column_config.NumberColumn("Alert", format="#%d"),
                    "severity_label": "Severity",
                    "customer": "Customer",
                    "model": "Model",
                    "metric_label": "Metric",
                    "direction_label": "Direction",
                    "opened_on": st.column_config.DateColumn("Day", format=DATE_COLUMN_FORMAT),
                    "value": st.column_config.NumberColumn("Value", format="%.1f"),
                    "baseline": st.column_config.NumberColumn("Baseline", format="%.1f"),
                    "band": "Band",
                    "deviation": st.column_config.ProgressColumn(
                        "Deviation",
                        help="Distance outside the band, in band half-widths "
                        "(0.5 and up: major; 2 and up: critical).",
                        format="%.2f",
                        min_value=0.0,
                        max_value=max(3.0, float(shown["deviation"].clip(upper=10).max())),
                    ),
                    "status": "State",
                    "contact_name": "Contact",
                    "channel_label": "Channel",
                    "contacts": st.column_config.NumberColumn("Contacts logged"),
                    "csm": "CSM",
                },
            )
            csv_download(
                table.drop(columns=["opened_local", "is_open"]).assign(
                    opened_at=table["opened_local"].astype(str)
                ),
                file_name="monitoring-alerts.csv",
                key="alerts_csv",
                user=user,
                label="Download alerts (CSV)",
            )

            titles = {int(row["id"]): alert_title(row) for _, row in shown.iterrows()}
            wanted = st.query_params.get("alert")
            ids = list(titles)
            start = (
                ids.index(int(wanted)) if wanted and wanted.isdigit() and int(wanted) in ids else 0
            )
            alert_id = st.selectbox(
                "Alert", ids, index=start, format_func=titles.get, key="alert_picker"
            )
            alert = shown[shown["id"] == alert_id].iloc[0]
            with st.container(border=True):
                st.subheader(f"{alert['metric_label']} {alert['direction_label']}")
                st.caption(
                    f"{alert['customer']} · {alert['workspace']} · {alert['model']} · "
                    f"opened {datetime_text(alert['opened_at'], user.timezone)} "
                    f"({user.timezone}) for {date_text(alert['opened_on'])}"
                )
                facts = st.columns(4)
                facts[0].metric(
                    "Value",
                    f"{alert['value']:,.1f}",
                    f"{alert['value'] - alert['baseline']:+,.1f} from baseline",
                    delta_color="inverse" if alert["direction"] == "above" else "normal",
                )
                facts[1].metric("Band", band_text(alert))
                facts[2].metric("Severity", SEVERITY_LABELS[alert["severity"]])
                facts[3].metric("State", status_text(alert))
                st.markdown(
                    plain_markdown(
                        load_explanation(
                            int(alert["model_id"]),
                            str(alert["metric"]),
                            pd.Timestamp(alert["opened_on"]).date(),
                            float(alert["value"]),
                            float(alert["lower"]),
                            float(alert["upper"]),
                        )
                    )
                )
                contact_parts = [
                    str(alert[c])
                    for c in ("contact_email", "contact_phone", "contact_chat")
                    if not pd.isna(alert[c])
                ]
                if pd.isna(alert["contact_name"]):
                    st.warning("This customer has no contact on record; add one on the Admin page.")
                else:
                    st.markdown(
                        f"**Contact:** {plain_markdown(str(alert['contact_name']))} — prefers "
                        f"{CHANNEL_LABELS.get(alert['channel'], alert['channel'])}"
                        + (
                            f" ({plain_markdown(', '.join(contact_parts))})"
                            if contact_parts
                            else ""
                        )
                    )
                if not pd.isna(alert["close_reason"]):
                    st.markdown(
                        f"**Closed** {datetime_text(alert['closed_at'], user.timezone)}: "
                        f"{plain_markdown(str(alert['close_reason']))}"
                    )
                recent = load_series(scope, int(alert["model_id"]), alert["metric"], 60)
                if not recent.empty and recent["value"].notna().any():
                    st.altair_chart(
                        metric_chart(chart_frame(recent), alert["metric"], height=220),
                        width="stretch",
                    )
                log = load_contact_log(scope, alert_id)
                if log.empty:
                    st.caption("No contact logged yet.")
                else:
                    st.dataframe(
                        log.assign(at_local=to_zone(log["at"], user.timezone)),
                        hide_index=True,
                        key="contact_log",
                        column_order=["at_local", "channel_label", "contact_name", "by", "outcome"],
                        column_config={
                            "at_local": st.column_config.DatetimeColumn(
                                f"When ({user.timezone})", format=DATETIME_COLUMN_FORMAT
                            ),
                            "channel_label": "Channel",
                            "contact_name": "Contact",
                            "by": "Logged by",
                            "outcome": st.column_config.TextColumn("Outcome", width="large"),
                        },
                    )

                contacts = load_contacts(int(alert["customer_id"]))
                zone = ZoneInfo(user.timezone)
                now_local = datetime.now(zone)
                # Every widget below is keyed by the alert (and by how many contacts were logged
                # in this session), so picking another alert shows that alert's customer, and a
                # logged contact leaves an empty form. A refused one keeps what was typed.
                form_key = f"{alert_id}_{st.session_state.get(FORM_ROUND, 0)}"
                left, right = st.columns(2)
                with left:
                    with st.form(f"record_contact_{form_key}"):
                        st.markdown("**Record a contact**")
                        names = contact_labels(contacts)
                        people = {
                            int(r.id): f"{names[int(r.id)]} ({CHANNEL_LABELS[r.preferred_channel]})"
                            for r in contacts.itertuples()
                        }
                        options = [*people, 0]
                        default_person = (
                            options.index(int(alert["contact_id"]))
                            if not pd.isna(alert["contact_id"])
                            and int(alert["contact_id"]) in people
                            else 0
                        )
                        person = st.selectbox(
                            "Who",
                            options,
                            index=default_person,
                            format_func=lambda i: people.get(i, "Someone else (name below)"),
                            key=f"contact_person_{form_key}",
                        )
                        other_name = st.text_input(
                            "Name, if someone else", key=f"contact_other_{form_key}"
                        )
                        preferred = (
                            alert["channel"] if alert["channel"] in CONTACT_CHANNELS else "email"
                        )
                        channel = st.selectbox(
                            "Channel",
                            list(CONTACT_CHANNELS),
                            index=list(CONTACT_CHANNELS).index(preferred),
                            format_func=CHANNEL_LABELS.get,
                            key=f"contact_channel_{form_key}",
                        )
                        when = st.columns(2)
                        on_day = when[0].date_input(
                            f"Day ({user.timezone})",
                            value=now_local.date(),
                            max_value=now_local.date(),
                            key=f"contact_day_{form_key}",
                            format=DATE_INPUT_FORMAT,
                        )
                        at_time = when[1].time_input(
                            "Time",
                            value=now_local.time().replace(second=0, microsecond=0),
                            key=f"contact_time_{form_key}",
                        )
                        outcome = st.text_area(
                            "Outcome",
                            placeholder="What the customer said and what happens next.",
                            key=f"contact_outcome_{form_key}",
                        )
                        contacted = st.form_submit_button("Log the contact", type="primary")
                    if contacted:
                        moment = datetime.combine(on_day, at_time, tzinfo=zone).astimezone(UTC)
                        logged = run_command(
                            lambda session: alerts.record_contact(
                                session=session,
                                actor=Actor.of(user),
                                alert_id=int(alert_id),
                                channel=channel,
                                contact_id=person or None,
                                contact_name=other_name,
                                at=moment,
                                outcome=outcome,
                            ),
                            "The contact is logged.",
                        )
                        if logged:
                            st.session_state[FORM_ROUND] = st.session_state.get(FORM_ROUND, 0) + 1
                            st.rerun()
                if alert["state"] in OPEN_ALERT_STATES:
                    with right:
                        with st.form(f"close_alert_{form_key}"):
                            st.markdown("**Close the alert**")
                            closing = st.radio(
                                "As",
                                ["resolved", "dismissed"],
                                format_func=ALERT_STATE_LABELS.get,
                                horizontal=True,
                                key=f"close_state_{form_key}",
                            )
                            reason = st.text_area(
                                "Reason",
                                placeholder="Resolved: what fixed it. "
                                "Dismissed: why it needs no action.",
                                key=f"close_reason_{form_key}",
                            )
                            closed = st.form_submit_button("Close the alert")
                        if closed:
                            run_and_refresh(
                                lambda session: alerts.close_alert(
                                    session=session,
                                    actor=Actor.of(user),
                                    alert_id=int(alert_id),
                                    state=closing,
                                    reason=reason,
                                ),
                                f"The alert is {closing}.",
                            )

with charts_tab:
    models = load_models(scope)
    if models.empty:
        st.info("No production model in your portfolio is enrolled in monitoring.")
    else:
        labels = {
            int(row.id): f"{row.customer} · {row.workspace} · {row.name}"
            + (f" ({row.open_alerts} open)" if row.open_alerts else "")
            for row in models.itertuples()
        }
        pickers = st.columns([4, 3, 2], vertical_alignment="bottom")
        model_id = pickers[0].selectbox(
            "Model", list(labels), format_func=labels.get, key="chart_model"
        )
        metric = pickers[1].selectbox(
            "Metric", list(METRICS), format_func=metric_label, key="chart_metric"
        )
        days = pickers[2].selectbox(
            "Period", list(DAY_CHOICES), index=1, format_func=DAY_CHOICES.get, key="chart_days"
        )
        series = load_series(scope, model_id, metric, days)
        if series.empty or series["value"].isna().all():
            st.info("No metrics are stored for this model in that period.")
        else:
            st.altair_chart(metric_chart(chart_frame(series), metric), width="stretch")
            st.caption(
                "Blue area: the band learnt from the model's past; dashed: its baseline; red "
                "points: outside the band on the watched side; red rules: alerts opened."
            )
            st.subheader("All seven metrics")
            bands = load_bands(scope, model_id, days)
            st.altair_chart(small_multiples(chart_frame(bands)), width="stretch")
            csv_download(
                bands,
                file_name=f"model-{model_id}-metrics.csv",
                key="model_metrics_csv",
                user=user,
                label="Download the model's metrics (CSV)",
            )
