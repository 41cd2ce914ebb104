"""The QBR's programme sections: entitlements used this subscription year (ledger balances,
optimisation requests) and monitoring (alerts raised, contacted and resolved)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from data_access.entitlement_ledger import entitlement_balances, ledger_entries
from data_access.models import Alert, AlertContactLog, Customer, PlanningModel
from data_access.optimisation_requests import optimisation_requests
from data_access.policies import tier_labels
from data_access.qbr_common import (
    SECTION_TITLES,
    Period,
    between,
    count_figure,
    customer_scope,
    rounded,
)
from domain.dates import day_text
from domain.durations import duration_text
from domain.entitlements import (
    CAP_KINDS,
    OPEN_REQUEST_STATES,
    PER_YEAR_KINDS,
    RequestState,
    balance,
    sentence_case,
    subscription_year,
)
from domain.monitoring import METRIC_LABELS, OPEN_ALERT_STATES, SEVERITY_LEVELS, deviation, severity
from domain.monitoring import SEVERITY_LABELS as ALERT_SEVERITY_LABELS
from domain.qbr import Chart, Figure, Section, Table, change_text
from domain.quarters import Quarter

# --- 4. Entitlements ---------------------------------------------------------------------------


def entitlements_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """What the subscription year has used by the quarter's end (today for a running quarter):
    optimisations delivered in the quarter and open now, models monitored against the cap,
    surveys, CoE benchmarks and QBR inputs against their allowances.

    Allowances are used by the ledger lines written before the quarter's end (now for a running
    quarter), so a past quarter's QBR does not count later use. The change against the previous
    quarter is shown only within one subscription year (a new year starts its counts again).
    Caps count the models enrolled today.
    """
    period = Period.of(session, customer, quarter, now)
    balances = entitlement_balances(session=session, customer_id=customer.id, on=period.last_day)
    year_start = subscription_year(customer.hypercare_start, period.last_day)[0]
    earlier_in_year = (
        period.previous_reviewable
        and subscription_year(customer.hypercare_start, period.previous_last_day)[0] == year_start
    )
    requests = optimisation_requests(
        session=session, scope=customer_scope(customer), customer_id=customer.id
    )
    delivered = between(requests["delivered_at"], period.start, period.end)
    delivered_before = between(requests["delivered_at"], period.previous_start, period.start)
    open_now = requests["state"].isin({state.value for state in OPEN_REQUEST_STATES})
    shown = balances[
        balances["kind"].isin({*PER_YEAR_KINDS, *CAP_KINDS})
        & ((balances["allowance"] > 0) | (balances["used"] > 0))
    ]
    if shown.empty and not delivered.any() and not open_now.any():
        label = tier_labels(session=session).get(customer.tier, customer.tier)
        return Section(
            key="entitlements",
            title=SECTION_TITLES["entitlements"],
            empty=f"{label} includes no HyperCare entitlements to count.",
        )
    figures = [
        count_figure(
            "Optimisations delivered",
            int(delivered.sum()),
            int(delivered_before.sum()) if period.previous_reviewable else None,
            help="Model optimisations delivered in the quarter.",
        ),
        Figure(
            label="Optimisations open",
            text=f"{int(open_now.sum()):,}",
            value=int(open_now.sum()),
            help="Requested, accepted or in progress now.",
        ),
    ]
    ledger = ledger_entries(
        session=session, customer_ids=[customer.id], before=period.snapshot
    ).get(customer.id, [])
    year = subscription_year(customer.hypercare_start, period.last_day)
    for row in shown.itertuples(index=False):
        if row.kind in CAP_KINDS:
            figures.append(
                Figure(
                    label=sentence_case(row.label),
                    text=f"{int(row.used):,} of {int(row.allowance):,} enrolled",
                    value=int(row.used),
                    help=f"The tier's cap; {int(row.remaining):,} more can be enrolled. "
                    "Counted today.",
                )
            )
            continue
        used = balance(allowance=int(row.allowance), entries=ledger, year=year, kind=row.kind)
        used_before = (
            balance(
                allowance=int(row.allowance),
                entries=[entry for entry in ledger if entry.at < period.previous_end],
                year=year,
                kind=row.kind,
            ).net_used
            if earlier_in_year
            else None
        )
        figures.append(
            Figure(
                label=sentence_case(row.label),
                text=f"{used.net_used:,} of {int(row.allowance):,} used",
                change=change_text(used.net_used, used_before),
                value=used.net_used,
                previous=used_before,
                help=f"{used.remaining:,} left until {day_text(row.renews_on)}.",
            )
        )
    listed = requests[delivered | open_now]
    tables = ()
    if not listed.empty:
        zone = ZoneInfo(period.timezone)
        tables = (
            Table(
                title="Optimisation requests delivered in the quarter or open",
                frame=pd.DataFrame(
                    {
                        "Model": listed["model"].fillna("—").to_numpy(),
                        "Requested by": listed["requested_by"].to_numpy(),
                        "Requested": [
                            day_text(t.astimezone(zone).date()) for t in listed["requested_at"]
                        ],
                        "Target": [day_text(d) for d in listed["target_date"]],
                        "State": [_request_state(s) for s in listed["state"]],
                        "Delivered": [
                            "—" if pd.isna(t) else day_text(t.astimezone(zone).date())
                            for t in listed["delivered_at"]
                        ],
                    }
                ),
            ),
        )
    renews_on = subscription_year(customer.hypercare_start, period.last_day)[1]
    return Section(
        key="entitlements",
        title=SECTION_TITLES["entitlements"],
        figures=tuple(figures),
        tables=tables,
        notes=(
            f"Counted in the subscription year {day_text(year_start)} – "
            f"{day_text(renews_on - timedelta(days=1))}, as of {day_text(period.last_day)}.",
        ),
    )


def _request_state(state: str) -> str:
    return sentence_case(RequestState(state).value.replace("_", " "))


# --- 5. Monitoring -----------------------------------------------------------------------------


def monitoring_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """Alerts opened in the quarter by metric and severity, the median time from an alert to the
    first logged customer contact, and the alerts open now (at the quarter's end for a past one).
    """
    period = Period.of(session, customer, quarter, now)
    alerts = _alerts(session, customer.id, period.previous_start, period.end)
    in_quarter = alerts[between(alerts["opened_at"], period.start, period.end)]
    in_previous = alerts[between(alerts["opened_at"], period.previous_start, period.start)]
    open_at = _open_alerts_at(session, customer.id, period.snapshot)
    if in_quarter.empty and open_at == 0:
        monitored = session.exec(
            select(func.count()).where(
                PlanningModel.customer_id == customer.id, PlanningModel.in_monitoring
            )
        ).one()
        return Section(
            key="monitoring",
            title=SECTION_TITLES["monitoring"],
            empty=f"No monitoring alerts in {quarter.label}."
            if monitored
            else "No models are in daily monitoring.",
        )
    compare = period.previous_reviewable
    contact = _median_hours(in_quarter)
    contact_before = _median_hours(in_previous) if compare else None
    open_before = _open_alerts_at(session, customer.id, period.previous_end) if compare else None
    figures = (
        count_figure("Alerts opened", len(in_quarter), len(in_previous) if compare else None),
        Figure(
            label="Median time to customer contact",
            text="—" if contact is None else duration_text(contact * 60),
            change=change_text(rounded(contact), rounded(contact_before), unit=" h"),
            value=contact,
            previous=contact_before,
            help="From the alert opening to the first contact logged with the customer, over "
            "the quarter's alerts with a contact.",
        ),
        Figure(
            label="Open alerts now" if period.to_date else "Open alerts at quarter end",
            text=f"{open_at:,}",
            change=change_text(open_at, open_before),
            value=open_at,
            previous=open_before,
        ),
    )
    by_metric = _alerts_by_metric(in_quarter)
    table = by_metric.pivot_table(
        index="metric", columns="severity", values="alerts", aggfunc="sum", fill_value=0
    )
    severity_columns = [ALERT_SEVERITY_LABELS[name] for name, _ in SEVERITY_LEVELS]
    table = table.reindex(columns=severity_columns, fill_value=0)
    table["Total"] = table.sum(axis=1)
    table = table[table["Total"] > 0].reset_index().rename(columns={"metric": "Metric"})
    tables = (
        (Table(title="Alerts opened by metric and severity", frame=table),) if len(table) else ()
    )
    charts = (
        (Chart(kind="alerts_by_metric", title="Alerts opened by metric", data=by_metric),)
        if by_metric["alerts"].sum()
        else ()
    )
    return Section(
        key="monitoring",
        title=SECTION_TITLES["monitoring"],
        figures=figures,
        tables=tables,
        charts=charts,
    )


def _alerts(session: Session, customer_id: int, start: datetime, end: datetime) -> pd.DataFrame:
    """The customer's alerts opened in [start, end), each with its first contact: read by
    `ix_alert_customer_opened`, and the contact log only for those alerts."""
    first_contact = (
        select(func.min(AlertContactLog.at))
        .where(AlertContactLog.alert_id == Alert.id)
        .scalar_subquery()
    )
    frame = pd.read_sql(
        select(
            Alert.id,
            Alert.metric,
            Alert.direction,
            Alert.value,
            Alert.baseline,
            Alert.lower,
            Alert.upper,
            Alert.opened_at,
            first_contact.label("contacted_at"),
        ).where(Alert.customer_id == customer_id, Alert.opened_at >= start, Alert.opened_at < end),
        session.connection(),
    )
    for column in ("opened_at", "contacted_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["severity"] = [
        severity(deviation(row.value, row.baseline, row.lower, row.upper, row.direction))
        for row in frame.itertuples(index=False)
    ]
    return frame


def _open_alerts_at(session: Session, customer_id: int, moment: datetime) -> int:
    """Alerts opened before `moment` and not closed by then."""
    return session.exec(
        select(func.count()).where(
            Alert.customer_id == customer_id,
            Alert.opened_at < moment,
            or_(
                and_(Alert.closed_at.is_(None), Alert.state.in_(OPEN_ALERT_STATES)),
                Alert.closed_at >= moment,
            ),
        )
    ).one()


def _median_hours(alerts: pd.DataFrame) -> float | None:
    waits = (alerts["contacted_at"] - alerts["opened_at"]).dropna().dt.total_seconds()
    return float(np.median(waits)) / 3600 if len(waits) else None


def _alerts_by_metric(alerts: pd.DataFrame) -> pd.DataFrame:
    """Every metric and severity with its count of alerts (zeros included, for the chart)."""
    counts = alerts.groupby(["metric", "severity"]).size()
    rows = [
        {
            "metric": METRIC_LABELS[metric],
            "severity": ALERT_SEVERITY_LABELS[level],
            "alerts": int(counts.get((metric, level), 0)),
        }
        for metric in METRIC_LABELS
        for level, _ in SEVERITY_LEVELS
    ]
    return pd.DataFrame(rows, columns=["metric", "severity", "alerts"])
