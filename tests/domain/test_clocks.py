"""Case clocks on hand-computed fixtures.

The calendar is New York, Monday-Friday 09:00-17:00, no holidays; the week is Monday 12 January 2026.
The test policy has round numbers so every expectation can be checked on paper: first response
60 calendar minutes, resolution 1 business day (480 business minutes), Severity 1 goal 15 minutes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from domain.clocks import CLOCK_COLUMNS, business_minutes_left, compute_clocks
from domain.sla import DEFAULT_WEEKLY_HOURS, BusinessCalendar, calendar_from_region
from domain.tiers import DEFAULT_POLICIES

NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Policy:
    first_response_minutes: float
    resolution_business_days: float
    sev1_goal_minutes: float


POLICY = Policy(first_response_minutes=60, resolution_business_days=1, sev1_goal_minutes=15)
POLICIES = {"enterprise": POLICY, "basic": POLICY}
CALENDARS = {"NA": BusinessCalendar("America/New_York", DEFAULT_WEEKLY_HOURS)}


def ny(day: int, hour: int, minute: int = 0, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK)


MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY = 12, 13, 14, 15, 16, 17


def case(case_id: int, opened: datetime, **overrides: object) -> dict[str, object]:
    row = {
        "case_id": case_id,
        "tier": "enterprise",
        "severity": 3,
        "is_outage": False,
        "status": "open",
        "region": "NA",
        "opened_at": opened,
    }
    return row | overrides


def status_change(case_id: int, at: datetime, from_status: str, to_status: str) -> dict:
    return {
        "case_id": case_id,
        "at": at,
        "kind": "status",
        "from_status": from_status,
        "to_status": to_status,
    }


def reply(case_id: int, at: datetime) -> dict:
    return {"case_id": case_id, "at": at, "kind": "public_reply", "from_status": None}


def clocks_at(now: datetime, cases: list[dict], events: list[dict] = ()) -> pd.DataFrame:
    case_frame = pd.DataFrame(cases)
    case_frame["opened_at"] = pd.to_datetime(case_frame["opened_at"], utc=True)
    event_frame = pd.DataFrame(
        list(events), columns=["case_id", "at", "kind", "from_status", "to_status"]
    )
    event_frame["at"] = pd.to_datetime(event_frame["at"], utc=True)
    return compute_clocks(case_frame, event_frame, POLICIES, CALENDARS, now)


def one_clock(now: datetime, opened: datetime, events: list[dict] = (), **case_fields) -> pd.Series:
    return clocks_at(now, [case(1, opened, **case_fields)], events).loc[1]


def utc(moment: datetime) -> pd.Timestamp:
    return pd.Timestamp(moment).tz_convert("UTC")


# --- a plain running case -----------------------------------------------------------------------


def test_running_case_inside_hours() -> None:
    clock = one_clock(ny(MONDAY, 10, 30), opened=ny(MONDAY, 10))
    assert clock["elapsed_minutes"] == 30
    assert clock["fr_due"] == utc(ny(MONDAY, 11))
    assert (clock["fr_state"], clock["fr_remaining_minutes"], clock["fr_consumed"]) == (
        "running",
        30,
        0.5,
    )
    assert pd.isna(clock["fr_at"])
    assert clock["res_target_minutes"] == 480
    assert clock["res_due"] == utc(ny(TUESDAY, 10))
    assert (clock["res_state"], clock["res_business_minutes"], clock["res_remaining_minutes"]) == (
        "running",
        30,
        450,
    )
    assert not clock["at_risk"] and not clock["breached"] and not clock["respond_now"]


def test_columns_and_types() -> None:
    clocks = clocks_at(ny(MONDAY, 10, 30), [case(7, ny(MONDAY, 10))])
    assert list(clocks.columns) == list(CLOCK_COLUMNS)
    assert clocks.index.name == "case_id" and list(clocks.index) == [7]
    for column in ("fr_due", "fr_at", "res_due"):
        assert str(clocks[column].dt.tz) == "UTC"


# --- pending, solved, reopened ------------------------------------------------------------------


def test_pending_interval_pushes_the_due_time_back() -> None:
    events = [
        status_change(1, ny(MONDAY, 11), "open", "pending_customer"),
        status_change(1, ny(MONDAY, 15), "pending_customer", "open"),
    ]
    clock = one_clock(ny(TUESDAY, 12), opened=ny(MONDAY, 10), events=events)
    assert clock["res_paused_minutes"] == 240  # Monday 11:00-15:00
    assert clock["res_business_minutes"] == 60 + 120 + 180  # Mon 10-11, Mon 15-17, Tue 9-12
    assert clock["res_due"] == utc(ny(TUESDAY, 14))  # 480 + 240 from Monday 10:00
    assert clock["res_remaining_minutes"] == 120
    assert clock["res_state"] == "running"


def test_open_pending_interval_counts_up_to_now() -> None:
    events = [
        reply(1, ny(MONDAY, 10, 30)),
        status_change(1, ny(MONDAY, 11), "open", "pending_customer"),
    ]
    clock = one_clock(
        ny(TUESDAY, 12), opened=ny(MONDAY, 10), events=events, status="pending_customer"
    )
    assert clock["res_state"] == "paused"
    assert clock["res_paused_minutes"] == 360 + 180  # Mon 11-17, Tue 9-12
    assert clock["res_business_minutes"] == 60
    assert clock["res_due"] == utc(ny(WEDNESDAY, 11))  # 480 + 540 from Monday 10:00
    assert not clock["at_risk"] and not clock["breached"]


def test_reopened_case_does_not_count_the_solved_spell() -> None:
    events = [
        status_change(1, ny(MONDAY, 12), "open", "solved"),
        status_change(1, ny(TUESDAY, 10), "solved", "open"),
        status_change(1, ny(TUESDAY, 11), "open", "solved"),
        status_change(1, ny(WEDNESDAY, 9), "solved", "closed"),
    ]
    clock = one_clock(ny(THURSDAY, 12), opened=ny(MONDAY, 10), events=events, status="closed")
    assert clock["res_business_minutes"] == 120 + 60  # Mon 10-12, Tue 10-11
    assert clock["res_paused_minutes"] == 300 + 60  # Mon 12-17, Tue 9-10
    assert clock["res_due"] == utc(ny(TUESDAY, 16))  # 480 + 360 from Monday 10:00
    assert (clock["res_state"], clock["res_remaining_minutes"]) == ("met", 300)


def test_reopened_case_is_running_again() -> None:
    events = [
        status_change(1, ny(MONDAY, 12), "open", "solved"),
        status_change(1, ny(TUESDAY, 10), "solved", "open"),
    ]
    clock = one_clock(ny(TUESDAY, 11), opened=ny(MONDAY, 10), events=events)
    assert clock["res_state"] == "running"
    assert clock["res_business_minutes"] == 120 + 60


def test_events_may_arrive_in_any_order_and_for_unknown_cases() -> None:
    events = [
        status_change(1, ny(MONDAY, 15), "pending_customer", "open"),
        status_change(99, ny(MONDAY, 9), "open", "solved"),
        status_change(1, ny(MONDAY, 11), "open", "pending_customer"),
    ]
    clock = one_clock(ny(TUESDAY, 12), opened=ny(MONDAY, 10), events=events)
    assert clock["res_paused_minutes"] == 240


# --- Severity 1 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "state", "remaining", "shown"),
    [
        (ny(MONDAY, 10, 10), "running", 5, "respond_now"),
        (ny(MONDAY, 10, 12), "running", 3, "respond_now"),
        (ny(MONDAY, 10, 20), "breached", -5, "respond_now_late"),
    ],
)
def test_severity_1_runs_against_the_internal_goal_and_is_never_breached_for_response(
    now: datetime, state: str, remaining: float, shown: str
) -> None:
    clock = one_clock(now, opened=ny(MONDAY, 10), severity=1, tier="basic")
    assert clock["fr_target_minutes"] == POLICY.sev1_goal_minutes
    assert (clock["fr_state"], clock["fr_remaining_minutes"]) == (state, remaining)
    assert clock["respond_now"]
    assert (clock["clock"], clock["state"]) == ("respond_now", shown)
    # No response target applies to severity 1: a missed goal is not an SLA breach.
    assert not clock["at_risk"] and not clock["breached"]


def test_severity_1_answered_after_the_goal_shows_its_resolution_clock() -> None:
    clock = one_clock(
        ny(MONDAY, 11), opened=ny(MONDAY, 10), events=[reply(1, ny(MONDAY, 10, 40))], severity=1
    )
    assert clock["fr_state"] == "breached"  # the missed goal stays for attainment
    assert (clock["clock"], clock["state"]) == ("resolution", "on_track")
    assert not clock["breached"]


def test_severity_1_answered_in_time() -> None:
    clock = one_clock(
        ny(MONDAY, 11), opened=ny(MONDAY, 10), events=[reply(1, ny(MONDAY, 10, 14))], severity=1
    )
    assert clock["fr_state"] == "met"
    assert clock["fr_at"] == utc(ny(MONDAY, 10, 14))
    assert not clock["respond_now"]
    assert math.isnan(clock["fr_remaining_minutes"])


def test_an_outage_keeps_its_tier_target() -> None:
    clock = one_clock(ny(MONDAY, 10, 10), opened=ny(MONDAY, 10), is_outage=True)
    assert clock["fr_target_minutes"] == POLICY.first_response_minutes
    assert not clock["respond_now"]


# --- transfers ------------------------------------------------------------------------------------


def test_transferred_case_is_excluded_even_after_it_comes_back() -> None:
    events = [
        reply(1, ny(MONDAY, 10, 5)),
        status_change(1, ny(MONDAY, 11), "open", "transferred_l2"),
        status_change(1, ny(TUESDAY, 10), "transferred_l2", "open"),
    ]
    clock = one_clock(ny(THURSDAY, 12), opened=ny(MONDAY, 10), events=events)
    assert clock["res_state"] == "excluded"
    assert clock["res_remaining_minutes"] < 0  # late, but left out of the statistics
    assert not clock["breached"]


def test_case_currently_with_l3_is_excluded() -> None:
    events = [
        reply(1, ny(MONDAY, 10, 5)),
        status_change(1, ny(MONDAY, 11), "open", "transferred_l3"),
    ]
    clock = one_clock(ny(MONDAY, 12), opened=ny(MONDAY, 10), events=events, status="transferred_l3")
    assert clock["res_state"] == "excluded"
    assert not clock["at_risk"]
    assert clock["state"] == "with_l3"


# --- outside hours ------------------------------------------------------------------------------


def test_case_opened_outside_hours() -> None:
    clock = one_clock(ny(MONDAY + 7, 9, 30), opened=ny(SATURDAY, 10))
    assert clock["fr_due"] == utc(ny(SATURDAY, 11))  # first response is 24/7
    assert clock["fr_state"] == "breached"
    assert clock["fr_remaining_minutes"] == -(46 * 60 + 30)
    assert clock["res_due"] == utc(ny(MONDAY + 7, 17))  # counting starts Monday 09:00
    assert clock["res_business_minutes"] == 30


# --- met and breached ---------------------------------------------------------------------------


def test_late_reply_breaches_and_says_by_how_much() -> None:
    clock = one_clock(ny(MONDAY, 12), opened=ny(MONDAY, 10), events=[reply(1, ny(MONDAY, 11, 20))])
    assert clock["fr_state"] == "breached"
    assert clock["fr_remaining_minutes"] == -20
    assert clock["fr_consumed"] == pytest.approx(80 / 60)
    # After the reply the row follows the resolution clock, which is on track.
    assert (clock["clock"], clock["state"]) == ("resolution", "on_track")
    assert not clock["breached"]


def test_unanswered_case_past_its_first_response_target_is_breached() -> None:
    clock = one_clock(ny(MONDAY, 11, 5), opened=ny(MONDAY, 10))
    assert (clock["clock"], clock["state"]) == ("first_response", "breached")
    assert clock["breached"]


def test_solved_exactly_at_due_is_met_and_a_minute_later_is_breached() -> None:
    on_time = [reply(1, ny(MONDAY, 10, 30)), status_change(1, ny(TUESDAY, 10), "open", "solved")]
    late = [reply(2, ny(MONDAY, 10, 30)), status_change(2, ny(TUESDAY, 10, 1), "open", "solved")]
    clocks = clocks_at(
        ny(FRIDAY, 12),
        [case(1, ny(MONDAY, 10), status="solved"), case(2, ny(MONDAY, 10), status="solved")],
        on_time + late,
    )
    assert list(clocks["res_state"]) == ["met", "breached"]
    assert list(clocks["res_remaining_minutes"]) == [0, -1]
    assert list(clocks["breached"]) == [False, True]


def test_past_due_outside_hours_is_breached() -> None:
    events = [reply(1, ny(FRIDAY, 9, 30))]
    clock = one_clock(ny(SATURDAY, 10), opened=ny(FRIDAY, 9), events=events)
    assert clock["res_due"] == utc(ny(FRIDAY, 17))
    assert (clock["res_state"], clock["res_remaining_minutes"]) == ("breached", 0)
    assert clock["breached"]


def test_clock_paused_after_its_due_time_stays_breached() -> None:
    events = [
        reply(1, ny(MONDAY, 10, 5)),
        status_change(1, ny(TUESDAY, 11), "open", "pending_customer"),
    ]
    clock = one_clock(
        ny(WEDNESDAY, 12), opened=ny(MONDAY, 10), events=events, status="pending_customer"
    )
    assert clock["res_state"] == "paused"
    assert clock["res_remaining_minutes"] == -60
    assert clock["breached"] and clock["state"] == "breached"


def test_solved_without_reply_stops_first_response_at_the_solve() -> None:
    events = [status_change(1, ny(MONDAY, 10, 40), "open", "solved")]
    clock = one_clock(ny(TUESDAY, 12), opened=ny(MONDAY, 10), events=events, status="solved")
    assert clock["fr_state"] == "met"
    assert pd.isna(clock["fr_at"])
    assert clock["fr_consumed"] == pytest.approx(40 / 60)


# --- at risk --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("minute", "at_risk"), [(0, False), (1, True)])
def test_at_risk_below_a_quarter_of_the_target(minute: int, at_risk: bool) -> None:
    # Opened 09:00 with a reply at once; by 15:00 360 of 480 minutes are used, 120 (25 %) left.
    events = [reply(1, ny(MONDAY, 9))]
    clock = one_clock(ny(MONDAY, 15, minute), opened=ny(MONDAY, 9), events=events)
    assert clock["res_remaining_minutes"] == 120 - minute
    assert clock["at_risk"] == at_risk


# --- policies, regions, validation --------------------------------------------------------------


def test_default_tier_policies_and_region_calendars() -> None:
    policies = {policy.tier: policy for policy in DEFAULT_POLICIES}
    calendars = {
        "APAC": calendar_from_region("Asia/Singapore", "SG"),
        "NA": calendar_from_region("America/New_York", "US"),
    }
    cases = pd.DataFrame(
        [
            case(1, ny(MONDAY, 10), tier="basic", region="APAC"),
            case(2, ny(MONDAY, 10), tier="professional", region="NA"),
        ]
    )
    events = pd.DataFrame(columns=["case_id", "at", "kind", "from_status", "to_status"])
    clocks = compute_clocks(cases, events, policies, calendars, ny(MONDAY, 10, 30))
    for case_id, tier in [(1, "basic"), (2, "professional")]:
        policy = policies[tier]
        assert clocks.loc[case_id, "fr_target_minutes"] == policy.first_response_minutes
        assert clocks.loc[case_id, "res_target_minutes"] == policy.resolution_business_days * 480
    # Monday 10:00 in New York is 23:00 in Singapore: APAC starts counting on Tuesday.
    assert clocks.loc[1, "res_business_minutes"] == 0
    assert clocks.loc[2, "res_business_minutes"] == 30


def test_no_cases_gives_an_empty_frame() -> None:
    cases = pd.DataFrame(columns=list(case(1, ny(MONDAY, 10))))
    cases["opened_at"] = pd.to_datetime(cases["opened_at"], utc=True)
    events = pd.DataFrame(columns=["case_id", "at", "kind", "from_status", "to_status"])
    clocks = compute_clocks(cases, events, POLICIES, CALENDARS, ny(MONDAY, 10))
    assert clocks.empty and list(clocks.columns) == list(CLOCK_COLUMNS)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"region": "MARS"}, "No business calendar"),
        ({"tier": "platinum"}, "No tier policy"),
        ({"status": "archived"}, "Unknown case statuses"),
    ],
)
def test_unknown_references_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        one_clock(ny(MONDAY, 11), opened=ny(MONDAY, 10), **overrides)


def test_duplicate_cases_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="once"):
        clocks_at(ny(MONDAY, 11), [case(1, ny(MONDAY, 10)), case(1, ny(MONDAY, 10))])
    naive = pd.DataFrame([case(1, datetime(2026, 1, 12, 10))])
    events = pd.DataFrame(columns=["case_id", "at", "kind", "from_status", "to_status"])
    with pytest.raises(ValueError, match="aware"):
        compute_clocks(naive, events, POLICIES, CALENDARS, ny(MONDAY, 11))
    with pytest.raises(ValueError, match="aware"):
        clocks_at(datetime(2026, 1, 12, 11), [case(1, ny(MONDAY, 10))])


# --- the vectorised plumbing against a case-by-case reference ------------------------------------


def _reference_resolution(
    calendar: BusinessCalendar, opened: datetime, changes: list[tuple], status: str, now: datetime
) -> tuple[float, datetime]:
    """Business minutes and due time of one case with scalar calendar calls."""
    timeline = [(opened, changes[0][1] if changes else status)]
    timeline += [(at, to) for at, _, to in changes]
    timeline[-1] = (timeline[-1][0], status)
    stop = now
    if status in ("solved", "closed"):
        stop = next(
            at
            for index, (at, state) in enumerate(timeline)
            if state in ("solved", "closed")
            and all(later in ("solved", "closed") for _, later in timeline[index:])
        )
    paused = 0.0
    for (start, state), (end, _) in zip(timeline, [*timeline[1:], (stop, None)], strict=True):
        if state in ("pending_customer", "solved", "closed"):
            paused += calendar.business_minutes_between(max(start, opened), min(end, stop))
    business = calendar.business_minutes_between(opened, stop) - paused
    return business, calendar.add_business_minutes(opened, 480 + paused)


def test_vectorised_clocks_match_a_case_by_case_reference() -> None:
    rng = random.Random(7)
    calendar = CALENDARS["NA"]
    now = ny(FRIDAY, 15, month=2)
    cases, events, changes_by_case = [], [], {}
    for case_id in range(1, 121):
        opened = ny(MONDAY, 0) + timedelta(minutes=rng.randrange(0, 14 * 24 * 60))
        at, state, changes = opened, "open", []
        for _ in range(rng.randrange(0, 6)):
            at += timedelta(minutes=rng.randrange(1, 3 * 24 * 60))
            following = rng.choice(
                [s for s in ("open", "pending_customer", "solved", "closed") if s != state]
            )
            changes.append((at, state, following))
            events.append(status_change(case_id, at, state, following))
            state = following
        cases.append(case(case_id, opened, status=state))
        changes_by_case[case_id] = changes
    rng.shuffle(events)
    clocks = clocks_at(now, cases, events)
    for row in cases:
        business, due = _reference_resolution(
            calendar, row["opened_at"], changes_by_case[row["case_id"]], row["status"], now
        )
        clock = clocks.loc[row["case_id"]]
        assert clock["res_business_minutes"] == pytest.approx(business, abs=1e-6)
        assert clock["res_due"] == pd.Timestamp(due)


# --- business time left ---------------------------------------------------------------------------


def test_business_minutes_left_is_flat_outside_hours_and_over_a_short_pause() -> None:
    due = pd.Series([utc(ny(TUESDAY, 10))])
    due_business = pd.Series(CALENDARS["NA"].to_business_minutes(due))
    regions = pd.Series(["NA"])
    evening = business_minutes_left(due_business, regions, CALENDARS, ny(MONDAY, 18))
    night = business_minutes_left(due_business, regions, CALENDARS, ny(TUESDAY, 3))
    assert list(evening) == list(night) == [60]
    # Read 90 seconds into the working day: 90 seconds less, not a jump of a night.
    morning = business_minutes_left(
        due_business, regions, CALENDARS, ny(TUESDAY, 9) + timedelta(seconds=90)
    )
    assert morning.iloc[0] == pytest.approx(58.5)
