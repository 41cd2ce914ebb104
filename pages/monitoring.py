"""Monitoring: the alert inbox with contact logging, and each model's metrics against their bands."""

from collections.abc import Mapping
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from data_access import alerts, monitor
from data_access.actor import Actor
from data_access.scope import Scope
from domain.anomaly import SETTINGS
from domain.contacts import CHANNEL_LABELS, CONTACT_CHANNELS
from domain.monitoring import (
    ALERT_STATE_LABELS,
    METRICS,
    OPEN_ALERT_STATES,
    SEVERITY_LABELS,
    metric_label,
    severity_levels_text,
)
from reports.monitoring_charts import chart_frame, metric_chart, small_multiples
from ui.auth import read_session, require_access
from ui.charts import show_chart
from ui.commands import run_command, show_notice
from ui.customers import load_contacts
from ui.downloads import csv_download
from ui.format import (
    DATE_COLUMN_FORMAT,
    DATE_INPUT_FORMAT,
    contact_labels,
    date_text,
    datetime_text,
    plain_markdown,
    to_zone,
    value_text,
)
from ui.tables import local_time_column

user = require_access(__file__)

DAY_CHOICES = {30: "30 days", 90: "90 days", 180: "6 months", 365: "1 year"}
FORM_ROUND = "monitoring_contacts_logged"
FIGURES_HELP = "Counted over the alerts the filters above show."
CHART_CHOICE = "monitoring_chart_choice"


@st.cache_data(ttl=30, show_spinner="Loading alerts…")
def load_inbox(scope: Scope, states: tuple[str, ...]) -> pd.DataFrame:
    """The alerts in `states` (every state when empty): open ones unless the viewer asks for more."""
    with read_session() as session:
        return alerts.alert_inbox(session=session, scope=scope, state=states or None)


@st.cache_data(ttl=30, show_spinner=False)
def load_contact_log(scope: Scope, alert_id: int) -> pd.DataFrame:
    with read_session() as session:
        return alerts.alert_contact_log(session=session, scope=scope, alert_id=alert_id)


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


def alert_title(row: Mapping) -> str:
    return (
        f"#{row['id']} · {row['customer']} · {row['model']} · {row['metric_label']} "
        f"{row['direction_label']} · {date_text(row['opened_on'])}"
    )


def band_text(row: Mapping) -> str:
    return f"{row['lower']:,.1f} – {row['upper']:,.1f}"


def status_text(row: Mapping) -> str:
    """The state, with 'back in band since' for open alerts that are recovering."""
    label = ALERT_STATE_LABELS[row["state"]]
    if row["state"] in OPEN_ALERT_STATES and not pd.isna(row["back_in_band_on"]):
        return f"{label} · back in band since {date_text(row['back_in_band_on'])}"
    return label


INBOX_COLUMNS = {
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
    "deviation": None,  # a progress column scaled to the alerts shown (`alerts_table`)
    "status": "State",
    "contact_name": "Contact",
    "channel_label": "Channel",
    "contacts": st.column_config.NumberColumn("Contacts logged"),
    "csm": "CSM",
}


# --- the alert inbox, top to bottom ------------------------------------------------------------


def state_filter(column) -> list[str]:
    """The states to read (open ones by default; none chosen means every state)."""
    return column.multiselect(
        "State",
        list(ALERT_STATE_LABELS),
        default=list(OPEN_ALERT_STATES),
        format_func=ALERT_STATE_LABELS.get,
        placeholder="All states",
        key="inbox_states",
    )


def inbox_filters(inbox: pd.DataFrame, filters) -> pd.DataFrame:
    """Customer and severity pickers beside the state picker; the alerts they leave."""
    chosen_customers = filters[0].multiselect(
        "Customer",
        sorted(inbox["customer"].unique()),
        placeholder="All customers",
        key="inbox_customers",
    )
    chosen_severities = filters[1].multiselect(
        "Severity",
        list(SEVERITY_LABELS),
        format_func=SEVERITY_LABELS.get,
        placeholder="All severities",
        key="inbox_severity",
    )
    shown = inbox
    for column, chosen in (
        ("customer", chosen_customers),
        ("severity", chosen_severities),
    ):
        if chosen:
            shown = shown[shown[column].isin(chosen)]
    return shown


def inbox_figures(shown: pd.DataFrame) -> None:
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


def alerts_table(shown: pd.DataFrame) -> None:
    """The alerts as a table, with their download (opening times in the viewer's zone)."""
    table = shown.assign(
        severity_label=shown["severity"].map(SEVERITY_LABELS),
        band=[band_text(row) for row in shown[["lower", "upper"]].to_dict("records")],
        status=[status_text(row) for row in shown[["state", "back_in_band_on"]].to_dict("records")],
        opened_local=to_zone(shown["opened_at"], user.timezone),
        contact_name=shown["contact_name"].map(value_text),
        channel_label=shown["channel_label"].map(value_text),
        csm=shown["csm"].map(value_text),
    )
    st.dataframe(
        table,
        hide_index=True,
        key="inbox_table",
        column_order=list(INBOX_COLUMNS),
        column_config=INBOX_COLUMNS
        | {
            "deviation": st.column_config.ProgressColumn(
                "Deviation",
                help=f"Distance outside the band, in band half-widths ({severity_levels_text()}).",
                format="%.2f",
                min_value=0.0,
                max_value=max(3.0, float(shown["deviation"].clip(upper=10).max())),
            )
        },
    )
    csv_download(
        lambda: table.drop(columns=["opened_local", "is_open"]).assign(
            opened_at=table["opened_local"].astype(str)
        ),
        file_name="monitoring-alerts.csv",
        key="alerts_csv",
        user=user,
        label="Download alerts (CSV)",
    )


def chosen_alert(shown: pd.DataFrame) -> pd.Series:
    """The alert picked below the table; the one named in the URL (`?alert=ID`) first."""
    columns = ["id", "customer", "model", "metric_label", "direction_label", "opened_on"]
    titles = {int(row["id"]): alert_title(row) for row in shown[columns].to_dict("records")}
    wanted = st.query_params.get("alert")
    ids = list(titles)
    start = ids.index(int(wanted)) if wanted and wanted.isdigit() and int(wanted) in ids else 0
    alert_id = st.selectbox("Alert", ids, index=start, format_func=titles.get, key="alert_picker")
    return shown[shown["id"] == alert_id].iloc[0]


def alert_summary(alert: pd.Series) -> None:
    """What was seen, why it alerted, whom to contact, and the metric's last 60 days."""
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
    if pd.isna(alert["contact_name"]):
        st.warning("This customer has no contact on record; add one on the Admin page.")
    else:
        st.markdown(alert_contact_text(alert))
    if not pd.isna(alert["close_reason"]):
        st.markdown(
            f"**Closed** {datetime_text(alert['closed_at'], user.timezone)}: "
            f"{plain_markdown(str(alert['close_reason']))}"
        )
    recent = load_series(scope, int(alert["model_id"]), alert["metric"], 60)
    if not recent.empty and recent["value"].notna().any():
        show_chart(metric_chart, chart_frame(recent), alert["metric"], 220)


def alert_contact_text(alert: pd.Series) -> str:
    """'**Contact:** Dana — prefers E-mail (dana@…, +44 …)', the name and details literal."""
    details = [
        str(alert[column])
        for column in ("contact_email", "contact_phone", "contact_chat")
        if not pd.isna(alert[column])
    ]
    return (
        f"**Contact:** {plain_markdown(str(alert['contact_name']))} — prefers "
        f"{CHANNEL_LABELS.get(alert['channel'], alert['channel'])}"
        + (f" ({plain_markdown(', '.join(details))})" if details else "")
    )


def contact_log(alert_id: int) -> None:
    log = load_contact_log(scope, alert_id)
    if log.empty:
        st.caption("No contact logged yet.")
        return
    st.dataframe(
        log.assign(at_local=to_zone(log["at"], user.timezone)),
        hide_index=True,
        key="contact_log",
        column_order=["at_local", "channel_label", "contact_name", "by", "outcome"],
        column_config={
            "at_local": local_time_column(user.timezone),
            "channel_label": "Channel",
            "contact_name": "Contact",
            "by": "Logged by",
            "outcome": st.column_config.TextColumn("Outcome", width="large"),
        },
    )


def alert_form_key(alert_id: int) -> str:
    """Every form widget is keyed by the alert (and by how many contacts were logged in this
    session), so picking another alert shows that alert's customer, and a logged contact leaves
    an empty form. A refused one keeps what was typed."""
    return f"{alert_id}_{st.session_state.get(FORM_ROUND, 0)}"


def next_form_round(_logged: object) -> None:
    st.session_state[FORM_ROUND] = st.session_state.get(FORM_ROUND, 0) + 1


def record_contact_form(alert: pd.Series) -> None:
    """Who was contacted (the customer's contacts, or someone named), how, when and the outcome."""
    alert_id = int(alert["id"])
    form_key = alert_form_key(alert_id)
    contacts = load_contacts(int(alert["customer_id"]))
    zone = ZoneInfo(user.timezone)
    now_local = datetime.now(zone)
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
            if not pd.isna(alert["contact_id"]) and int(alert["contact_id"]) in people
            else 0
        )
        person = st.selectbox(
            "Who",
            options,
            index=default_person,
            format_func=lambda i: people.get(i, "Someone else (name below)"),
            key=f"contact_person_{form_key}",
        )
        other_name = st.text_input("Name, if someone else", key=f"contact_other_{form_key}")
        preferred = alert["channel"] if alert["channel"] in CONTACT_CHANNELS else "email"
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
        run_command(
            lambda session: alerts.record_contact(
                session=session,
                actor=Actor.of(user),
                alert_id=alert_id,
                channel=channel,
                contact_id=person or None,
                contact_name=other_name,
                at=moment,
                outcome=outcome,
            ),
            "The contact is logged.",
            on_success=next_form_round,
        )


def close_alert_form(alert: pd.Series) -> None:
    alert_id = int(alert["id"])
    form_key = alert_form_key(alert_id)
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
            placeholder="Resolved: what fixed it. Dismissed: why it needs no action.",
            key=f"close_reason_{form_key}",
        )
        closed = st.form_submit_button("Close the alert")
    if closed:
        run_command(
            lambda session: alerts.close_alert(
                session=session,
                actor=Actor.of(user),
                alert_id=alert_id,
                state=closing,
                reason=reason,
            ),
            f"The alert is {closing}.",
        )


def alert_inbox() -> None:
    filters = st.columns([3, 2, 3], vertical_alignment="bottom")
    states = state_filter(filters[2])
    inbox = load_inbox(scope, tuple(states))
    if inbox.empty:
        st.info(
            "No monitoring alerts in these states. Alerts appear here when the daily job finds "
            "a model's metric outside its band."
        )
        return
    shown = inbox_filters(inbox, filters)
    inbox_figures(shown)
    if shown.empty:
        st.info("No alert matches these filters.")
        return
    alerts_table(shown)
    alert = chosen_alert(shown)
    with st.container(border=True):
        alert_summary(alert)
        contact_log(int(alert["id"]))
        left, right = st.columns(2)
        with left:
            record_contact_form(alert)
        if alert["state"] in OPEN_ALERT_STATES:
            with right:
                close_alert_form(alert)


# --- the model charts --------------------------------------------------------------------------


def position(options: list, value: object, default: int = 0) -> int:
    return options.index(value) if value in options else default


def model_charts() -> None:
    models = load_models(scope)
    if models.empty:
        st.info("No production model in your portfolio is enrolled in monitoring.")
        return
    labels = {
        int(row.id): f"{row.customer} · {row.workspace} · {row.name}"
        + (f" ({row.open_alerts} open)" if row.open_alerts else "")
        for row in models.itertuples()
    }
    # The tab's pickers are not drawn while the inbox is open, so Streamlit forgets them; the
    # last choice is kept here and shown again when the tab is opened again.
    kept = st.session_state.get(CHART_CHOICE, {})
    pickers = st.columns([4, 3, 2], vertical_alignment="bottom")
    model_id = pickers[0].selectbox(
        "Model",
        list(labels),
        index=position(list(labels), kept.get("model")),
        format_func=labels.get,
        key="chart_model",
    )
    metric = pickers[1].selectbox(
        "Metric",
        list(METRICS),
        index=position(list(METRICS), kept.get("metric")),
        format_func=metric_label,
        key="chart_metric",
    )
    days = pickers[2].selectbox(
        "Period",
        list(DAY_CHOICES),
        index=position(list(DAY_CHOICES), kept.get("days"), default=1),
        format_func=DAY_CHOICES.get,
        key="chart_days",
    )
    st.session_state[CHART_CHOICE] = {"model": model_id, "metric": metric, "days": days}
    series = load_series(scope, model_id, metric, days)
    if series.empty or series["value"].isna().all():
        st.info("No metrics are stored for this model in that period.")
        return
    show_chart(metric_chart, chart_frame(series), metric)
    st.caption(
        "Blue area: the band learnt from the model's past; dashed: its baseline; red "
        "points: outside the band on the watched side; red rules: alerts opened. The band of a "
        "day the daily job scored is the one it judged that day by; days before monitoring "
        "began show a recomputed band (the tooltip says which)."
    )
    st.subheader("All seven metrics")
    bands = load_bands(scope, model_id, days)
    show_chart(small_multiples, chart_frame(bands))
    csv_download(
        bands,
        file_name=f"model-{model_id}-metrics.csv",
        key="model_metrics_csv",
        user=user,
        label="Download the model's metrics (CSV)",
    )


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

# The charts tab runs only while it is open (a switch reruns the page): its two Altair charts
# were more than half of this page's time when every run drew them (bench/README.md, load
# section). The inbox is drawn either way, so a contact half typed there survives a look at
# the charts. The open tab is in the URL (`?tab=Model+charts` links to the charts).
inbox_tab, charts_tab = st.tabs(["Alert inbox", "Model charts"], key="tab", bind="query-params")
with inbox_tab:
    alert_inbox()
if charts_tab.open:
    with charts_tab:
        model_charts()
