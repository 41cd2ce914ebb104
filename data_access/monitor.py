"""The daily monitoring job: score every enrolled production model's seven metrics for one day.

Run: `python -m data_access.monitor [--day YYYY-MM-DD] [--database-url URL]` (default: yesterday
in UTC). For the day D it takes each metric's last `HISTORY_DAYS` days up to D for every model
that is in production and enrolled in monitoring (of an active customer), scores them all with
`domain.anomaly.detect_many` and applies `domain.monitoring.judge_alert`
(`data_access.monitor_verdicts`):

- an alert opens when an incident is in progress, D is outside the band on the watched side, no
  alert is open for the model, metric and direction, and this incident has not had an alert yet;
  it carries the values and band of D and the customer's primary contact (else the first) with
  that contact's preferred channel;
- an open alert records since when the metric is back in band, and is closed automatically
  (state `resolved`, "Back in band since …") once the detector's incident has closed, i.e. after
  `close_after` points back in band. The job closes rather than waiting for a CSM because the
  incident is over by the detector's own rule; the CSM's contact log stays on the alert, and
  the inbox lists alerts resolved without any contact so none slips by unseen;
- the band each metric was judged by on D (baseline, lower, upper) is stored per model and day
  (`model_metric_band`), replacing an earlier run's, so the monitoring chart shows the band the
  verdict used rather than one recomputed over a later window.

Idempotent: everything written is derived from the stored metrics and alerts, so running D twice
opens nothing twice, closes nothing twice and stores D's bands once (only the audit trail gains a
row per run).

Bounded state: a day's verdict is the detector's pass over the fixed window of the
`HISTORY_DAYS` days ending that day, so a run's cost is flat in the length of history
(`data_access.monitor_verdicts` says why that window suffices). Metrics re-loaded with
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
from sqlalchemy import bindparam, delete, func, or_, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import record_audit
from data_access.bulk import bulk_insert
from data_access.locking import job_lock
from data_access.models import Alert, AuditLog, ModelMetricBand, ModelMetricDaily
from data_access.monitor_verdicts import (
    enrolled_models,
    first_contacts,
    known_alerts,
    metric_history,
    new_alerts,
    no_scores,
    score_day,
    settle_open_alerts,
)
from domain.anomaly import SETTINGS, explain, history_weeks
from domain.monitoring import METRIC_LABELS, METRIC_UNITS, METRICS, OPEN_ALERT_STATES
from domain.roles import Role

HISTORY_DAYS = 365
BAND_EDGES = ("baseline", "lower", "upper")
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


@dataclass(frozen=True)
class DayScores:
    """One day's detector verdicts on every enrolled model (`monitor_verdicts.score_day`)."""

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
    scored = pd.concat(frames, ignore_index=True) if frames else no_scores()
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
    store_bands(session, scored, day=day)
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


def _apply_verdicts(
    session: Session, scored: pd.DataFrame, models: pd.DataFrame, *, day: date, now: datetime
) -> tuple[int, int]:
    """Open, update and close alerts as `judge_alert` says; returns (opened, closed)."""
    known = known_alerts(session=session, since=day - timedelta(days=HISTORY_DAYS - 1))
    open_alerts = known[known["state"].isin(OPEN_ALERT_STATES)]
    closes, moves = settle_open_alerts(open_alerts, scored, day=day, now=now)
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
    new = new_alerts(scored, open_alerts, known, day=day)
    if len(new):
        contacts = first_contacts(session=session)
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


def band_rows(scored: pd.DataFrame, *, day: date) -> pd.DataFrame:
    """`scored` (one row per model and metric) as `model_metric_band` rows: one per model."""
    wide = scored.pivot(index="model_id", columns="metric", values=list(BAND_EDGES))
    frame = pd.DataFrame(
        {
            f"{metric}_{edge}": wide[(edge, metric)].to_numpy(dtype=float)
            for metric in METRICS
            for edge in BAND_EDGES
        }
    )
    frame.insert(0, "day", day.isoformat())
    frame.insert(0, "model_id", wide.index.to_numpy(dtype=np.int64))
    return frame


def store_bands(session: Session, scored: pd.DataFrame, *, day: date) -> int:
    """Store the band each scored model's metrics were judged by on `day`, replacing a previous
    run's (a re-run of the day, e.g. after corrected metrics): one delete and one bulk insert per
    chunk of models, in the caller's transaction. Returns the rows written."""
    if scored.empty:
        return 0
    rows = band_rows(scored, day=day)
    table = ModelMetricBand.__table__
    for first in range(0, len(rows), CHUNK_MODELS):
        chunk = rows.iloc[first : first + CHUNK_MODELS]
        session.execute(
            delete(table).where(
                table.c.day == day, table.c.model_id.in_(chunk["model_id"].tolist())
            )
        )
        bulk_insert(session.connection(), table, chunk)
    return len(rows)


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
    from data_access.db import DatabaseUnavailable, connected_engine

    args = _parse_args(argv)
    scheduled = args.day is None and args.through is None
    day = args.day or datetime.now(UTC).date() - timedelta(days=1)
    try:
        engine = connected_engine(args.database_url)
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
