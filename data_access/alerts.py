"""Monitoring alerts for people: the inbox, the contact log, closing, and metric series for charts.

Every read and command is limited to the viewer's scope (a CSM sees only their portfolio's
alerts). Contacts are logged on any alert (a CSM may call after the job closed it); logging the
first contact moves a new alert to contacted. Closing by hand (resolved or dismissed) needs a
reason; the daily job closes alerts itself once back in band (`data_access.monitor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func
from sqlmodel import Session, select

from data_access.actor import Actor, authorise_row
from data_access.audit import CommandRefused, record_audit
from data_access.checks import utc_moment
from data_access.models import (
    Alert,
    AlertContactLog,
    Contact,
    Customer,
    ModelMetricBand,
    ModelMetricDaily,
    PlanningModel,
    User,
    Workspace,
)
from data_access.monitor import BAND_EDGES, HISTORY_DAYS
from data_access.scope import Scope
from domain.anomaly import detect, detect_many
from domain.contacts import CHANNEL_LABELS, CONTACT_CHANNELS
from domain.monitoring import (
    ALERT_STATE_LABELS,
    ALERT_STATES,
    CLOSED_ALERT_STATES,
    DIRECTION_LABELS,
    METRIC_DIRECTIONS,
    METRIC_LABELS,
    METRICS,
    OPEN_ALERT_STATES,
    can_move,
    deviation,
    outside_band,
    severity,
)
from domain.roles import Role

OUTCOME_MAX = 2_000
REASON_MAX = 500
CONTACT_NAME_MAX = 120
_CLOCK_SKEW = timedelta(minutes=5)
ALERT_ROLES = (Role.CSM, Role.MANAGER, Role.ADMIN)


# --- reads ---------------------------------------------------------------------------------


def alert_inbox(
    *,
    session: Session,
    scope: Scope,
    state: str | Sequence[str] | None = None,
    customer_id: int | None = None,
    min_deviation: float | None = None,
) -> pd.DataFrame:
    """Alerts in scope with customer, model, contact and deviation; open ones first.

    `deviation` is the distance outside the band in band half-widths on the watched side
    (`domain.monitoring.deviation`) and `severity` its bucket. `contacts` counts logged contacts.
    `state` (default: every state) is filtered in SQL, by `ix_alert_state_customer`, and the
    contact log is read per alert returned: the page asks for the open ones, so the closed
    alerts and contacts of past years cost nothing.
    """
    states = [state] if isinstance(state, str) else list(state or ALERT_STATES)
    logged = select(func.count()).where(AlertContactLog.alert_id == Alert.id).scalar_subquery()
    last_logged = (
        select(func.max(AlertContactLog.at))
        .where(AlertContactLog.alert_id == Alert.id)
        .scalar_subquery()
    )
    statement = (
        select(
            Alert.id,
            Alert.customer_id,
            Customer.name.label("customer"),
            Alert.model_id,
            PlanningModel.name.label("model"),
            Workspace.name.label("workspace"),
            Alert.metric,
            Alert.direction,
            Alert.opened_on,
            Alert.opened_at,
            Alert.value,
            Alert.baseline,
            Alert.lower,
            Alert.upper,
            Alert.state,
            Alert.back_in_band_on,
            Alert.closed_at,
            Alert.close_reason,
            Alert.contact_id,
            Contact.name.label("contact_name"),
            Contact.email.label("contact_email"),
            Contact.phone.label("contact_phone"),
            Contact.chat_handle.label("contact_chat"),
            Alert.channel,
            logged.label("contacts"),
            last_logged.label("last_contact_at"),
            User.name.label("csm"),
        )
        .join(Customer, Customer.id == Alert.customer_id)
        .join(PlanningModel, PlanningModel.id == Alert.model_id)
        .join(Workspace, Workspace.id == PlanningModel.workspace_id)
        .outerjoin(Contact, Contact.id == Alert.contact_id)
        .outerjoin(User, User.id == Customer.csm_id)
        .where(scope.customer_filter(), Alert.state.in_(states))
    )
    if customer_id is not None:
        statement = statement.where(Alert.customer_id == customer_id)
    frame = pd.read_sql(statement, session.connection())
    for column in ("opened_at", "closed_at", "last_contact_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in ("opened_on", "back_in_band_on"):
        frame[column] = pd.to_datetime(frame[column].astype("string")).dt.date
    frame["contacts"] = frame["contacts"].astype(int)
    frame["metric_label"] = frame["metric"].map(METRIC_LABELS)
    frame["direction_label"] = frame["direction"].map(DIRECTION_LABELS)
    frame["state_label"] = frame["state"].map(ALERT_STATE_LABELS)
    frame["channel_label"] = frame["channel"].map(CHANNEL_LABELS)
    frame["deviation"] = [
        deviation(row.value, row.baseline, row.lower, row.upper, row.direction)
        for row in frame.itertuples(index=False)
    ]
    frame["severity"] = [severity(d) for d in frame["deviation"]]
    frame["is_open"] = frame["state"].isin(OPEN_ALERT_STATES)
    if min_deviation is not None:
        frame = frame[frame["deviation"] >= min_deviation]
    return frame.sort_values(
        ["is_open", "deviation", "opened_on", "id"], ascending=[False, False, False, False]
    ).reset_index(drop=True)


def alert_contact_log(*, session: Session, scope: Scope, alert_id: int) -> pd.DataFrame:
    """The contacts logged on one alert in scope, oldest first (empty when not visible)."""
    statement = (
        select(
            AlertContactLog.id,
            AlertContactLog.at,
            AlertContactLog.channel,
            AlertContactLog.contact_name,
            User.name.label("by"),
            AlertContactLog.outcome,
        )
        .join(Alert, Alert.id == AlertContactLog.alert_id)
        .join(Customer, Customer.id == Alert.customer_id)
        .join(User, User.id == AlertContactLog.by_user_id)
        .where(AlertContactLog.alert_id == alert_id, scope.customer_filter())
        .order_by(AlertContactLog.at, AlertContactLog.id)
    )
    frame = pd.read_sql(statement, session.connection())
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["channel_label"] = frame["channel"].map(CHANNEL_LABELS)
    return frame


def monitored_models(*, session: Session, scope: Scope) -> pd.DataFrame:
    """Production models of active customers in scope, monitored or with alerts; open alert counts.

    Reads the open alerts of the scope's customers only (`ix_alert_state_customer`) and asks
    "has this model any alert" per model (`ix_alert_model_metric`), so closed alerts piling up
    over the years cost nothing here.
    """
    open_alerts = (
        select(Alert.model_id, func.count().label("open_alerts"))
        .join(Customer, Customer.id == Alert.customer_id)
        .where(Alert.state.in_(OPEN_ALERT_STATES), scope.customer_filter())
        .group_by(Alert.model_id)
        .subquery()
    )
    any_alert = select(Alert.id).where(Alert.model_id == PlanningModel.id).exists()
    statement = (
        select(
            PlanningModel.id,
            PlanningModel.name,
            PlanningModel.customer_id,
            Customer.name.label("customer"),
            Workspace.name.label("workspace"),
            PlanningModel.in_monitoring,
            func.coalesce(open_alerts.c.open_alerts, 0).label("open_alerts"),
        )
        .join(Customer, Customer.id == PlanningModel.customer_id)
        .join(Workspace, Workspace.id == PlanningModel.workspace_id)
        .outerjoin(open_alerts, open_alerts.c.model_id == PlanningModel.id)
        .where(
            scope.customer_filter(),
            Customer.is_active,
            PlanningModel.is_production,
            PlanningModel.in_monitoring | any_alert,
        )
        .order_by(Customer.name, Workspace.name, PlanningModel.name)
    )
    frame = pd.read_sql(statement, session.connection())
    frame["open_alerts"] = frame["open_alerts"].astype(int)
    frame["in_monitoring"] = frame["in_monitoring"].astype(bool)
    return frame


def _visible_model(session: Session, scope: Scope, model_id: int) -> PlanningModel:
    model = session.exec(
        select(PlanningModel)
        .join(Customer, Customer.id == PlanningModel.customer_id)
        .where(PlanningModel.id == model_id, scope.customer_filter())
    ).first()
    if model is None:
        raise CommandRefused("That model is not in your portfolio.")
    return model


def _history(
    session: Session, model_id: int, metrics: Sequence[str], end: date | None
) -> pd.DataFrame:
    """The model's metrics for the scoring year ending at `end` (default: its latest day).

    Reindexed to every calendar day (a missing day is a missing value), as the job scores them.
    """
    table = ModelMetricDaily.__table__
    if end is None:
        end = session.exec(select(func.max(table.c.day)).where(table.c.model_id == model_id)).one()
        if end is None:
            return pd.DataFrame(columns=list(metrics), index=pd.DatetimeIndex([], name="day"))
        end = pd.Timestamp(str(end)).date()
    start = end - timedelta(days=HISTORY_DAYS - 1)
    statement = select(table.c.day, *(table.c[m] for m in metrics)).where(
        table.c.model_id == model_id, table.c.day >= start, table.c.day <= end
    )
    frame = pd.read_sql(statement, session.connection())
    frame["day"] = pd.to_datetime(frame["day"].astype(str), format="%Y-%m-%d")
    calendar = pd.date_range(start, end, freq="D", name="day")
    return frame.set_index("day").reindex(calendar).astype(float)


def _alert_days(session: Session, model_id: int, metrics: Sequence[str]) -> pd.DataFrame:
    statement = select(Alert.id, Alert.metric, Alert.opened_on, Alert.state).where(
        Alert.model_id == model_id, Alert.metric.in_(list(metrics))
    )
    frame = pd.read_sql(statement, session.connection())
    frame["day"] = pd.to_datetime(frame["opened_on"].astype(str), format="%Y-%m-%d")
    return frame.rename(columns={"id": "alert_id", "state": "alert_state"}).drop(
        columns="opened_on"
    )


def metric_series(
    *,
    session: Session,
    scope: Scope,
    model_id: int,
    metric: str,
    days: int = 90,
    end: date | None = None,
) -> pd.DataFrame:
    """The last `days` of one metric with the detector's band, flags and the alerts opened.

    Each day shows the band the daily job judged it by, as stored (`band_source` "job"); a day
    the job never scored shows the band recomputed with `detect` over the year ending at `end`
    ("recomputed"). Columns: day, value, baseline, lower, upper, anomalous, incident_opens (the
    detector's opening points), band_source and alert_id/alert_state where an alert was opened
    that day.
    """
    if metric not in METRICS:
        raise CommandRefused(f"{metric!r} is not a monitored metric.")
    _visible_model(session, scope, model_id)
    history = _history(session, model_id, [metric], end)
    if history.empty:
        return _empty_series()
    result = detect(history[metric], direction=METRIC_DIRECTIONS[metric])
    frame = pd.DataFrame({"day": history.index, "value": history[metric].to_numpy()})
    frame = frame.join(result.reset_index(drop=True)).rename(columns={"alert": "incident_opens"})
    frame = frame.iloc[-days:].reset_index(drop=True).assign(metric=metric)
    frame = _with_stored_bands(session, model_id, frame).drop(columns="metric")
    alerts = _alert_days(session, model_id, [metric]).drop(columns="metric")
    alerts = alerts.drop_duplicates("day", keep="last")
    return frame.merge(alerts, on="day", how="left")


def model_metric_bands(
    *, session: Session, scope: Scope, model_id: int, days: int = 90, end: date | None = None
) -> pd.DataFrame:
    """All seven metrics of a model with their bands, one row per day and metric (long form).

    The band of a day the job scored is the one it stored (`band_source` "job"); other days are
    scored at once with `detect_many` (equal to `detect` column by column), "recomputed".
    """
    _visible_model(session, scope, model_id)
    history = _history(session, model_id, list(METRICS), end)
    if history.empty:
        return _empty_series().assign(metric=pd.Series(dtype=object))
    result = detect_many(history, directions=[METRIC_DIRECTIONS[m] for m in METRICS])
    window = slice(-days, None)
    steps = len(history.index[window])
    frame = pd.DataFrame(
        {
            "day": np.tile(history.index[window].to_numpy(), len(METRICS)),
            "metric": np.repeat(np.array(METRICS, dtype=object), steps),
            "value": history.to_numpy()[window].T.reshape(-1),
            **{
                column: result[column][window].T.reshape(-1)
                for column in ("baseline", "lower", "upper", "anomalous")
            },
            "incident_opens": result["alert"][window].T.reshape(-1),
        }
    )
    frame = _with_stored_bands(session, model_id, frame)
    alerts = _alert_days(session, model_id, METRICS).drop_duplicates(["metric", "day"], keep="last")
    frame = frame.merge(alerts, on=["metric", "day"], how="left")
    frame["metric_label"] = frame["metric"].map(METRIC_LABELS)
    return frame


def _with_stored_bands(session: Session, model_id: int, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (day, metric, value, band, anomalous) with the band the job stored for each day
    it scored in place of the recomputed one, and `anomalous` judged against that band (as the
    job judged it); `band_source` says which: "job" or "recomputed".

    One read of `model_metric_band` by its primary key (model, day range).
    """
    frame = frame.assign(band_source="recomputed")
    if frame.empty:
        return frame
    table = ModelMetricBand.__table__
    first, last = frame["day"].min().date(), frame["day"].max().date()
    statement = select(table).where(
        table.c.model_id == model_id, table.c.day >= first, table.c.day <= last
    )
    stored = pd.read_sql(statement, session.connection())
    if stored.empty:
        return frame
    stored["day"] = pd.to_datetime(stored["day"].astype(str), format="%Y-%m-%d")
    long = pd.concat(
        [
            pd.DataFrame(
                {
                    "day": stored["day"],
                    "metric": metric,
                    **{edge: stored[f"{metric}_{edge}"].astype(float) for edge in BAND_EDGES},
                }
            )
            for metric in METRICS
        ],
        ignore_index=True,
    )
    rows = frame[["day", "metric"]].merge(long, on=["day", "metric"], how="left", indicator=True)
    by_job = (rows["_merge"] == "both").to_numpy()
    for edge in BAND_EDGES:
        frame[edge] = np.where(by_job, rows[edge].to_numpy(), frame[edge].to_numpy())
    outside = outside_band(
        frame["value"].to_numpy(dtype=float),
        frame["lower"].to_numpy(dtype=float),
        frame["upper"].to_numpy(dtype=float),
        frame["metric"].map(METRIC_DIRECTIONS).to_numpy(),
    )
    frame["anomalous"] = np.where(by_job, outside, frame["anomalous"].to_numpy(dtype=bool))
    frame.loc[by_job, "band_source"] = "job"
    return frame


def _empty_series() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": pd.Series(dtype="datetime64[ns]"),
            "value": pd.Series(dtype=float),
            "baseline": pd.Series(dtype=float),
            "lower": pd.Series(dtype=float),
            "upper": pd.Series(dtype=float),
            "anomalous": pd.Series(dtype=bool),
            "incident_opens": pd.Series(dtype=bool),
            "band_source": pd.Series(dtype=object),
            "alert_id": pd.Series(dtype=float),
            "alert_state": pd.Series(dtype=object),
        }
    )


# --- commands ------------------------------------------------------------------------------


def _authorised_alert(session: Session, actor: Actor, alert_id: int) -> Alert:
    """The alert, locked for this transaction, once `authorise` has checked the actor's role and
    that the alert's customer is in their portfolio (read fresh, not as the page knew it)."""
    alert, _ = authorise_row(
        session,
        actor,
        Alert,
        alert_id,
        roles=ALERT_ROLES,
        missing="That alert does not exist or is not in your portfolio.",
    )
    return alert


def record_contact(
    *,
    session: Session,
    actor: Actor,
    alert_id: int,
    channel: str,
    outcome: str,
    contact_id: int | None = None,
    contact_name: str | None = None,
    at: datetime | None = None,
) -> AlertContactLog:
    """Log that the customer was contacted about an alert; a new alert becomes contacted.

    The contact is one of the customer's contacts (`contact_id`) or a person named in
    `contact_name`. The edge case: a contact time before the alert's day or in the future is a
    typo, and is refused rather than stored.
    """
    alert = _authorised_alert(session, actor, alert_id)
    if channel not in CONTACT_CHANNELS:
        raise CommandRefused("Choose how the customer was contacted: e-mail, phone or chat.")
    outcome = (outcome or "").strip()
    if not outcome:
        raise CommandRefused("Say what came of the contact (the outcome is required).")
    if len(outcome) > OUTCOME_MAX:
        raise CommandRefused(f"Keep the outcome under {OUTCOME_MAX} characters.")
    if contact_id is not None:
        contact = session.get(Contact, contact_id)
        if contact is None or contact.customer_id != alert.customer_id:
            raise CommandRefused("That contact does not belong to this alert's customer.")
        name = contact.name
    else:
        name = (contact_name or "").strip()
        if not name:
            raise CommandRefused("Name the person who was contacted.")
        if len(name) > CONTACT_NAME_MAX:
            raise CommandRefused(f"Keep the contact's name under {CONTACT_NAME_MAX} characters.")
    moment = utc_moment(at, refusal="The contact time needs a time zone.")
    opened = datetime.combine(_as_date(alert.opened_on), datetime.min.time(), tzinfo=UTC)
    if moment < opened:
        raise CommandRefused("The contact cannot be before the day the alert is about.")
    if moment > datetime.now(UTC) + _CLOCK_SKEW:
        raise CommandRefused("The contact time is in the future.")
    entry = AlertContactLog(
        alert_id=alert.id,
        at=moment,
        channel=channel,
        contact_id=contact_id,
        contact_name=name,
        by_user_id=actor.id,
        outcome=outcome,
    )
    session.add(entry)
    previous = alert.state
    if can_move(alert.state, "contacted"):
        alert.state = "contacted"
    session.add(alert)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action="record_alert_contact",
        entity="alert",
        entity_id=alert.id,
        detail={
            "channel": channel,
            "contact": name,
            "at": moment.isoformat(),
            "from": previous,
            "to": alert.state,
        },
    )
    return entry


def close_alert(
    *,
    session: Session,
    actor: Actor,
    alert_id: int,
    state: str,
    reason: str,
    now: datetime | None = None,
) -> Alert:
    """Resolve or dismiss an open alert by hand, with the reason."""
    if state not in CLOSED_ALERT_STATES:
        raise CommandRefused("An alert is closed as resolved or dismissed.")
    reason = (reason or "").strip()
    if not reason:
        raise CommandRefused("Give a reason for closing the alert.")
    if len(reason) > REASON_MAX:
        raise CommandRefused(f"Keep the reason under {REASON_MAX} characters.")
    alert = _authorised_alert(session, actor, alert_id)
    if not can_move(alert.state, state):
        raise CommandRefused(
            f"This alert is already {ALERT_STATE_LABELS[alert.state].lower()}; it cannot be "
            f"{state} again."
        )
    previous = alert.state
    alert.state = state
    alert.close_reason = reason
    alert.closed_at = now or datetime.now(UTC)
    session.add(alert)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action="close_alert",
        entity="alert",
        entity_id=alert.id,
        detail={"from": previous, "to": state, "reason": reason},
    )
    return alert


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
