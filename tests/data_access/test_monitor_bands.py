"""The band the daily job judged each day by is stored, and the monitoring chart shows it (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from data_access.actor import Actor
from data_access.alerts import metric_series, model_metric_bands
from data_access.db import session_scope
from data_access.models import Alert, ModelMetricBand, ModelMetricDaily
from data_access.monitor import ACTOR, HISTORY_DAYS, run_monitor
from data_access.scope import Scope
from domain.anomaly import detect
from domain.monitoring import METRIC_DIRECTIONS, METRICS
from tests.data_access.monitoring_estate import (
    FIRST_DAY,
    build_estate,
    day_index,
    metric_frame,
    standard_metrics,
    write_metrics,
)

# Model A has more than the job's year of history, so each day's window starts on another day
# and the band the job judged an earlier day by differs from the window ending at the last day.
A_DAYS = HISTORY_DAYS + 100
LAST_DAY = FIRST_DAY + timedelta(days=A_DAYS - 1)
SPIKE = LAST_DAY - timedelta(days=60)  # processing time of model A is 4× its level for 3 days
SCORED = pd.date_range(SPIKE - timedelta(days=2), SPIKE + timedelta(days=3)).date
NOW = datetime(2026, 8, 1, 6, 0, tzinfo=UTC)
MONITOR = Actor.system(ACTOR)
EDGES = ("baseline", "lower", "upper")


@pytest.fixture
def estate(engine):
    return build_estate(engine)


def quiet_metrics(estate) -> dict[int, pd.DataFrame]:
    frames = standard_metrics(estate)
    frames[estate.model_a] = metric_frame(estate.model_a, seed=estate.model_a, days=A_DAYS)
    return frames


@pytest.fixture
def metrics(engine, estate):
    frames = quiet_metrics(estate)
    frame = frames[estate.model_a]
    rows = slice(day_index(SPIKE), day_index(SPIKE) + 2)
    frame.loc[rows, "processing_s"] = (frame.loc[rows, "processing_s"] * 4).round(2)
    write_metrics(engine, list(frames.values()))
    return frames


def run(engine, day: date) -> None:
    with session_scope(engine) as session:
        run_monitor(session=session, actor=MONITOR, day=day, now=NOW)


def stored_bands(engine) -> pd.DataFrame:
    with Session(engine) as session:
        query = select(ModelMetricBand).order_by(ModelMetricBand.model_id, ModelMetricBand.day)
        frame = pd.read_sql(query, session.connection())
    frame["day"] = pd.to_datetime(frame["day"].astype(str)).dt.date
    return frame


def band_until(frame: pd.DataFrame, metric: str, day: date) -> pd.Series:
    """`detect`'s band on `day` over the job's window: the year ending that day."""
    values = pd.Series(frame[metric].to_numpy(float), index=pd.DatetimeIndex(frame["day"]))
    calendar = pd.date_range(day - timedelta(days=HISTORY_DAYS - 1), day)
    result = detect(values.reindex(calendar), direction=METRIC_DIRECTIONS[metric])
    return result.iloc[-1]


def last_window(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """`detect` over the year ending at the model's last day, as the chart recomputes it."""
    values = pd.Series(frame[metric].to_numpy(float), index=pd.DatetimeIndex(frame["day"]))
    calendar = pd.date_range(LAST_DAY - timedelta(days=HISTORY_DAYS - 1), LAST_DAY)
    return detect(values.reindex(calendar), direction=METRIC_DIRECTIONS[metric])


def test_the_job_stores_each_models_band_per_metric_and_day(engine, estate, metrics):
    for day in SCORED:
        run(engine, day)
    stored = stored_bands(engine)
    enrolled = {estate.model_a, estate.model_b}
    assert set(stored["model_id"]) == enrolled
    assert len(stored) == len(enrolled) * len(SCORED)
    assert stored.groupby("model_id")["day"].apply(list).map(sorted).tolist() == [
        list(SCORED)
    ] * len(enrolled)
    for row in stored.itertuples(index=False):
        for metric in METRICS:
            expected = band_until(metrics[row.model_id], metric, row.day)
            for edge in EDGES:
                assert getattr(row, f"{metric}_{edge}") == expected[edge], (row.day, metric, edge)


def test_a_rerun_replaces_the_days_band_and_corrected_metrics_change_it(engine, estate, metrics):
    day = SPIKE + timedelta(days=3)
    run(engine, day)
    run(engine, day)
    before = stored_bands(engine)
    assert len(before) == 2 and set(before["day"]) == {day}
    # Metrics of earlier days are corrected (the spike was a loading error): re-scoring the day
    # replaces its band with the one the corrected history gives.
    corrected = quiet_metrics(estate)[estate.model_a]
    table = ModelMetricDaily.__table__
    with engine.begin() as connection:
        for offset in range(3):
            spike_day = SPIKE + timedelta(days=offset)
            connection.execute(
                update(table)
                .where(table.c.model_id == estate.model_a, table.c.day == spike_day)
                .values(processing_s=float(corrected.at[day_index(spike_day), "processing_s"]))
            )
    run(engine, day)
    after = stored_bands(engine)
    assert len(after) == 2
    band = after.set_index("model_id").loc[estate.model_a]
    old = before.set_index("model_id").loc[estate.model_a]
    assert band["processing_s_upper"] != old["processing_s_upper"]
    expected = band_until(corrected, "processing_s", day)
    for edge in EDGES:
        assert band[f"processing_s_{edge}"] == expected[edge]
    untouched = after.set_index("model_id").loc[estate.model_b]
    assert untouched.equals(before.set_index("model_id").loc[estate.model_b])


def test_the_chart_shows_for_every_scored_day_the_band_the_job_judged_it_by(
    engine, estate, metrics
):
    for day in SCORED:
        run(engine, day)
    scope = Scope(user_id=estate.csm_a, all_customers=True)
    with Session(engine) as session:
        bands = model_metric_bands(session=session, scope=scope, model_id=estate.model_a, days=90)
        single = metric_series(
            session=session,
            scope=scope,
            model_id=estate.model_a,
            metric="processing_s",
            days=90,
        )
        alert = session.exec(select(Alert)).one()
    assert bands["day"].max() == pd.Timestamp(LAST_DAY)
    by_job = bands[bands["band_source"] == "job"]
    assert sorted(set(by_job["day"].dt.date)) == list(SCORED)
    assert (by_job.groupby("day").size() == len(METRICS)).all()
    assert (bands.loc[bands["band_source"] != "job", "band_source"] == "recomputed").all()
    frame = metrics[estate.model_a]
    latest = {metric: last_window(frame, metric) for metric in METRICS}
    differs = 0
    for row in by_job.itertuples(index=False):
        judged = band_until(frame, row.metric, row.day.date())
        for edge in EDGES:
            assert getattr(row, edge) == judged[edge]
        assert bool(row.anomalous) == bool(judged["anomalous"])
        recomputed = latest[row.metric].loc[row.day]
        differs += row.upper != recomputed["upper"] or row.lower != recomputed["lower"]
    assert differs > len(by_job) // 2  # the window ending at the last day gives other bands
    opening = by_job[(by_job["metric"] == alert.metric) & (by_job["day"] == pd.Timestamp(SPIKE))]
    assert alert.opened_on == SPIKE
    assert opening["lower"].item() == alert.lower and opening["upper"].item() == alert.upper
    assert bool(opening["anomalous"].item())
    recomputed = bands[(bands["band_source"] == "recomputed") & (bands["metric"] == "users")]
    expected = latest["users"].loc[recomputed["day"]]
    np.testing.assert_array_equal(recomputed["upper"].to_numpy(), expected["upper"].to_numpy())
    processing = bands[bands["metric"] == "processing_s"].reset_index(drop=True)
    for column in ("day", "lower", "upper", "anomalous", "band_source"):
        np.testing.assert_array_equal(processing[column], single[column])


def test_without_stored_bands_every_day_is_recomputed(engine, estate, metrics):
    with Session(engine) as session:
        bands = model_metric_bands(
            session=session,
            scope=Scope(user_id=estate.csm_a, all_customers=True),
            model_id=estate.model_a,
            days=30,
        )
    assert (bands["band_source"] == "recomputed").all() and len(bands) == 30 * len(METRICS)
