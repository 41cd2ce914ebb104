"""The demo's daily model metrics, and the same opens and changes by dashboard and end user.

A year of figures per production model with a weekly rhythm, drift and a few incidents (half of
them in the last fortnight, which the seed's monitor runs score), then the last 12 weeks broken
down so that the weekly report's granularities add up to the model's own figures.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from data_access.bulk import bulk_insert
from data_access.models import DashboardActivityDaily, ModelMetricDaily, UserActivityDaily
from domain.monitoring import METRICS

MONITORED_DAYS = 14
"""The nights the seed runs the monitoring job for, up to its `today`."""
ACTIVITY_DAYS = 84
"""How far back the dashboard and end-user breakdown goes (12 weeks)."""


def seed_metrics(
    connection: Connection,
    rng: np.random.Generator,
    *,
    today: date,
    days: int,
    models: pd.DataFrame,
    dashboards: pd.DataFrame,
    end_users: pd.DataFrame,
) -> int:
    """A year of daily figures per production model: weekly rhythm, drift, a few incidents."""
    monitored = models[models["is_production"]]
    calendar = pd.date_range(end=today - timedelta(days=1), periods=days, freq="D")
    weekday = calendar.day_of_week.to_numpy()
    workday = np.where(weekday < 5, 1.0, 0.25)
    frames = []
    for model in monitored.itertuples():
        scale = float(rng.uniform(0.5, 3.0))
        noise = lambda s: rng.normal(1.0, s, len(calendar)).clip(0.5)  # noqa: E731
        open_time = 20 * scale * noise(0.06) * (1 + 0.0005 * np.arange(len(calendar)))
        import_s = 45 * scale * noise(0.1)
        export_s = 30 * scale * noise(0.1)
        processing = 120 * scale * noise(0.08)
        users = np.round(rng.uniform(15, 120) * workday * noise(0.08))
        accessed = np.round(users * rng.uniform(3, 8) * noise(0.1))
        changes = np.round(users * rng.uniform(5, 30) * noise(0.15))
        if rng.random() < 0.35 and len(calendar) > 60:
            # Half the incidents fall in the last fortnight, which the seed's monitor runs score.
            recent = rng.random() < 0.5
            at = int(
                len(calendar) - rng.integers(4, MONITORED_DAYS)
                if recent
                else rng.integers(len(calendar) // 2, len(calendar) - 5)
            )
            length = int(rng.integers(3, 6))
            kind = int(rng.integers(3))
            window = slice(at, at + length)
            if kind == 0:
                open_time[window] *= rng.uniform(3, 6)
            elif kind == 1:
                processing[window] *= rng.uniform(3, 5)
            else:
                users[window] = np.round(users[window] * 0.1)
                accessed[window] = np.round(accessed[window] * 0.1)
        frames.append(
            pd.DataFrame(
                {
                    "model_id": model.id,
                    "day": calendar.date,
                    "open_time_s": open_time.round(2),
                    "import_s": import_s.round(2),
                    "export_s": export_s.round(2),
                    "processing_s": processing.round(2),
                    "times_accessed": accessed.astype(int),
                    "users": users.astype(int),
                    "changes": changes.astype(int),
                }
            )
        )
    if not frames:
        return 0
    metrics = pd.concat(frames, ignore_index=True)[["model_id", "day", *METRICS]]
    metrics["day"] = metrics["day"].astype(str)
    bulk_insert(connection, ModelMetricDaily.__table__, metrics)
    rows = len(metrics)
    activity = _activity_breakdown(rng, today, metrics, monitored, dashboards, end_users)
    for table, frame in zip(
        (DashboardActivityDaily.__table__, UserActivityDaily.__table__), activity, strict=True
    ):
        if len(frame):
            bulk_insert(connection, table, frame)
            rows += len(frame)
    return rows


def _split(rng: np.random.Generator, totals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each day's total shared out over the columns: rows add up to `totals` exactly."""
    return rng.multinomial(totals.astype(np.int64), weights / weights.sum())


def _activity_breakdown(
    rng: np.random.Generator,
    today: date,
    metrics: pd.DataFrame,
    monitored: pd.DataFrame,
    dashboards: pd.DataFrame,
    end_users: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last 12 weeks of each production model's opens and changes, broken down by dashboard
    and by named end user, so the weekly report's granularities add up to the model's figures.

    Every open lands on one of the model's dashboards, and every open is someone on the
    customer's end-user list: the dashboard rows and the user rows of a model-day each sum to
    that model-day's `times_accessed` and `changes`.
    """
    recent = metrics[metrics["day"] >= str(today - timedelta(days=ACTIVITY_DAYS))]
    by_model = dict(tuple(recent.groupby("model_id")))
    dash_rows, user_rows = [], []
    for model in monitored.itertuples():
        figures = by_model.get(model.id)
        if figures is None:
            continue
        days = figures["day"].to_numpy()
        accessed = figures["times_accessed"].to_numpy()
        changes = figures["changes"].to_numpy()
        users = figures["users"].to_numpy()
        boards = dashboards.loc[dashboards["model_id"] == model.id, "id"].to_numpy()
        if len(boards):
            share = rng.dirichlet(np.full(len(boards), 2.0))
            opens = _split(rng, accessed, share)
            edits = _split(rng, changes, share)
            viewers = np.minimum(
                users[:, None], np.ceil(users[:, None] * np.clip(share * 1.5, 0, 1))
            )
            dash_rows.append(
                pd.DataFrame(
                    {
                        "dashboard_id": np.tile(boards, len(days)),
                        "day": np.repeat(days, len(boards)),
                        "times_accessed": opens.ravel(),
                        "users": viewers.astype(int).ravel(),
                        "changes": edits.ravel(),
                        "open_time_s": (
                            figures["open_time_s"].to_numpy()[:, None]
                            * rng.uniform(0.05, 0.3, (len(days), len(boards)))
                        )
                        .round(2)
                        .ravel(),
                    }
                )
            )
        pool = end_users.loc[end_users["customer_id"] == model.customer_id, "id"].to_numpy()
        if not len(pool):
            continue
        for day, opened, changed, people in zip(days, accessed, changes, users, strict=True):
            active = int(min(people, len(pool), max(opened, 1 if changed else 0)))
            if active == 0:
                continue
            who = rng.choice(pool, active, replace=False)
            even = np.ones(active)
            floor = np.ones(active, dtype=np.int64) if opened >= active else 0
            spread = _split(rng, np.array([opened - np.sum(floor)]), even)[0]
            user_rows.append(
                (
                    who,
                    np.full(active, model.id),
                    np.full(active, day),
                    floor + spread,
                    _split(rng, np.array([changed]), even)[0],
                )
            )
    dash_frame = pd.concat(dash_rows, ignore_index=True) if dash_rows else pd.DataFrame()
    columns = ("end_user_id", "model_id", "day", "times_accessed", "changes")
    user_frame = pd.DataFrame(
        {
            name: np.concatenate([row[i] for row in user_rows]) if user_rows else []
            for i, name in enumerate(columns)
        }
    )
    return dash_frame, user_frame
