"""Per-model evaluation for the daily monitoring job (`data_access.monitor`): what it reads (the
enrolled models, their metric window, the alerts and contacts a verdict is judged against), the
detector's verdict on a day for every model and metric, and what each verdict means for that
series' alert. Nothing here writes: the job applies the result under its lock.

Bounded state: a day's verdict is defined as the detector's pass over the fixed window of the
`HISTORY_DAYS` (`data_access.monitor`) days ending that day, never over older history. The
detector's own windows are short (level 1 week, seasonal profile 4 weeks, residuals 8 weeks);
how it settled earlier excursions is the only longer memory, and against two years of history
a 26-week window already moves the band edges by a median 0.5 % of the band's half-width
(`bench/monitor_bench.py --window-check`). So the job's cost per day is flat in the length of
history (1 year or 3 years of stored metrics read the same 365 rows per series). The job stores
each day's band (`model_metric_band`), and the chart shows that stored band for every day the job
scored; only days it never scored (history from before monitoring began) show a band recomputed
over the window ending at the model's latest day.

What a verdict means for its series' alert (per model, metric and direction) is
`domain.monitoring.judge_alert`; `settle_open_alerts` and `new_alerts` apply it to every series of
the day at once.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import String, cast
from sqlmodel import Session, select

from data_access.models import Alert, Contact, Customer, ModelMetricDaily, PlanningModel
from domain.anomaly import detect_many
from domain.dates import day_text
from domain.monitoring import METRIC_DIRECTIONS, METRICS, OPEN_ALERT_STATES, judge_alert

_KEY = ["model_id", "metric", "direction"]


def enrolled_models(*, session: Session) -> pd.DataFrame:
    """Production models enrolled in monitoring, of active customers: id, customer_id."""
    statement = (
        select(PlanningModel.id, PlanningModel.customer_id)
        .join(Customer, Customer.id == PlanningModel.customer_id)
        .where(
            PlanningModel.is_production,
            PlanningModel.in_monitoring,
            Customer.is_active,
        )
        .order_by(PlanningModel.id)
    )
    return pd.read_sql(statement, session.connection())


def metric_history(
    *, session: Session, model_ids: list[int], start: date, end: date
) -> pd.DataFrame:
    """The daily metrics of `model_ids` from `start` to `end` inclusive, in one query."""
    table = ModelMetricDaily.__table__
    # The day as ISO text: parsing one column at once beats a date object per row.
    day = cast(table.c.day, String).label("day")
    statement = select(table.c.model_id, day, *(table.c[m] for m in METRICS)).where(
        table.c.model_id.in_(model_ids), table.c.day >= start, table.c.day <= end
    )
    frame = pd.read_sql(statement, session.connection())
    frame["day"] = pd.to_datetime(frame["day"], format="%Y-%m-%d")
    return frame


def first_contacts(*, session: Session) -> pd.DataFrame:
    """Each customer's primary contact, else its first: customer_id -> contact_id, channel."""
    statement = select(
        Contact.customer_id, Contact.id.label("contact_id"), Contact.preferred_channel
    ).order_by(Contact.customer_id, Contact.is_primary.desc(), Contact.id)
    contacts = pd.read_sql(statement, session.connection())
    return contacts.drop_duplicates("customer_id").set_index("customer_id")


def known_alerts(*, session: Session, since: date) -> pd.DataFrame:
    """Alerts still open, and every alert opened since `since` (to know which incidents had one)."""
    statement = select(
        Alert.id,
        Alert.model_id,
        Alert.metric,
        Alert.direction,
        Alert.opened_on,
        Alert.state,
        Alert.back_in_band_on,
    ).where((Alert.state.in_(OPEN_ALERT_STATES)) | (Alert.opened_on >= since))
    frame = pd.read_sql(statement, session.connection())
    for column in ("opened_on", "back_in_band_on"):
        frame[column] = [_as_date(value) for value in frame[column]]
    return frame


def _as_date(value: object) -> date | None:
    """A stored date as read back: a date on PostgreSQL, ISO text on SQLite, None when empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def score_day(history: pd.DataFrame, model_ids: np.ndarray, start: date, day: date) -> pd.DataFrame:
    """The detector's verdict on `day` for every model and metric in `model_ids`.

    Each metric is scored on the full calendar from `start` to `day` (a missing day is a missing
    value, as `detect` sees a reindexed series). One row per model and metric: value, baseline,
    lower, upper, anomalous, incident (open after the day), incident_start (the day the latest
    incident opened) and back_in_band_on (first day of the trailing run of in-band points, None
    when the latest point is outside the band).
    """
    days = pd.date_range(start, day, freq="D")
    steps, models, kinds = len(days), len(model_ids), len(METRICS)
    cube = np.full((steps, models, kinds), np.nan)
    if len(history):
        day_positions = ((history["day"] - pd.Timestamp(start)).dt.days).to_numpy()
        model_positions = np.searchsorted(model_ids, history["model_id"].to_numpy())
        cube[day_positions, model_positions, :] = history[list(METRICS)].to_numpy(dtype=float)
    values = cube.reshape(steps, models * kinds)
    directions = [METRIC_DIRECTIONS[m] for m in METRICS] * models
    result = detect_many(pd.DataFrame(values, index=days, copy=False), directions=directions)
    positions = np.arange(steps)[:, None]
    valid = ~np.isnan(values)
    last_opening = np.where(result["alert"], positions, -1).max(axis=0)
    last_outside = np.where(result["anomalous"], positions, -1).max(axis=0)
    in_band_after = valid & (positions > last_outside[None, :])
    first_in_band = np.where(in_band_after.any(axis=0), in_band_after.argmax(axis=0), -1)
    day_values = days.date
    return pd.DataFrame(
        {
            "model_id": np.repeat(model_ids, kinds),
            "metric": np.tile(np.array(METRICS, dtype=object), models),
            "direction": directions,
            "value": values[-1],
            "baseline": result["baseline"][-1],
            "lower": result["lower"][-1],
            "upper": result["upper"][-1],
            "anomalous": result["anomalous"][-1],
            "incident": result["incident"][-1],
            "incident_start": [day_values[p] if p >= 0 else None for p in last_opening],
            "back_in_band_on": [day_values[p] if p >= 0 else None for p in first_in_band],
        }
    )


def no_scores() -> pd.DataFrame:
    """The verdicts of no model: `score_day`'s columns and no row."""
    return score_day(
        pd.DataFrame(columns=["model_id", "day", *METRICS]),
        np.array([], dtype=np.int64),
        date(2000, 1, 1),
        date(2000, 1, 1),
    )


def settle_open_alerts(
    open_alerts: pd.DataFrame, scored: pd.DataFrame, *, day: date, now: datetime
) -> tuple[list[dict], list[dict]]:
    """Closes and back-in-band updates for open alerts of the scored models.

    Open alerts of models no longer enrolled, and alerts opened after `day` (a day scored late),
    are left as they are.
    """
    rows = open_alerts.merge(scored, on=_KEY, how="inner", suffixes=("_alert", ""))
    closes, moves = [], []
    for row in rows.itertuples(index=False):
        if row.opened_on > day:
            continue
        verdict = judge_alert(
            has_open_alert=True,
            alerted_this_incident=True,
            incident_open=bool(row.incident),
            anomalous_today=bool(row.anomalous),
            back_in_band_on=row.back_in_band_on,
        )
        if verdict.close:
            closes.append(
                {
                    "b_id": int(row.id),
                    "b_back": verdict.back_in_band_on,
                    "b_closed_at": now,
                    "b_reason": f"Back in band since {day_text(verdict.back_in_band_on)}.",
                }
            )
        elif verdict.back_in_band_on != row.back_in_band_on_alert:
            moves.append({"b_id": int(row.id), "b_back": verdict.back_in_band_on})
    return closes, moves


def new_alerts(
    scored: pd.DataFrame, open_alerts: pd.DataFrame, known: pd.DataFrame, *, day: date
) -> pd.DataFrame:
    """Scored rows that open an alert: an incident out of band today, not yet alerted."""
    candidates = scored[scored["incident"] & scored["anomalous"]]
    if candidates.empty:
        return candidates.copy()
    has_open = candidates.merge(
        open_alerts[_KEY].drop_duplicates(), on=_KEY, how="left", indicator=True
    )
    pairs = candidates.reset_index().merge(known[[*_KEY, "opened_on"]], on=_KEY, how="inner")
    in_incident = pairs[
        (pairs["opened_on"] >= pairs["incident_start"]) & (pairs["opened_on"] <= day)
    ]
    alerted = candidates.index.isin(in_incident["index"])
    opens = [
        judge_alert(
            has_open_alert=is_open,
            alerted_this_incident=was_alerted,
            incident_open=True,
            anomalous_today=True,
            back_in_band_on=None,
        ).open_new
        for is_open, was_alerted in zip(
            (has_open["_merge"] == "both").to_numpy(), alerted, strict=True
        )
    ]
    return candidates[np.array(opens, dtype=bool)].reset_index(drop=True)
