"""Queue order: urgent first, then HyperCare by deadline, then everyone else first come first served."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from domain.clocks import compute_clocks
from domain.queue import (
    FIRST_COME_FIRST_SERVED,
    PRIORITY,
    URGENT,
    order_queue,
    queue_changes,
    search_matches,
)
from domain.sla import DEFAULT_WEEKLY_HOURS, BusinessCalendar
from domain.tiers import DEFAULT_POLICIES, HYPERCARE_TIERS, TIER_LABELS

NOW = datetime(2026, 1, 14, 15, 0, tzinfo=UTC)


def minutes_ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def in_minutes(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def queued_case(
    case_id: int,
    *,
    opened_minutes_ago: float,
    tier: str = "basic",
    severity: int = 3,
    is_outage: bool = False,
    fr_due_in: float | None = None,
    replied: bool = False,
    res_due_in: float = 3000,
    res_state: str = "running",
) -> dict[str, object]:
    fr_due = in_minutes(fr_due_in if fr_due_in is not None else 60 - opened_minutes_ago)
    return {
        "case_id": case_id,
        "tier": tier,
        "severity": severity,
        "is_outage": is_outage,
        "opened_at": minutes_ago(opened_minutes_ago),
        "fr_due": fr_due,
        "fr_at": minutes_ago(1) if replied else None,
        "fr_state": "met" if replied else "running",
        "res_due": in_minutes(res_due_in),
        "res_state": res_state,
        "respond_now": severity == 1 and not replied,
    }


def queue_of(*cases: dict, priority_tiers=HYPERCARE_TIERS) -> pd.DataFrame:
    frame = pd.DataFrame(list(cases))
    for column in ("opened_at", "fr_due", "fr_at", "res_due"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return order_queue(frame, priority_tiers, NOW, tier_labels=TIER_LABELS)


def order(queue: pd.DataFrame) -> list[int]:
    return list(queue["case_id"])


def test_severity_1_basic_case_goes_ahead_of_hypercare() -> None:
    queue = queue_of(
        queued_case(1, opened_minutes_ago=300, tier="enterprise", fr_due_in=-240),
        queued_case(2, opened_minutes_ago=12, tier="basic", severity=1),
    )
    assert order(queue) == [2, 1]
    assert list(queue["queue_group"]) == [URGENT, PRIORITY]
    assert queue["queue_reason"].iloc[0] == "Severity 1 – open 12m"


def test_outage_goes_ahead_of_everything_else() -> None:
    queue = queue_of(
        queued_case(1, opened_minutes_ago=30, tier="enterprise", fr_due_in=1),
        queued_case(2, opened_minutes_ago=65, tier="basic", is_outage=True),
        queued_case(3, opened_minutes_ago=600),
    )
    assert order(queue) == [2, 1, 3]
    assert queue["queue_reason"].iloc[0] == "Outage – open 1h 5m"


def test_urgent_cases_oldest_first() -> None:
    queue = queue_of(
        queued_case(1, opened_minutes_ago=5, severity=1),
        queued_case(2, opened_minutes_ago=50, is_outage=True, tier="enterprise"),
        queued_case(3, opened_minutes_ago=20, severity=1, tier="professional"),
    )
    assert order(queue) == [2, 3, 1]


def test_hypercare_by_earliest_deadline_then_oldest() -> None:
    queue = queue_of(
        queued_case(1, opened_minutes_ago=200, tier="professional", fr_due_in=120),
        queued_case(2, opened_minutes_ago=19, tier="enterprise", fr_due_in=41),
        queued_case(3, opened_minutes_ago=100, tier="enterprise", fr_due_in=-20),
        queued_case(4, opened_minutes_ago=30, tier="professional", fr_due_in=41),
    )
    assert order(queue) == [3, 4, 2, 1]
    reasons = dict(zip(queue["case_id"], queue["queue_reason"], strict=True))
    assert reasons[2] == "HyperCare Enterprise – due in 41m"
    assert reasons[3] == "HyperCare Enterprise – overdue by 20m"
    assert reasons[1] == "HyperCare Professional – due in 2h"


def test_after_the_reply_the_resolution_deadline_counts() -> None:
    queue = queue_of(
        queued_case(1, opened_minutes_ago=600, tier="enterprise", replied=True, res_due_in=90),
        queued_case(2, opened_minutes_ago=10, tier="enterprise", fr_due_in=50),
    )
    assert order(queue) == [2, 1]
    assert queue["queue_reason"].iloc[1] == "HyperCare Enterprise – due in 1h 30m"


def test_hypercare_without_a_running_clock_waits_behind_deadlines() -> None:
    queue = queue_of(
        queued_case(1, opened_minutes_ago=900, tier="enterprise", replied=True, res_state="paused"),
        queued_case(
            2, opened_minutes_ago=800, tier="enterprise", replied=True, res_state="excluded"
        ),
        queued_case(3, opened_minutes_ago=10, tier="professional", replied=True, res_due_in=5000),
    )
    assert order(queue) == [3, 1, 2]
    assert list(queue["queue_reason"].iloc[1:]) == [
        "HyperCare Enterprise – clock paused, waiting on customer",
        "HyperCare Enterprise – with L2/L3, no SLA deadline",
    ]


def test_basic_is_first_come_first_served_regardless_of_deadline() -> None:
    queue = queue_of(
        queued_case(1, opened_minutes_ago=60, fr_due_in=5),
        queued_case(2, opened_minutes_ago=190, fr_due_in=-70),
        queued_case(3, opened_minutes_ago=120, fr_due_in=-300),
    )
    assert order(queue) == [2, 3, 1]
    assert set(queue["queue_group"]) == {FIRST_COME_FIRST_SERVED}
    assert queue["queue_reason"].iloc[0] == "Basic – queued 3h 10m"


def test_priority_comes_from_the_policy_not_the_tier_name() -> None:
    queue = queue_of(
        queued_case(1, opened_minutes_ago=30, tier="enterprise", fr_due_in=5),
        queued_case(2, opened_minutes_ago=60),
        priority_tiers=set(),
    )
    assert order(queue) == [2, 1]
    assert queue["queue_reason"].iloc[1] == "HyperCare Enterprise – queued 30m"


def test_positions_run_from_one_and_columns_are_kept() -> None:
    queue = queue_of(
        queued_case(1, opened_minutes_ago=10),
        queued_case(2, opened_minutes_ago=20, severity=1),
        queued_case(3, opened_minutes_ago=30, tier="enterprise"),
    )
    assert list(queue["queue_position"]) == [1, 2, 3]
    assert {"fr_due", "res_state", "respond_now"} <= set(queue.columns)


def test_ties_fall_back_to_case_number() -> None:
    queue = queue_of(queued_case(9, opened_minutes_ago=10), queued_case(4, opened_minutes_ago=10))
    assert order(queue) == [4, 9]


def test_empty_queue() -> None:
    frame = pd.DataFrame([queued_case(1, opened_minutes_ago=1)]).iloc[0:0]
    queue = order_queue(frame, HYPERCARE_TIERS, NOW, tier_labels=TIER_LABELS)
    assert queue.empty and {"queue_group", "queue_position", "queue_reason"} <= set(queue.columns)


def test_naive_now_is_refused() -> None:
    frame = pd.DataFrame([queued_case(1, opened_minutes_ago=1)])
    with pytest.raises(ValueError, match="aware"):
        order_queue(frame, HYPERCARE_TIERS, datetime(2026, 1, 14, 15), tier_labels=TIER_LABELS)


def test_works_on_compute_clocks_output() -> None:
    policies = {policy.tier: policy for policy in DEFAULT_POLICIES}
    calendars = {"NA": BusinessCalendar("America/New_York", DEFAULT_WEEKLY_HOURS)}
    cases = pd.DataFrame(
        [
            {**queued_case(1, opened_minutes_ago=50), "status": "open", "region": "NA"},
            {
                **queued_case(2, opened_minutes_ago=40, tier="enterprise"),
                "status": "new",
                "region": "NA",
            },
        ]
    )[["case_id", "tier", "severity", "is_outage", "status", "region", "opened_at"]]
    cases["opened_at"] = pd.to_datetime(cases["opened_at"], utc=True)
    events = pd.DataFrame(columns=["case_id", "at", "kind", "from_status", "to_status"])
    clocks = compute_clocks(cases, events, policies, calendars, NOW)
    queue = order_queue(
        cases.join(clocks, on="case_id"), HYPERCARE_TIERS, NOW, tier_labels=TIER_LABELS
    )
    enterprise_minutes = policies["enterprise"].first_response_minutes
    assert order(queue) == [2, 1]
    assert queue["queue_reason"].iloc[0] == (
        f"HyperCare Enterprise – due in {enterprise_minutes - 40}m"
    )


# --- live queue: what a poll of recently written cases means -------------------------------------

OPEN = ("new", "open", "pending_customer", "transferred_l2", "transferred_l3")


def poll(*rows: tuple) -> pd.DataFrame:
    frame = pd.DataFrame(
        list(rows),
        columns=["case_id", "updated_at", "status", "severity", "is_outage", "customer"],
    )
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
    return frame


def test_a_new_case_gets_a_toast_and_the_queue_is_read_again() -> None:
    changes = queue_changes(
        {},
        poll(
            (5011, minutes_ago(1), "new", 1, False, "Tailspin Logistics"),
            (5012, minutes_ago(1), "new", 3, True, "Contoso *Ltd*"),
            (5013, minutes_ago(1), "new", 3, False, "Fabrikam"),
        ),
        queued={1, 2},
        open_statuses=OPEN,
    )
    assert changes.toasts == (
        "New Severity 1: #5011 Tailspin Logistics",
        "New outage: #5012 Contoso *Ltd*",
        "New Severity 3: #5013 Fabrikam",
    )
    assert changes.reload
    assert set(changes.seen) == {5011, 5012, 5013}


def test_the_same_poll_twice_is_not_news_but_a_later_write_is() -> None:
    rows = poll((7, minutes_ago(2), "open", 3, False, "Fabrikam"))
    first = queue_changes({}, rows, queued={7}, open_statuses=OPEN)
    assert first.reload and first.toasts == ()  # already queued: changed, not new
    again = queue_changes(first.seen, rows, queued={7}, open_statuses=OPEN)
    assert not again.reload and again.toasts == ()
    later = poll((7, minutes_ago(1), "open", 3, False, "Fabrikam"))
    assert queue_changes(first.seen, later, queued={7}, open_statuses=OPEN).reload


def test_a_queued_case_solved_elsewhere_reloads_and_an_unrelated_solve_does_not() -> None:
    solved = poll(
        (7, minutes_ago(1), "solved", 3, False, "Fabrikam"),
        (8, minutes_ago(1), "closed", 2, False, "Contoso"),
    )
    assert queue_changes({}, solved, queued={7}, open_statuses=OPEN).reload
    only_other = queue_changes({}, solved.iloc[[1]], queued={7}, open_statuses=OPEN)
    assert not only_other.reload and only_other.toasts == ()


def test_search_matches_numbers_and_literal_words() -> None:
    frame = pd.DataFrame(
        {
            "case_id": [12, 120, 7],
            "subject": ["Model [v2] fails", "Export slow", "Login"],
            "customer": ["Contoso", "Fabrikam", "Tailspin (EU)"],
        }
    )
    assert list(search_matches(frame, "#12")) == [True, False, False]
    assert list(search_matches(frame, "[V2]")) == [True, False, False]  # not a regex
    assert list(search_matches(frame, "(eu)")) == [False, False, True]
    assert list(search_matches(frame, "FABRIKAM")) == [False, True, False]
