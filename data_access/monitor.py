"""The daily monitoring job: score every enrolled production model's seven metrics for one day.

Run: `python -m data_access.monitor [--day YYYY-MM-DD] [--database-url URL]` (default: yesterday
in UTC). For the day D it takes each metric's last `HISTORY_DAYS` days up to D for every model
that is in production and enrolled in monitoring (of an active customer), scores them all with
`domain.anomaly.detect_many` and applies `domain.monitoring.judge_alert`:

- an alert opens when an incident is in progress, D is outside the band on the watched side, no
  alert is open for the model, metric and direction, and this incident has not had an alert yet;
  it carries the values and band of D and the customer's primary contact (else the first) with
  that contact's preferred channel;
- an open alert records since when the metric is back in band, and is closed automatically
  (state `resolved`, "Back in band since …") once the detector's incident has closed, i.e. after
  `close_after` points back in band. The job closes rather than waiting for a CSM because the
  incident is over by the detector's own rule; the CSM's contact log stays on the alert, and
  the inbox lists alerts resolved without any contact so none slips by unseen.

Idempotent: everything written is derived from the stored metrics and alerts, so running D twice
opens nothing twice and closes nothing twice (only the audit trail gains a row per run).

Bounded state: a day's verdict is defined as the detector's pass over the fixed window of the
`HISTORY_DAYS` days ending that day, never over older history. The detector's own windows are
short (level 1 week, seasonal profile 4 weeks, residuals 8 weeks); how it settled earlier
excursions is the only longer memory, and against two years of history a 26-week window already
moves the band edges by a median 0.5 % of the band's half-width (`bench/monitor_bench.py
--window-check`). So the job's cost per day is flat in the length of history (1 year or 3 years
of stored metrics read the same 365 rows per series), and the chart recomputes its band over the
same window, so it shows the band the job used on the last day. Metrics re-loaded with
corrections are re-scored by re-running the affected days, oldest first:
`python -m data_access.monitor --day FIRST --through LAST` (each day idempotent; alerts the
corrected data now calls for open, with the cool-down applied as on the day itself).

Once across replicas: the scheduled run (no `--day`, as cron or a timer on every replica starts
it) scores yesterday only if no scheduled run has yet: it takes a job lock (`locking.job_lock`,
a PostgreSQL advisory lock) and stops at once when another replica's run holds it, and skips a day
whose scheduled run is already recorded (checked again inside the write transaction). A run
with `--day` is an operator's deliberate re-run and always scores.

No alert storms: the detector's `alert` fires once per incident, and an incident reopening
within the cool-down after it closed raises none (`domain.anomaly`); the job opens only on that
flag's incident and never twice for one incident, so a bursty series opens one alert.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import String, bindparam, cast, func, or_, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import record_audit
from data_access.bulk import bulk_insert
from data_access.locking import job_lock
from data_access.models import (
    Alert,
    AuditLog,
    Contact,
    Customer,
    ModelMetricDaily,
    PlanningModel,
)
from domain.anomaly import SETTINGS, detect_many, explain, history_weeks
from domain.dates import day_text
from domain.monitoring import (
    METRIC_DIRECTIONS,
    METRIC_LABELS,
    METRIC_UNITS,
    METRICS,
    OPEN_ALERT_STATES,
    judge_alert,
)
from domain.roles import Role

HISTORY_DAYS = 365
CHUNK_MODELS = 1_000
ACTOR = "monitor"
_JOB_LOCK_KEY = 5_318_008_001  # PostgreSQL advisory lock: one monitoring run at a time
# Held for a whole scheduled run, so that of several replicas' schedulers one runs it.
SCHEDULED_LOCK_KEY = 5_318_008_002

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class MonitorRun:
    """What one run did, for the audit row, the command line and the benchmark."""

    day: date
    models: int
    series: int
    scored: int
    anomalous: int
    opened: int
    closed: int
    open_alerts: int
    load_seconds: float
    score_seconds: float
    write_seconds: float
    scheduled: bool = False


def _no_progress(_done: int, _total: int) -> None:
    return None


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


def alert_explanation(
    *,
    session: Session,
    model_id: int,
    metric: str,
    opened_on: date,
    value: float,
    lower: float,
    upper: float,
) -> str:
    """Why an alert opened, from its stored value and band and the days of history behind it.

    The history counted is the model's days with this metric in the detector's residual window
    before the alert's day, so a young model's alert says how little it was judged on.
    """
    if metric not in METRICS:
        raise ValueError(f"{metric!r} is not a monitored metric.")
    table = ModelMetricDaily.__table__
    window = SETTINGS.residual_cycles * 7
    days = session.exec(
        select(func.count())
        .select_from(table)
        .where(
            table.c.model_id == model_id,
            table.c.day >= opened_on - timedelta(days=window),
            table.c.day < opened_on,
            table.c[metric].is_not(None),
        )
    ).one()
    return explain(
        what=METRIC_LABELS[metric],
        unit=METRIC_UNITS[metric],
        value=float(value),
        lower=float(lower),
        upper=float(upper),
        day=opened_on,
        weeks=history_weeks(int(days[0] if isinstance(days, tuple) else days)),
    )


def _lock_job(session: Session) -> None:
    """One run at a time: SQLite's write transaction (BEGIN IMMEDIATE) already serialises runs."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _JOB_LOCK_KEY})


def _first_contacts(session: Session) -> pd.DataFrame:
    """Each customer's primary contact, else its first: customer_id -> contact_id, channel."""
    statement = select(
        Contact.customer_id, Contact.id.label("contact_id"), Contact.preferred_channel
    ).order_by(Contact.customer_id, Contact.is_primary.desc(), Contact.id)
    contacts = pd.read_sql(statement, session.connection())
    return contacts.drop_duplicates("customer_id").set_index("customer_id")


def _known_alerts(session: Session, since: date) -> pd.DataFrame:
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


@dataclass(frozen=True)
class DayScores:
    """The detector's verdicts for one day on every enrolled model (see `score_day`)."""

    day: date
    models: pd.DataFrame
    scored: pd.DataFrame
    load_seconds: float
    score_seconds: float


def score_enrolled(*, session: Session, day: date, progress: Progress = _no_progress) -> DayScores:
    """Read and score `day` for every enrolled model, one query per chunk of models.

    Only reads, so the command line runs it outside the write transaction: on SQLite the write
    lock is then held for the short write, not for the whole scoring.
    """
    start = day - timedelta(days=HISTORY_DAYS - 1)
    models = enrolled_models(session=session)
    model_ids = models["id"].to_numpy(dtype=np.int64)
    frames, load_seconds, score_seconds = [], 0.0, 0.0
    for first in range(0, len(model_ids), CHUNK_MODELS):
        chunk = model_ids[first : first + CHUNK_MODELS]
        loading = time.perf_counter()
        history = metric_history(session=session, model_ids=chunk.tolist(), start=start, end=day)
        scoring = time.perf_counter()
        frames.append(score_day(history, chunk, start, day))
        load_seconds += scoring - loading
        score_seconds += time.perf_counter() - scoring
        progress(min(first + CHUNK_MODELS, len(model_ids)), len(model_ids))
    scored = pd.concat(frames, ignore_index=True) if frames else _no_scores()
    return DayScores(day, models, scored, load_seconds, score_seconds)


def apply_scores(
    *,
    session: Session,
    actor: Actor,
    scores: DayScores,
    now: datetime | None = None,
    scheduled: bool = False,
) -> MonitorRun:
    """Open, update and close alerts from `scores`, and append one audit row for the run
    (`scheduled` marks the nightly run, which `scheduled_run_at` finds).

    Writes in the caller's transaction (does not commit); re-reads the alerts under the job's
    lock, so two runs of the same day cannot open the same alert twice. The job of an operator:
    an admin, or the shell's `Actor.system(ACTOR)`.
    """
    authorise(session, actor, roles=(Role.ADMIN,))
    now = now or datetime.now(UTC)
    writing = time.perf_counter()
    _lock_job(session)
    scored, day = scores.scored, scores.day
    opened, closed = _apply_verdicts(session, scored, scores.models, day=day, now=now)
    still_open = session.exec(
        select(func.count()).select_from(Alert).where(Alert.state.in_(OPEN_ALERT_STATES))
    ).one()
    run = MonitorRun(
        day=day,
        models=len(scores.models),
        series=len(scored),
        scored=int(scored["baseline"].notna().sum()),
        anomalous=int(scored["anomalous"].sum()),
        opened=opened,
        closed=closed,
        open_alerts=still_open,
        load_seconds=round(scores.load_seconds, 3),
        score_seconds=round(scores.score_seconds, 3),
        write_seconds=round(time.perf_counter() - writing, 3),
        scheduled=scheduled,
    )
    record_audit(
        session=session,
        actor=actor.username,
        action="monitor_run",
        entity="model_metric_daily",
        entity_id=day.isoformat(),
        detail=asdict(run),
    )
    return run


def scheduled_run_at(*, session: Session, day: date) -> datetime | None:
    """When a scheduled run recorded `day`, or None if none has (runs with `--day` do not count).

    Only audit rows written since `day` began are read (the audit log's time index), so the
    check stays cheap however long the log grows.
    """
    rows = session.exec(
        select(AuditLog.at, AuditLog.detail)
        .where(
            AuditLog.action == "monitor_run",
            AuditLog.entity_id == day.isoformat(),
            AuditLog.at >= datetime(day.year, day.month, day.day, tzinfo=UTC),
        )
        .order_by(AuditLog.at)
    ).all()
    return next((at for at, detail in rows if json.loads(detail or "{}").get("scheduled")), None)


def run_monitor(
    *,
    session: Session,
    actor: Actor,
    day: date,
    now: datetime | None = None,
    progress: Progress = _no_progress,
) -> MonitorRun:
    """Score `day` for every enrolled model, open and close alerts, append one audit row.

    Reads and writes in the caller's transaction (does not commit). `now` stamps opened_at and
    closed_at.
    """
    scores = score_enrolled(session=session, day=day, progress=progress)
    return apply_scores(session=session, scores=scores, now=now, actor=actor)


def _no_scores() -> pd.DataFrame:
    return score_day(
        pd.DataFrame(columns=["model_id", "day", *METRICS]),
        np.array([], dtype=np.int64),
        date(2000, 1, 1),
        date(2000, 1, 1),
    )


_KEY = ["model_id", "metric", "direction"]


def _apply_verdicts(
    session: Session, scored: pd.DataFrame, models: pd.DataFrame, *, day: date, now: datetime
) -> tuple[int, int]:
    """Open, update and close alerts as `judge_alert` says; returns (opened, closed)."""
    known = _known_alerts(session, since=day - timedelta(days=HISTORY_DAYS - 1))
    open_alerts = known[known["state"].isin(OPEN_ALERT_STATES)]
    closes, moves = _settle_open_alerts(open_alerts, scored, day=day, now=now)
    table = Alert.__table__
    # executemany cannot expand IN (…): spell "still open" out (a CSM may have closed it meanwhile).
    still_open = or_(*(table.c.state == state for state in OPEN_ALERT_STATES))
    if closes:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), still_open)
            .values(
                state="resolved",
                back_in_band_on=bindparam("b_back"),
                closed_at=bindparam("b_closed_at"),
                close_reason=bindparam("b_reason"),
            ),
            closes,
        )
    if moves:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), still_open)
            .values(back_in_band_on=bindparam("b_back")),
            moves,
        )
    new = _new_alerts(scored, open_alerts, known, day=day)
    if len(new):
        contacts = _first_contacts(session)
        customers = models.set_index("id")["customer_id"]
        new["customer_id"] = customers.reindex(new["model_id"]).to_numpy()
        chosen = contacts.reindex(new["customer_id"])
        new["contact_id"] = chosen["contact_id"].astype("Int64").to_numpy()
        new["channel"] = chosen["preferred_channel"].to_numpy()
        new["opened_on"] = day.isoformat()
        new["opened_at"] = pd.Series(pd.Timestamp(now), index=new.index).dt.tz_convert("UTC")
        new["state"] = "new"
        bulk_insert(
            session.connection(),
            table,
            new[
                [
                    "model_id",
                    "customer_id",
                    "metric",
                    "direction",
                    "opened_on",
                    "opened_at",
                    "value",
                    "baseline",
                    "lower",
                    "upper",
                    "state",
                    "contact_id",
                    "channel",
                ]
            ],
        )
    return len(new), len(closes)


def _settle_open_alerts(
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


def _new_alerts(
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


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m data_access.monitor",
        description="Score one day of every enrolled production model's metrics and open or "
        "close monitoring alerts (idempotent).",
    )
    parser.add_argument(
        "--day",
        type=date.fromisoformat,
        default=None,
        help="the day to score, YYYY-MM-DD (default: yesterday in UTC)",
    )
    parser.add_argument(
        "--through",
        type=date.fromisoformat,
        default=None,
        help="score every day from --day to this day, oldest first (re-scoring corrected metrics)",
    )
    parser.add_argument(
        "--database-url", default=None, help="database address (default: DATABASE_URL or SQLite)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from data_access.db import DatabaseUnavailable, check_connection, make_engine

    args = _parse_args(argv)
    scheduled = args.day is None and args.through is None
    day = args.day or datetime.now(UTC).date() - timedelta(days=1)
    try:
        engine = make_engine(args.database_url)
        check_connection(engine)
    except DatabaseUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    last = args.through or day
    if last < day:
        print("--through must not be before --day.", file=sys.stderr)
        return 2
    try:
        if scheduled:
            with job_lock(engine, SCHEDULED_LOCK_KEY) as held:
                if not held:
                    print(
                        "Another scheduled monitoring run (on this or another replica) holds the "
                        f"job lock; this one stops without scoring {day}."
                    )
                    return 0
                _run_day(engine, day, scheduled=True)
        else:
            for current in pd.date_range(day, last, freq="D").date:
                _run_day(engine, current, scheduled=False)
    finally:
        engine.dispose()
    return 0


def _run_day(engine: Engine, day: date, *, scheduled: bool) -> None:
    """Score `day` outside the write transaction, then apply it in one; a scheduled run skips a
    day that a scheduled run already recorded (checked again under the write lock)."""
    from tqdm import tqdm

    from data_access.db import session_scope

    def already_scored(session: Session) -> bool:
        at = scheduled_run_at(session=session, day=day) if scheduled else None
        if at is not None:
            print(
                f"{day} was already scored by the scheduled run at "
                f"{at.astimezone(UTC).isoformat(timespec='seconds')}; nothing to do."
            )
        return at is not None

    with tqdm(total=0, unit="model", desc=f"Scoring {day}", disable=None) as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        with Session(engine) as reading:
            if already_scored(reading):
                return
            scores = score_enrolled(session=reading, day=day, progress=advance)
        with session_scope(engine) as session:
            if already_scored(session):
                return
            run = apply_scores(
                session=session, actor=Actor.system(ACTOR), scores=scores, scheduled=scheduled
            )
    print(
        f"{run.day}: {run.models} models, {run.series} series ({run.scored} with a band), "
        f"{run.anomalous} outside their band; opened {run.opened}, closed {run.closed}, "
        f"{run.open_alerts} alerts open. Load {run.load_seconds:.1f} s, score "
        f"{run.score_seconds:.1f} s, write {run.write_seconds:.1f} s."
    )


if __name__ == "__main__":
    sys.exit(main())
