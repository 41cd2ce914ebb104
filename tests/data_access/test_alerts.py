"""Alert inbox, contact log, closing and chart series on SQLite and PostgreSQL, within scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session, select

from data_access.actor import Actor
from data_access.alerts import (
    alert_contact_log,
    alert_inbox,
    close_alert,
    metric_series,
    model_metric_bands,
    monitored_models,
    record_contact,
)
from data_access.audit import CommandRefused
from data_access.db import session_scope
from data_access.models import Alert, AlertContactLog, AuditLog
from data_access.monitor import ACTOR, HISTORY_DAYS, run_monitor
from data_access.scope import Scope
from domain.anomaly import detect
from domain.monitoring import METRICS, deviation, severity
from tests.data_access.monitoring_estate import (
    FIRST_DAY,
    build_estate,
    standard_metrics,
    write_metrics,
)
from tests.data_access.query_plans import full_scans, recorded_statements
from tests.data_access.test_monitor import SPIKE, with_spike

OPENED = SPIKE  # a spike of four times the level alerts on its first day
NOW = datetime.now(UTC)


@pytest.fixture
def estate(engine):
    estate = build_estate(engine)
    metrics = standard_metrics(estate)
    with_spike(estate, metrics, estate.model_a, "processing_s", SPIKE, 3, 4)
    with_spike(estate, metrics, estate.model_b, "users", SPIKE, 4, 0.1)
    write_metrics(engine, list(metrics.values()))
    for day in pd.date_range(SPIKE, OPENED).date:
        with session_scope(engine) as session:
            run_monitor(session=session, actor=Actor.system(ACTOR), day=day)
    estate.metrics = metrics
    return estate


def csm(estate, which: str = "a") -> Scope:
    return Scope(user_id=getattr(estate, f"csm_{which}"), all_customers=False)


def actor(estate, which: str = "a") -> Actor:
    return Actor(id=getattr(estate, f"csm_{which}"), username=f"csm.{which}", roles=("csm",))


def everyone(estate) -> Scope:
    return Scope(user_id=estate.csm_a, all_customers=True)


def alert_of(engine, model_id: int) -> Alert:
    with Session(engine) as session:
        return session.exec(select(Alert).where(Alert.model_id == model_id)).one()


def test_a_csm_sees_only_own_customers_alerts_and_a_manager_sees_all(engine, estate):
    with Session(engine) as session:
        mine = alert_inbox(session=session, scope=csm(estate))
        theirs = alert_inbox(session=session, scope=csm(estate, "b"))
        all_alerts = alert_inbox(session=session, scope=everyone(estate))
    assert mine["customer"].tolist() == ["Alpha"]
    assert theirs["customer"].tolist() == ["Beta"]
    assert sorted(all_alerts["customer"]) == ["Alpha", "Beta"]
    row = mine.iloc[0]
    assert (row["model"], row["metric_label"], row["direction_label"]) == (
        "Sales Forecast PROD",
        "Processing time",
        "too high",
    )
    assert (row["contact_name"], row["channel"], row["state"]) == ("Pat Primary", "phone", "new")
    assert row["csm"] == "Csm.A" and row["contacts"] == 0
    expected = deviation(row["value"], row["baseline"], row["lower"], row["upper"], "above")
    assert row["deviation"] == pytest.approx(expected) and row["severity"] == severity(expected)


def test_inbox_filters_by_state_customer_and_deviation(engine, estate):
    scope = everyone(estate)
    with Session(engine) as session:
        everything = alert_inbox(session=session, scope=scope)
        only_beta = alert_inbox(session=session, scope=scope, customer_id=estate.customer_b)
        resolved = alert_inbox(session=session, scope=scope, state="resolved")
        open_ones = alert_inbox(session=session, scope=scope, state=["new", "contacted"])
        smallest = everything["deviation"].min()
        severe = alert_inbox(session=session, scope=scope, min_deviation=smallest + 1e-9)
        other_csm = alert_inbox(session=session, scope=csm(estate), customer_id=estate.customer_b)
    assert only_beta["customer"].tolist() == ["Beta"]
    assert resolved.empty and len(open_ones) == 2
    assert len(severe) == 1 and severe.iloc[0]["deviation"] > smallest
    assert other_csm.empty  # narrowing to another CSM's customer shows nothing
    assert everything["deviation"].is_monotonic_decreasing  # worst first among open alerts


def test_recording_a_contact_moves_a_new_alert_to_contacted_and_logs_it(engine, estate):
    alert = alert_of(engine, estate.model_a)
    at = NOW - timedelta(hours=2)
    with session_scope(engine) as session:
        record_contact(
            session=session,
            actor=actor(estate, "a"),
            alert_id=alert.id,
            channel="phone",
            contact_id=estate.primary_contact_a,
            at=at,
            outcome="Customer is aware: a large data load ran; will re-check tomorrow.",
        )
    with session_scope(engine) as session:
        record_contact(
            session=session,
            actor=actor(estate, "a"),
            alert_id=alert.id,
            channel="email",
            contact_name="Someone Else",
            at=NOW,
            outcome="Sent the chart.",
        )
    assert alert_of(engine, estate.model_a).state == "contacted"
    with Session(engine) as session:
        log = alert_contact_log(session=session, scope=csm(estate), alert_id=alert.id)
        hidden = alert_contact_log(session=session, scope=csm(estate, "b"), alert_id=alert.id)
        audit = session.exec(
            select(AuditLog).where(AuditLog.action == "record_alert_contact")
        ).all()
        inbox = alert_inbox(session=session, scope=csm(estate))
    assert log["contact_name"].tolist() == ["Pat Primary", "Someone Else"]
    assert log["channel"].tolist() == ["phone", "email"]
    assert log["by"].tolist() == ["Csm.A", "Csm.A"]
    assert log["at"].iloc[0] == pd.Timestamp(at)
    assert hidden.empty
    assert [a.actor for a in audit] == ["csm.a", "csm.a"]
    assert inbox.iloc[0]["contacts"] == 2 and inbox.iloc[0]["state"] == "contacted"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"channel": "fax"}, "e-mail, phone or chat"),
        ({"outcome": "  "}, "outcome is required"),
        ({"contact_id": None, "contact_name": ""}, "Name the person"),
        ({"at": NOW + timedelta(hours=1)}, "in the future"),
        ({"at": datetime(2026, 1, 1, tzinfo=UTC)}, "before the day the alert is about"),
        ({"at": datetime(2026, 7, 1, 12, 0)}, "time zone"),
        ({"outcome": "x" * 2_001}, "under 2000 characters"),
    ],
)
def test_a_contact_is_validated(engine, estate, changes, message):
    alert = alert_of(engine, estate.model_a)
    arguments = {
        "channel": "email",
        "contact_id": estate.primary_contact_a,
        "contact_name": None,
        "at": NOW,
        "outcome": "Spoke to them.",
    } | changes
    with pytest.raises(CommandRefused, match=message), session_scope(engine) as session:
        record_contact(
            session=session,
            actor=actor(estate, "a"),
            alert_id=alert.id,
            **arguments,
        )
    assert alert_of(engine, estate.model_a).state == "new"
    with Session(engine) as session:
        assert session.exec(select(AlertContactLog)).all() == []


def test_a_contact_must_belong_to_the_customer_and_the_alert_to_the_scope(engine, estate):
    alert = alert_of(engine, estate.model_a)
    common = dict(alert_id=alert.id, channel="chat")
    with pytest.raises(CommandRefused, match="does not belong"), session_scope(engine) as s:
        record_contact(
            session=s, actor=actor(estate), contact_id=estate.contact_b, outcome="x", **common
        )
    with pytest.raises(CommandRefused, match="not in your portfolio"), session_scope(engine) as s:
        record_contact(
            session=s, actor=actor(estate, "b"), contact_name="Pat", outcome="x", **common
        )


def test_closing_needs_a_reason_and_happens_once(engine, estate):
    alert = alert_of(engine, estate.model_b)
    with pytest.raises(CommandRefused, match="reason"), session_scope(engine) as session:
        close_alert(
            session=session,
            actor=actor(estate, "b"),
            alert_id=alert.id,
            state="resolved",
            reason=" ",
        )
    with pytest.raises(CommandRefused, match="resolved or dismissed"), session_scope(engine) as s:
        close_alert(
            session=s, actor=actor(estate, "b"), alert_id=alert.id, state="contacted", reason="x"
        )
    with pytest.raises(CommandRefused, match="not in your portfolio"), session_scope(engine) as s:
        close_alert(
            session=s,
            actor=actor(estate, "a"),
            alert_id=alert.id,
            state="dismissed",
            reason="x",
        )
    with session_scope(engine) as session:
        close_alert(
            session=session,
            actor=actor(estate, "b"),
            alert_id=alert.id,
            state="dismissed",
            reason="Public holiday: nobody worked.",
        )
    closed = alert_of(engine, estate.model_b)
    assert closed.state == "dismissed" and closed.close_reason == "Public holiday: nobody worked."
    assert closed.closed_at is not None
    with pytest.raises(CommandRefused, match="already dismissed"), session_scope(engine) as s:
        close_alert(
            session=s, actor=actor(estate, "b"), alert_id=alert.id, state="resolved", reason="x"
        )
    with Session(engine) as session:
        audit = session.exec(select(AuditLog).where(AuditLog.action == "close_alert")).all()
    assert len(audit) == 1 and audit[0].actor == "csm.b"


def test_a_contact_can_be_logged_after_the_alert_was_closed(engine, estate):
    alert = alert_of(engine, estate.model_b)
    with session_scope(engine) as session:
        close_alert(
            session=session,
            actor=actor(estate, "b"),
            alert_id=alert.id,
            state="resolved",
            reason="Recovered.",
        )
    with session_scope(engine) as session:
        record_contact(
            session=session,
            actor=actor(estate, "b"),
            alert_id=alert.id,
            channel="chat",
            contact_id=estate.contact_b,
            outcome="Told them it recovered.",
        )
    assert alert_of(engine, estate.model_b).state == "resolved"


def test_metric_series_shows_the_band_the_job_used_and_the_alert_opening(engine, estate):
    with Session(engine) as session:
        series = metric_series(
            session=session,
            scope=csm(estate),
            model_id=estate.model_a,
            metric="processing_s",
            days=60,
            end=OPENED,
        )
    assert len(series) == 60 and series["day"].iloc[-1] == pd.Timestamp(OPENED)
    frame = estate.metrics[estate.model_a]
    values = pd.Series(frame["processing_s"].to_numpy(float), index=pd.DatetimeIndex(frame["day"]))
    calendar = pd.date_range(OPENED - timedelta(days=HISTORY_DAYS - 1), OPENED)
    expected = detect(values.reindex(calendar), direction="above").iloc[-60:]
    np.testing.assert_array_equal(series["upper"].to_numpy(), expected["upper"].to_numpy())
    np.testing.assert_array_equal(series["anomalous"].to_numpy(), expected["anomalous"].to_numpy())
    opened = series[series["alert_id"].notna()]
    assert opened["day"].tolist() == [pd.Timestamp(OPENED)]
    assert opened["alert_state"].tolist() == ["new"]
    assert series["incident_opens"].iloc[-1]


def test_the_small_multiples_hold_all_seven_metrics_equal_to_the_single_series(engine, estate):
    with Session(engine) as session:
        bands = model_metric_bands(
            session=session, scope=csm(estate), model_id=estate.model_a, days=30
        )
        single = metric_series(
            session=session, scope=csm(estate), model_id=estate.model_a, metric="users", days=30
        )
    assert list(bands["metric"].unique()) == list(METRICS)
    assert (bands.groupby("metric").size() == 30).all()
    users = bands[bands["metric"] == "users"].reset_index(drop=True)
    np.testing.assert_array_equal(users["day"], single["day"])
    np.testing.assert_array_equal(users["lower"], single["lower"])
    np.testing.assert_array_equal(users["value"], single["value"])


def test_series_reads_are_limited_to_the_scope(engine, estate):
    with Session(engine) as session:
        with pytest.raises(CommandRefused, match="not in your portfolio"):
            metric_series(
                session=session, scope=csm(estate, "b"), model_id=estate.model_a, metric="users"
            )
        with pytest.raises(CommandRefused, match="not a monitored metric"):
            metric_series(session=session, scope=csm(estate), model_id=estate.model_a, metric="cpu")
        mine = monitored_models(session=session, scope=csm(estate))
        empty = metric_series(
            session=session,
            scope=csm(estate),
            model_id=estate.unmonitored,
            metric="users",
            end=FIRST_DAY - timedelta(days=1000),
        )
    assert mine["name"].tolist() == ["Sales Forecast PROD"]
    assert mine["open_alerts"].tolist() == [1]
    assert empty["value"].isna().all()


def _past_alert(session: Session, model_id: int, customer_id: int, days_ago: int, state: str):
    opened_on = OPENED - timedelta(days=days_ago)
    alert = Alert(
        model_id=model_id,
        customer_id=customer_id,
        metric="import_s",
        direction="above",
        opened_on=opened_on,
        opened_at=datetime.combine(opened_on, datetime.min.time(), tzinfo=UTC),
        value=200.0,
        baseline=45.0,
        lower=40.0,
        upper=50.0,
        state=state,
        closed_at=None if state in ("new", "contacted") else NOW,
    )
    session.add(alert)
    session.flush()
    return alert.id


def _contact(session: Session, alert_id: int, by: int, at: datetime) -> None:
    session.add(
        AlertContactLog(
            alert_id=alert_id,
            at=at,
            channel="email",
            contact_name="Someone",
            by_user_id=by,
            outcome="Spoke.",
        )
    )


@pytest.fixture
def history(engine, estate):
    """Closed alerts of past months (one on a model outside monitoring) with contacts logged,
    and two contacts on customer A's open alert: what the inbox must not read by default."""
    first = datetime.combine(OPENED, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    with session_scope(engine) as session:
        open_a = session.exec(select(Alert.id).where(Alert.model_id == estate.model_a)).one()
        closed_a = _past_alert(session, estate.model_a, estate.customer_a, 60, "resolved")
        closed_unmonitored = _past_alert(
            session, estate.unmonitored, estate.customer_a, 90, "dismissed"
        )
        closed_b = _past_alert(session, estate.model_b, estate.customer_b, 30, "resolved")
        for alert_id, hours in (
            (open_a, 0),
            (open_a, 5),
            (closed_unmonitored, -24 * 80),
            (closed_b, -24 * 20),
        ):
            _contact(session, alert_id, estate.csm_a, first + timedelta(hours=hours))
    return {
        "open_a": open_a,
        "closed_a": closed_a,
        "closed_unmonitored": closed_unmonitored,
        "closed_b": closed_b,
        "last_contact_a": first + timedelta(hours=5),
    }


def test_the_inbox_counts_each_alerts_own_contacts_with_history_around_it(engine, estate, history):
    with Session(engine) as session:
        open_mine = alert_inbox(session=session, scope=csm(estate), state=["new", "contacted"])
        all_mine = alert_inbox(session=session, scope=csm(estate))
        open_everyone = alert_inbox(
            session=session, scope=everyone(estate), state=["new", "contacted"]
        )
    assert open_mine["id"].tolist() == [history["open_a"]]
    assert open_mine.iloc[0]["contacts"] == 2
    assert open_mine.iloc[0]["last_contact_at"] == history["last_contact_a"]
    contacts = dict(zip(all_mine["id"], all_mine["contacts"], strict=True))
    assert contacts == {
        history["open_a"]: 2,
        history["closed_a"]: 0,
        history["closed_unmonitored"]: 1,
    }
    assert all_mine.loc[all_mine["id"] == history["closed_a"], "last_contact_at"].isna().all()
    assert sorted(open_everyone["customer"]) == ["Alpha", "Beta"]
    assert open_everyone["contacts"].tolist() == [
        2 if alert_id == history["open_a"] else 0 for alert_id in open_everyone["id"]
    ]


def test_monitored_models_count_open_alerts_only_and_list_a_model_with_past_alerts(
    engine, estate, history
):
    with Session(engine) as session:
        mine = monitored_models(session=session, scope=csm(estate))
        everything = monitored_models(session=session, scope=everyone(estate))
    assert dict(zip(mine["name"], mine["open_alerts"], strict=True)) == {
        "Opex Budget PROD": 0,  # not enrolled, but it had an alert
        "Sales Forecast PROD": 1,
    }
    assert dict(zip(everything["name"], everything["open_alerts"], strict=True)) == {
        "Opex Budget PROD": 0,
        "Sales Forecast PROD": 1,
        "Supply Plan PROD": 1,
    }


def test_the_inbox_and_model_list_seek_open_alerts_and_each_alerts_contacts(
    engine, estate, history
):
    """Neither read walks the whole alert table or contact log (SQLite's plan of every statement)."""
    with recorded_statements(engine) as statements, Session(engine) as session:
        for scope in (csm(estate), everyone(estate)):
            alert_inbox(session=session, scope=scope, state=["new", "contacted"])
            monitored_models(session=session, scope=scope)
    assert full_scans(engine, statements, ["alert", "alert_contact_log"]) == []
