"""Calendar administration commands and the preview helpers, on SQLite and PostgreSQL.

The region is Europe/London with GB holidays, Monday-Friday 09:00-17:00; dates are in March and
April 2026 (GMT until 29 March; Good Friday is 3 April 2026).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from types import SimpleNamespace

import pandas as pd
import pytest
from sqlalchemy import func
from sqlmodel import select

from data_access import calendar_commands as calendars
from data_access.audit import CommandRefused
from data_access.calendars import region_calendars
from data_access.models import AuditLog, BusinessHours, Region, RegionClosure
from tests.data_access.actors import admin

NINE_TO_FIVE = {weekday: [(time(9), time(17))] for weekday in range(5)}
GOOD_FRIDAY = date(2026, 4, 3)
TUESDAY = date(2026, 3, 3)


@pytest.fixture
def region_id(session) -> int:
    region = Region(code="UK", name="UK", timezone="Europe/London", holiday_country="GB")
    session.add(region)
    session.flush()
    for weekday, periods in NINE_TO_FIVE.items():
        for opens, closes in periods:
            session.add(
                BusinessHours(region_id=region.id, weekday=weekday, opens=opens, closes=closes)
            )
    session.commit()
    return region.id


def audit_count(session) -> int:
    return session.exec(select(func.count()).select_from(AuditLog)).one()


def last_audit(session) -> AuditLog:
    return session.exec(select(AuditLog).order_by(AuditLog.id.desc())).first()


# --- weekly hours -----------------------------------------------------------------------------


def test_set_weekly_hours_replaces_the_rows_and_audits(session, region_id):
    split_monday = {
        0: [(time(13), time(17)), (time(9), time(12))],
        5: [(time(10), time(14))],
    }
    saved = calendars.set_weekly_hours(
        session=session, actor=admin(session), region_id=region_id, hours=split_monday
    )
    session.commit()
    assert saved == {0: [(time(9), time(12)), (time(13), time(17))], 5: [(time(10), time(14))]}
    assert calendars.weekly_hours_of(session=session, region_id=region_id) == saved
    audit = last_audit(session)
    assert (audit.action, audit.entity, audit.entity_id) == (
        "set_weekly_hours",
        "region",
        str(region_id),
    )
    detail = json.loads(audit.detail)
    assert detail["from"]["Tuesday"] == ["09:00-17:00"]
    assert detail["to"] == {"Monday": ["09:00-12:00", "13:00-17:00"], "Saturday": ["10:00-14:00"]}
    calendar = region_calendars(session=session, today=TUESDAY)["UK"]
    assert calendar.weekly_hours == {
        0: ((time(9), time(12)), (time(13), time(17))),
        5: ((time(10), time(14)),),
    }


def test_saving_the_same_hours_writes_nothing(session, region_id):
    before = audit_count(session)
    calendars.set_weekly_hours(
        session=session, actor=admin(session), region_id=region_id, hours=NINE_TO_FIVE
    )
    session.commit()
    assert audit_count(session) == before


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({}, "A business calendar needs at least one working period in the week."),
        ({0: []}, "A business calendar needs at least one working period in the week."),
        ({0: [(time(9), time(13)), (time(12), time(17))]}, "Monday: working periods overlap."),
        (
            {2: [(time(17), time(9))]},
            "Wednesday: period 17:00:00-09:00:00 must open before it closes.",
        ),
        ({7: [(time(9), time(17))]}, "Weekday keys are 0 (Monday) to 6 (Sunday), not 7."),
        ({0: [("9am", "5pm")]}, "Monday: period ('9am', '5pm') must be two datetime.time values."),
    ],
)
def test_invalid_hours_are_refused_and_nothing_written(session, region_id, hours, message):
    before = audit_count(session)
    with pytest.raises(CommandRefused) as refused:
        calendars.set_weekly_hours(
            session=session, actor=admin(session), region_id=region_id, hours=hours
        )
    assert str(refused.value) == message
    session.rollback()
    assert calendars.weekly_hours_of(session=session, region_id=region_id) == NINE_TO_FIVE
    assert audit_count(session) == before


def test_unknown_region_is_refused(session, region_id):
    with pytest.raises(CommandRefused, match="There is no region with id 9999."):
        calendars.set_weekly_hours(
            session=session, actor=admin(session), region_id=9999, hours=NINE_TO_FIVE
        )


def test_hours_from_editor_rows():
    rows = pd.DataFrame(
        {
            "weekday": ["Monday", "Monday", None, "Saturday"],
            "opens": [time(13), time(9), None, pd.Timestamp("2026-01-01 10:00")],
            "closes": [time(17), time(12), None, "14:30"],
        }
    )
    assert calendars.hours_from_rows(rows) == {
        0: [(time(13), time(17)), (time(9), time(12))],
        5: [(time(10), time(14, 30))],
    }
    with pytest.raises(CommandRefused, match="needs a weekday, opens and closes"):
        calendars.hours_from_rows(
            pd.DataFrame({"weekday": ["Monday"], "opens": [time(9)], "closes": [None]})
        )
    with pytest.raises(CommandRefused, match="'Funday' is not a weekday."):
        calendars.hours_from_rows(
            pd.DataFrame({"weekday": ["Funday"], "opens": [time(9)], "closes": [time(17)]})
        )


def test_weekly_hours_frame_round_trips_through_the_editor_rows(session, region_id):
    frame = calendars.weekly_hours_frame(session=session, region_id=region_id)
    assert list(frame.columns) == ["weekday", "opens", "closes"]
    assert frame["weekday"].tolist() == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    assert calendars.hours_from_rows(frame) == NINE_TO_FIVE


# --- time zone and holiday country ------------------------------------------------------------


def test_set_timezone(session, region_id):
    calendars.set_timezone(
        session=session, actor=admin(session), region_id=region_id, timezone="Europe/Dublin"
    )
    session.commit()
    assert session.get(Region, region_id).timezone == "Europe/Dublin"
    assert json.loads(last_audit(session).detail) == {
        "from": "Europe/London",
        "to": "Europe/Dublin",
    }
    with pytest.raises(CommandRefused, match="^'Mars/Olympus' is not a known time zone.$"):
        calendars.set_timezone(
            session=session, actor=admin(session), region_id=region_id, timezone="Mars/Olympus"
        )


def test_set_holiday_country(session, region_id):
    calendars.set_holiday_country(
        session=session, actor=admin(session), region_id=region_id, country="gb", subdivision="sct"
    )
    session.commit()
    region = session.get(Region, region_id)
    assert (region.holiday_country, region.holiday_subdivision) == ("GB", "SCT")
    assert last_audit(session).action == "set_holiday_country"
    # St Andrew's Day is a holiday in Scotland only.
    calendar = region_calendars(session=session, today=TUESDAY)["UK"]
    assert date(2026, 11, 30) in calendar.holidays
    before = audit_count(session)
    for country, subdivision, message in [
        ("XX", None, "The holidays package does not know the country 'XX'."),
        ("", None, "The holidays package does not know the country ''."),
        ("GB", "ZZ", "'ZZ' is not a subdivision of GB in the holidays package."),
    ]:
        with pytest.raises(CommandRefused) as refused:
            calendars.set_holiday_country(
                session=session,
                actor=admin(session),
                region_id=region_id,
                country=country,
                subdivision=subdivision,
            )
        assert str(refused.value) == message
        session.rollback()
    assert audit_count(session) == before
    assert session.get(Region, region_id).holiday_country == "GB"


def test_holiday_country_list_names_the_countries():
    countries = calendars.holiday_countries()
    assert countries["GB"] == "United Kingdom" and countries["SG"] == "Singapore"
    assert all(len(code) == 2 for code in countries)
    assert "SCT" in calendars.holiday_subdivisions("GB")


# --- closures and worked holidays -------------------------------------------------------------


def test_closure_and_worked_holiday_change_the_calendar(session, region_id):
    calendars.add_closure(
        session=session,
        actor=admin(session),
        region_id=region_id,
        day=TUESDAY,
        reason="Office move",
    )
    calendars.add_closure(
        session=session,
        actor=admin(session),
        region_id=region_id,
        day=GOOD_FRIDAY,
        reason="Quarter-end cover",
        is_open=True,
    )
    session.commit()
    actions = session.exec(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions[-2:] == ["add_closure", "add_worked_holiday"]
    calendar = region_calendars(session=session, today=TUESDAY)["UK"]
    assert TUESDAY in calendar.holidays and GOOD_FRIDAY not in calendar.holidays
    frame = calendars.closures_frame(session=session, region_id=region_id)
    assert frame.to_dict("records") == [
        {"day": TUESDAY, "reason": "Office move", "is_open": False},
        {"day": GOOD_FRIDAY, "reason": "Quarter-end cover", "is_open": True},
    ]

    calendars.remove_closure(
        session=session, actor=admin(session), region_id=region_id, day=TUESDAY
    )
    session.commit()
    assert last_audit(session).action == "remove_closure"
    assert session.exec(select(func.count()).select_from(RegionClosure)).one() == 1


@pytest.mark.parametrize(
    ("day", "reason", "is_open", "message"),
    [
        (TUESDAY, " ", False, "Give a reason for the closure or worked holiday."),
        (TUESDAY, "x" * 201, False, "The reason can be at most 200 characters."),
        (None, "Why", False, "Choose a day."),
        (GOOD_FRIDAY, "Why", False, "3 Apr 2026 is already a public holiday (Good Friday)."),
        (
            TUESDAY,
            "Why",
            True,
            "3 Mar 2026 is not a public holiday in GB, so there is nothing to work on.",
        ),
    ],
)
def test_invalid_closure_is_refused(session, region_id, day, reason, is_open, message):
    with pytest.raises(CommandRefused) as refused:
        calendars.add_closure(
            session=session,
            actor=admin(session),
            region_id=region_id,
            day=day,
            reason=reason,
            is_open=is_open,
        )
    assert str(refused.value) == message
    session.rollback()
    assert session.exec(select(func.count()).select_from(RegionClosure)).one() == 0


def test_second_entry_for_a_day_and_missing_removal_are_refused(session, region_id):
    calendars.add_closure(
        session=session, actor=admin(session), region_id=region_id, day=TUESDAY, reason="A"
    )
    session.commit()
    with pytest.raises(CommandRefused, match="^UK already has an entry for 3 Mar 2026.$"):
        calendars.add_closure(
            session=session, actor=admin(session), region_id=region_id, day=TUESDAY, reason="B"
        )
    session.rollback()
    with pytest.raises(
        CommandRefused, match="^UK has no closure or worked holiday on 4 Mar 2026.$"
    ):
        calendars.remove_closure(
            session=session, actor=admin(session), region_id=region_id, day=date(2026, 3, 4)
        )


# --- preview ----------------------------------------------------------------------------------

POLICIES = {
    "fast": SimpleNamespace(first_response_minutes=60, resolution_business_days=3),
    "slow": SimpleNamespace(first_response_minutes=120, resolution_business_days=10),
}
MONDAY_10 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def no_closures() -> pd.DataFrame:
    return pd.DataFrame({"day": [], "reason": [], "is_open": []})


def test_due_preview_on_hand_computed_times():
    calendar = calendars.preview_calendar(
        timezone="Europe/London",
        country="GB",
        subdivision=None,
        hours=NINE_TO_FIVE,
        closures=no_closures(),
        today=MONDAY_10.date(),
    )
    due = calendars.due_preview(
        calendar=calendar, policies=POLICIES, labels={"fast": "Fast"}, now=MONDAY_10
    ).set_index("tier")
    assert list(due.index) == ["slow", "fast"]
    assert due.loc["fast", "tier_label"] == "Fast" and due.loc["slow", "tier_label"] == "slow"
    assert due.loc["fast", "first_response_due"] == datetime(2026, 3, 2, 11, tzinfo=UTC)
    # 3 x 480 = 1440: Monday 10-17 (420), Tuesday (480), Wednesday (480), Thursday 9-10 (60).
    assert due.loc["fast", "resolution_due"] == datetime(2026, 3, 5, 10, tzinfo=UTC)
    # 10 days = two weeks to the minute; Good Friday is later, so Monday 16 March 10:00.
    assert due.loc["slow", "resolution_due"] == datetime(2026, 3, 16, 10, tzinfo=UTC)


def test_preview_uses_unsaved_hours_and_closures():
    closures = pd.DataFrame({"day": [TUESDAY], "reason": ["Move"], "is_open": [False]})
    round_the_clock = {weekday: [(time(0), time(0))] for weekday in range(7)}
    calendar = calendars.preview_calendar(
        timezone="Europe/London",
        country="GB",
        subdivision=None,
        hours=round_the_clock,
        closures=closures,
        today=MONDAY_10.date(),
    )
    due = calendars.due_preview(calendar=calendar, policies=POLICIES, labels={}, now=MONDAY_10)
    fast = due.set_index("tier").loc["fast", "resolution_due"]
    # 3 x 24h from Monday 10:00 with all of Tuesday closed: Thursday 10:00 + 24h = Friday 10:00.
    assert fast == datetime(2026, 3, 6, 10, tzinfo=UTC)
    with pytest.raises(CommandRefused, match="Monday: working periods overlap."):
        calendars.preview_calendar(
            timezone="Europe/London",
            country="GB",
            subdivision=None,
            hours={0: [(time(9), time(13)), (time(12), time(17))]},
            closures=no_closures(),
            today=MONDAY_10.date(),
        )
    with pytest.raises(CommandRefused, match="is not a known time zone"):
        calendars.preview_calendar(
            timezone="Nowhere/Else",
            country="GB",
            subdivision=None,
            hours=NINE_TO_FIVE,
            closures=no_closures(),
            today=MONDAY_10.date(),
        )


def test_coming_holidays_flag_worked_ones():
    closures = pd.DataFrame({"day": [GOOD_FRIDAY], "reason": ["Cover"], "is_open": [True]})
    coming = calendars.coming_holidays(
        country="GB", subdivision=None, closures=closures, today=date(2026, 3, 1), count=3
    )
    assert coming.to_dict("records") == [
        {"day": GOOD_FRIDAY, "name": "Good Friday", "worked": True},
        {"day": date(2026, 5, 4), "name": "May Day", "worked": False},
        {"day": date(2026, 5, 25), "name": "Spring Bank Holiday", "worked": False},
    ]
