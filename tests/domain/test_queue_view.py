"""How the queue reads between page runs: the viewer's week and the live countdowns."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from domain import queue_view
from domain.sla import DEFAULT_WEEKLY_HOURS, BusinessCalendar
from tests.conftest import SEED_TODAY

NOW = datetime.combine(SEED_TODAY, time(12, 0), tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # Wednesday afternoon in London (GMT in November).
        (datetime(2026, 11, 25, 15, 0, tzinfo=UTC), "Europe/London", datetime(2026, 11, 23, 0, 0)),
        # Monday 03:00 UTC is still Sunday evening in New York: that week began the Monday before.
        (datetime(2026, 11, 23, 3, 0, tzinfo=UTC), "America/New_York", datetime(2026, 11, 16, 5)),
        # Sunday 20:00 UTC is already Monday in Singapore: a new week there.
        (datetime(2026, 11, 22, 20, 0, tzinfo=UTC), "Asia/Singapore", datetime(2026, 11, 22, 16)),
    ],
)
def test_the_week_starts_on_monday_in_the_viewers_zone(now, zone, expected):
    assert queue_view.week_start(now, zone) == expected.replace(tzinfo=UTC)


UTC_CALENDARS = {"NA": BusinessCalendar("UTC", DEFAULT_WEEKLY_HOURS)}


def live_row(**values) -> dict:
    row = {
        "case_id": 1,
        "opened_at": NOW - timedelta(minutes=30),
        "status": "open",
        "region": "NA",
        "clock": "first_response",
        "due": NOW + timedelta(minutes=10),
        "fr_target_minutes": 60.0,
        "res_state": "running",
        "res_target_minutes": 2400.0,
        "res_remaining_minutes": np.nan,
        "minutes_per_day": 480.0,
    }
    return row | values


def live_frame(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    for column in ("opened_at", "due"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["due_business"] = UTC_CALENDARS["NA"].to_business_minutes(frame["due"])
    return frame


def test_live_countdowns_move_with_the_clock_only():
    # NOW is Monday 12:00 UTC; the calendar works Monday to Friday 09:00-17:00 UTC.
    frame = live_frame(
        live_row(case_id=1, due=NOW + timedelta(minutes=20)),
        live_row(case_id=2, clock="resolution", due=NOW + timedelta(hours=2, minutes=14)),
        live_row(
            case_id=3,
            clock="resolution",
            res_state="paused",
            status="pending_customer",
            res_remaining_minutes=900.0,
        ),
        live_row(case_id=4, clock="resolution", res_state="excluded", status="transferred_l3"),
        live_row(case_id=5, clock="respond_now", due=NOW + timedelta(minutes=5)),
        live_row(case_id=6, due=NOW + timedelta(minutes=3)),
        # Due Tuesday 15:00: 5h today and 6h tomorrow of business time, not 27 wall hours.
        live_row(case_id=7, clock="resolution", due=NOW + timedelta(hours=27)),
    )
    now = queue_view.live_countdowns(frame, NOW, UTC_CALENDARS)
    assert list(now["countdown"]) == [
        "20m left",
        "2h 14m left",
        "Paused: pending customer",
        "Excluded: with L2/L3",
        "Respond now · open 30m",
        "3m left",
        "1 bd 3h left",
    ]
    assert list(now["state"]) == [
        queue_view.ON_TRACK,
        queue_view.AT_RISK,  # 134 of 2,400 business minutes left
        queue_view.PAUSED,
        "🔵 With L3",
        queue_view.RESPOND_NOW_IN_GOAL,
        queue_view.AT_RISK,
        queue_view.ON_TRACK,
    ]
    later = queue_view.live_countdowns(frame, NOW + timedelta(minutes=45), UTC_CALENDARS)
    assert list(later["countdown"]) == [
        "overdue by 25m",
        "1h 29m left",
        "Paused: pending customer",
        "Excluded: with L2/L3",
        "Respond now · open 1h 15m",
        "overdue by 42m",
        "1 bd 2h left",
    ]
    assert list(later["state"]) == [
        queue_view.BREACHED,
        queue_view.AT_RISK,
        queue_view.PAUSED,
        "🔵 With L3",
        queue_view.RESPOND_NOW_LATE,
        queue_view.BREACHED,
        queue_view.ON_TRACK,
    ]
    assert later["remaining_minutes"].iloc[0] == pytest.approx(-25)
    assert later["remaining_minutes"].iloc[2:4].isna().all()
    # Overnight no business minute passes: the resolution countdowns stand still.
    night = queue_view.live_countdowns(frame, NOW + timedelta(hours=10), UTC_CALENDARS)
    evening = queue_view.live_countdowns(frame, NOW + timedelta(hours=6), UTC_CALENDARS)
    assert night["countdown"].iloc[6] == evening["countdown"].iloc[6] == "6h left"
    assert night["state"].iloc[1] == queue_view.BREACHED  # due 14:14 has passed, by wall clock
