"""The daily monitoring job on SQLite and PostgreSQL: opening, closing, idempotence, scope of models."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session, select

from data_access.actor import Actor
from data_access.alerts import close_alert
from data_access.db import session_scope
from data_access.locking import job_lock
from data_access.models import Alert, AuditLog, Contact
from data_access.monitor import (
    ACTOR,
    HISTORY_DAYS,
    SCHEDULED_LOCK_KEY,
    alert_explanation,
    main,
    run_monitor,
    scheduled_run_at,
)
from data_access.monitor_verdicts import metric_history, score_day
from domain.anomaly import SETTINGS, detect
from domain.dates import day_text
from domain.monitoring import COUNT_METRICS, METRIC_DIRECTIONS, METRICS
from tests.data_access.monitoring_estate import (
    FIRST_DAY,
    LAST_DAY,
    build_estate,
    day_index,
    metric_frame,
    standard_metrics,
    write_metrics,
)

SPIKE = date(2026, 6, 15)  # processing time of model A is 4× its level for three days
NOW = datetime(2026, 8, 1, 6, 0, tzinfo=UTC)
MONITOR = Actor.system(ACTOR)


@pytest.fixture
def estate(engine):
    return build_estate(engine)


def run(engine, day: date) -> None:
    with session_scope(engine) as session:
        run_monitor(session=session, actor=MONITOR, day=day, now=NOW)


def run_days(engine, first: date, last: date) -> None:
    for day in pd.date_range(first, last).date:
        run(engine, day)


def alerts(engine) -> pd.DataFrame:
    with Session(engine) as session:
        frame = pd.read_sql(select(Alert).order_by(Alert.id), session.connection())
    return frame


def with_spike(estate, metrics, model_id: int, metric: str, first: date, days: int, factor: float):
    frame = metrics[model_id]
    rows = slice(day_index(first), day_index(first) + days - 1)
    changed = frame.loc[rows, metric] * factor
    frame.loc[rows, metric] = changed.round() if metric in COUNT_METRICS else changed.round(2)
    return metrics


def series_of(frame: pd.DataFrame, metric: str) -> pd.Series:
    return pd.Series(frame[metric].to_numpy(float), index=pd.DatetimeIndex(frame["day"]))


def test_a_three_day_spike_opens_one_alert_with_the_detectors_band_and_the_primary_contact(
    engine, estate
):
    metrics = with_spike(
        estate, standard_metrics(estate), estate.model_a, "processing_s", SPIKE, 3, 4
    )
    write_metrics(engine, list(metrics.values()))
    run_days(engine, SPIKE - timedelta(days=2), SPIKE + timedelta(days=3))
    opened = alerts(engine)
    assert len(opened) == 1
    alert = opened.iloc[0]
    assert (alert["model_id"], alert["metric"], alert["direction"]) == (
        estate.model_a,
        "processing_s",
        "above",
    )
    first_day = SPIKE  # four times the level: a spike, alerted on its first day
    assert pd.Timestamp(alert["opened_on"]).date() == first_day
    expected = detect(series_of(metrics[estate.model_a], "processing_s"), direction="above")
    expected = expected.loc[: pd.Timestamp(first_day)]
    assert bool(expected["alert"].iloc[-1])
    for column in ("baseline", "lower", "upper"):
        assert alert[column] == pytest.approx(expected[column].iloc[-1], rel=1e-12)
    day_row = metrics[estate.model_a].iloc[day_index(first_day)]
    assert alert["value"] == pytest.approx(day_row["processing_s"])
    assert alert["customer_id"] == estate.customer_a
    assert alert["contact_id"] == estate.primary_contact_a
    assert alert["channel"] == "phone"  # the primary contact's preferred channel
    assert alert["state"] == "new"
    assert pd.Timestamp(alert["opened_at"]).tz_convert(UTC) == pd.Timestamp(NOW)


def test_activity_alerts_when_too_low_and_durations_only_when_too_high(engine, estate):
    metrics = standard_metrics(estate)
    with_spike(estate, metrics, estate.model_b, "users", SPIKE, 4, 0.1)  # drop: alerts
    with_spike(estate, metrics, estate.model_b, "changes", SPIKE, 4, 3.0)  # rise: does not
    with_spike(estate, metrics, estate.model_b, "open_time_s", SPIKE, 4, 0.2)  # faster: does not
    write_metrics(engine, list(metrics.values()))
    run_days(engine, SPIKE, SPIKE + timedelta(days=3))
    opened = alerts(engine)
    assert opened[["model_id", "metric", "direction"]].values.tolist() == [
        [estate.model_b, "users", "below"]
    ]
    assert opened.iloc[0]["contact_id"] == estate.contact_b  # no primary: the first contact
    assert opened.iloc[0]["channel"] == "chat"


def test_running_a_day_twice_changes_nothing_but_the_audit_trail(engine, estate):
    metrics = with_spike(
        estate, standard_metrics(estate), estate.model_a, "processing_s", SPIKE, 3, 4
    )
    write_metrics(engine, list(metrics.values()))
    last = SPIKE + timedelta(days=3 + SETTINGS.close_after)  # the incident has closed
    run_days(engine, SPIKE, last)
    before = alerts(engine)
    assert len(before) == 1 and before.iloc[0]["state"] == "resolved"
    for day in pd.date_range(SPIKE, last).date:
        run(engine, day)  # every day again, including the opening and the closing day
    pd.testing.assert_frame_equal(alerts(engine), before)
    with Session(engine) as session:
        runs = session.exec(select(AuditLog).where(AuditLog.action == "monitor_run")).all()
    assert len(runs) == 2 * ((last - SPIKE).days + 1) and {r.actor for r in runs} == {"monitor"}
    assert '"opened": 0' in runs[-1].detail and '"closed": 0' in runs[-1].detail


def test_an_alert_closes_itself_after_close_after_days_back_in_band(engine, estate):
    metrics = with_spike(
        estate, standard_metrics(estate), estate.model_a, "processing_s", SPIKE, 3, 4
    )
    write_metrics(engine, list(metrics.values()))
    opening = SPIKE
    back = SPIKE + timedelta(days=3)
    closing = back + timedelta(days=SETTINGS.close_after - 1)
    run_days(engine, SPIKE, closing - timedelta(days=1))
    still_open = alerts(engine).iloc[0]
    assert still_open["state"] == "new"
    assert pd.Timestamp(still_open["back_in_band_on"]).date() == back  # shown as back in band
    run(engine, closing)
    closed = alerts(engine).iloc[0]
    assert pd.Timestamp(closed["opened_on"]).date() == opening
    assert closed["state"] == "resolved"
    assert pd.Timestamp(closed["back_in_band_on"]).date() == back
    assert closed["close_reason"] == f"Back in band since {day_text(back)}."
    assert pd.Timestamp(closed["closed_at"]).tz_convert(UTC) == pd.Timestamp(NOW)


def test_a_long_incident_opens_one_alert_and_a_later_one_opens_another(engine, estate):
    metrics = standard_metrics(estate)
    with_spike(estate, metrics, estate.model_a, "import_s", SPIKE, 6, 5)
    # Its first day is past the record look-back from the first incident's last day (SPIKE + 5),
    # so a repeat of the same size is a record again at once.
    later = SPIKE + timedelta(days=5 + round(SETTINGS.record_cycles * 7) + 1)
    with_spike(estate, metrics, estate.model_a, "import_s", later, 3, 5)
    write_metrics(engine, list(metrics.values()))
    run_days(engine, SPIKE, later + timedelta(days=3))
    opened = alerts(engine)
    assert [pd.Timestamp(d).date() for d in opened["opened_on"]] == [SPIKE, later]
    assert opened["state"].tolist() == ["resolved", "new"]


def test_a_bursty_series_opens_one_alert_not_ten(engine, estate):
    """One-day bursts (up to ten), each inside the cool-down after the last: one alert."""
    cooldown = round(SETTINGS.cooldown_cycles * 7)
    assert cooldown >= 2, "the shipped settings have a cool-down of at least two days"
    metrics = standard_metrics(estate)
    first, spacing = FIRST_DAY + timedelta(weeks=4), SETTINGS.close_after + cooldown - 1
    count = min(10, (LAST_DAY - timedelta(days=SETTINGS.close_after) - first).days // spacing + 1)
    assert count >= 3
    bursts = [first + timedelta(days=k * spacing) for k in range(count)]
    for day in bursts:
        with_spike(estate, metrics, estate.model_a, "import_s", day, 1, 5)
    write_metrics(engine, list(metrics.values()))
    for day in bursts:
        run(engine, day)
        run(engine, day + timedelta(days=SETTINGS.close_after))  # the day its incident closes
    opened = alerts(engine)
    assert [pd.Timestamp(d).date() for d in opened["opened_on"]] == [first]
    history = series_of(metrics[estate.model_a], "import_s")
    flags = detect(history, direction="above")["anomalous"]
    # The first bursts were outside the band and joined the incident silently; the band may
    # widen to take in later ones (bursts every few days are this series' normal by then).
    assert flags.loc[[pd.Timestamp(d) for d in bursts[:3]]].all()


def test_an_alert_explains_itself_with_the_band_it_used(engine, estate):
    metrics = with_spike(estate, standard_metrics(estate), estate.model_a, "import_s", SPIKE, 1, 5)
    write_metrics(engine, list(metrics.values()))
    run(engine, SPIKE)
    alert = alerts(engine).iloc[0]
    with Session(engine) as session:
        text = alert_explanation(
            session=session,
            model_id=estate.model_a,
            metric="import_s",
            opened_on=SPIKE,
            value=alert["value"],
            lower=alert["lower"],
            upper=alert["upper"],
        )
    assert text.startswith(f"Import duration was {alert['value']:,.0f} s on Monday 15 Jun 2026;")
    assert f"usual for a Monday is {max(alert['lower'], 0):,.1f}–{alert['upper']:,.1f} s" in text
    assert text.endswith("(8 weeks of history).")


def test_an_alert_a_csm_closed_is_not_reopened_while_its_incident_runs_on(engine, estate):
    metrics = with_spike(estate, standard_metrics(estate), estate.model_a, "export_s", SPIKE, 6, 5)
    write_metrics(engine, list(metrics.values()))
    run_days(engine, SPIKE, SPIKE + timedelta(days=2))
    alert_id = int(alerts(engine).iloc[0]["id"])
    with session_scope(engine) as session:
        close_alert(
            session=session,
            actor=Actor(id=estate.csm_a, username="csm.a", roles=("csm",)),
            alert_id=alert_id,
            state="dismissed",
            reason="Planned data reload this week.",
        )
    run_days(engine, SPIKE + timedelta(days=3), SPIKE + timedelta(days=12))
    opened = alerts(engine)
    assert len(opened) == 1 and opened.iloc[0]["state"] == "dismissed"
    assert opened.iloc[0]["close_reason"] == "Planned data reload this week."


def test_only_production_models_enrolled_in_monitoring_of_active_customers_are_scored(
    engine, estate
):
    metrics = standard_metrics(estate)
    for model_id in (estate.unmonitored, estate.development, estate.inactive_model):
        with_spike(estate, metrics, model_id, "processing_s", SPIKE, 3, 4)
    write_metrics(engine, list(metrics.values()))
    with session_scope(engine) as session:
        result = run_monitor(session=session, actor=MONITOR, day=SPIKE + timedelta(days=2), now=NOW)
    assert result.models == 2 and result.series == 2 * len(METRICS)
    assert alerts(engine).empty


def test_a_day_without_metrics_opens_nothing(engine, estate):
    metrics = with_spike(
        estate, standard_metrics(estate), estate.model_a, "processing_s", SPIKE, 3, 4
    )
    frame = metrics[estate.model_a]
    metrics[estate.model_a] = frame[frame["day"] != str(SPIKE + timedelta(days=2))]
    write_metrics(engine, list(metrics.values()))
    with session_scope(engine) as session:
        result = run_monitor(session=session, actor=MONITOR, day=SPIKE + timedelta(days=2), now=NOW)
    assert result.opened == 0 and alerts(engine).empty
    assert result.scored == len(METRICS) * 2  # the band exists, the value is missing


def test_a_customer_without_contacts_still_gets_its_alert(engine, estate):
    with Session(engine) as session:
        for contact in session.exec(
            select(Contact).where(Contact.customer_id == estate.customer_a)
        ).all():
            session.delete(contact)
        session.commit()
    metrics = with_spike(
        estate, standard_metrics(estate), estate.model_a, "processing_s", SPIKE, 3, 4
    )
    write_metrics(engine, list(metrics.values()))
    run(engine, SPIKE + timedelta(days=2))
    opened = alerts(engine)
    assert len(opened) == 1 and pd.isna(opened.iloc[0]["contact_id"])
    assert opened.iloc[0]["channel"] is None


def test_the_job_scores_each_metric_over_the_year_before_the_day_exactly_as_detect(engine, estate):
    """The history window: a year up to the day, missing days as missing values."""
    long = metric_frame(estate.model_a, seed=5, days=HISTORY_DAYS + 60, first=FIRST_DAY)
    long = long.drop(index=[30, 31, 200, HISTORY_DAYS + 40])  # gaps, one of them in the window
    write_metrics(engine, [long])
    day = FIRST_DAY + timedelta(days=HISTORY_DAYS + 59)
    start = day - timedelta(days=HISTORY_DAYS - 1)
    with Session(engine) as session:
        history = metric_history(session=session, model_ids=[estate.model_a], start=start, end=day)
    scored = score_day(history, np.array([estate.model_a]), start, day).set_index("metric")
    calendar = pd.date_range(start, day, freq="D")
    for metric in METRICS:
        series = series_of(long, metric).reindex(calendar)
        expected = detect(series, direction=METRIC_DIRECTIONS[metric]).iloc[-1]
        for column in ("baseline", "lower", "upper"):
            assert scored.at[metric, column] == expected[column]
        assert scored.at[metric, "anomalous"] == expected["anomalous"]
        assert scored.at[metric, "value"] == long.set_index("day").at[str(day), metric]


def test_with_a_year_or_less_of_history_the_window_is_the_full_history(engine, estate):
    metrics = standard_metrics(estate)
    write_metrics(engine, [metrics[estate.model_a]])
    with Session(engine) as session:
        start = LAST_DAY - timedelta(days=HISTORY_DAYS - 1)
        history = metric_history(
            session=session, model_ids=[estate.model_a], start=start, end=LAST_DAY
        )
    assert len(history) == len(metrics[estate.model_a])  # every stored day is in the window
    scored = score_day(history, np.array([estate.model_a]), start, LAST_DAY).set_index("metric")
    full = detect(series_of(metrics[estate.model_a], "users"), direction="below").iloc[-1]
    assert scored.at["users", "upper"] == full["upper"]


def test_the_command_line_scores_a_day(engine, estate, capsys):
    metrics = with_spike(
        estate, standard_metrics(estate), estate.model_a, "processing_s", SPIKE, 3, 4
    )
    write_metrics(engine, list(metrics.values()))
    url = engine.url.render_as_string(hide_password=False)
    day = SPIKE + timedelta(days=2)
    assert main(["--day", day.isoformat(), "--database-url", url]) == 0
    assert "opened 1" in capsys.readouterr().out
    assert main(["--day", day.isoformat(), "--database-url", url]) == 0
    assert "opened 0" in capsys.readouterr().out
    assert len(alerts(engine)) == 1


def test_the_command_line_rescores_a_range_of_days_oldest_first(engine, estate, capsys):
    metrics = with_spike(
        estate, standard_metrics(estate), estate.model_a, "processing_s", SPIKE, 3, 4
    )
    write_metrics(engine, list(metrics.values()))
    url = engine.url.render_as_string(hide_password=False)
    first, last = SPIKE - timedelta(days=1), SPIKE + timedelta(days=2)
    args = ["--day", first.isoformat(), "--through", last.isoformat(), "--database-url", url]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        d.isoformat() for d in pd.date_range(first, last).date
    ]
    assert "opened 1" in lines[1]  # the spike's first day
    opened = alerts(engine)
    assert [pd.Timestamp(d).date() for d in opened["opened_on"]] == [SPIKE]
    assert (
        main(["--day", last.isoformat(), "--through", first.isoformat(), "--database-url", url])
        == 2
    )


def monitor_runs(engine, day: date) -> list[dict]:
    with Session(engine) as session:
        rows = session.exec(
            select(AuditLog.detail).where(
                AuditLog.action == "monitor_run", AuditLog.entity_id == day.isoformat()
            )
        ).all()
    return [json.loads(detail) for detail in rows]


def test_the_scheduled_run_scores_yesterday_once_and_runs_with_a_day_always_score(
    engine, estate, capsys
):
    url = engine.url.render_as_string(hide_password=False)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert main(["--day", yesterday.isoformat(), "--database-url", url]) == 0
    assert main(["--database-url", url]) == 0  # an operator's run does not stand for the nightly
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"{yesterday}: ")
    assert main(["--database-url", url]) == 0  # a second replica's scheduler, a little later
    assert capsys.readouterr().out.strip() == (
        f"{yesterday} was already scored by the scheduled run at "
        f"{monitor_scheduled_at(engine, yesterday)}; nothing to do."
    )
    assert main(["--day", yesterday.isoformat(), "--database-url", url]) == 0
    assert capsys.readouterr().out.startswith(f"{yesterday}: ")
    assert [run["scheduled"] for run in monitor_runs(engine, yesterday)] == [False, True, False]


def monitor_scheduled_at(engine, day: date) -> str:
    with Session(engine) as session:
        at = scheduled_run_at(session=session, day=day)
    return at.astimezone(UTC).isoformat(timespec="seconds")


def test_a_scheduled_run_stops_while_another_holds_the_job_lock(engine, estate, capsys):
    if engine.dialect.name != "postgresql":
        pytest.skip("the job lock is PostgreSQL's advisory lock; SQLite never has replicas")
    url = engine.url.render_as_string(hide_password=False)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    with job_lock(engine, SCHEDULED_LOCK_KEY) as held:
        assert held
        with job_lock(engine, SCHEDULED_LOCK_KEY) as also_held:
            assert not also_held  # another session of the same server is refused at once
        assert main(["--database-url", url]) == 0
    assert capsys.readouterr().out.strip() == (
        "Another scheduled monitoring run (on this or another replica) holds the job lock; "
        f"this one stops without scoring {yesterday}."
    )
    assert monitor_runs(engine, yesterday) == []
    assert main(["--database-url", url]) == 0  # released when the holder's block ended
    assert [run["scheduled"] for run in monitor_runs(engine, yesterday)] == [True]
