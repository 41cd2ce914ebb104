"""Which QBR actions a quarter carries forward, its counts, and the edits made in the page's table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.qbr_actions import (
    ActionEdit,
    ActionRow,
    action_counts,
    action_edits,
    is_carried_into,
)
from domain.quarters import Quarter

Q2, Q3, Q4 = Quarter(2026, 2), Quarter(2026, 3), Quarter(2026, 4)
SYDNEY = "Australia/Sydney"
Q3_START, Q3_END = Q3.bounds(SYDNEY)


def row(quarter: Quarter, done_at: datetime | None = None, action_id: int = 1) -> ActionRow:
    return ActionRow(
        id=action_id, quarter=quarter, text="Do", owner="Ann", due_on=None, done_at=done_at
    )


def test_an_open_action_from_an_earlier_quarter_is_carried_forward():
    assert is_carried_into(row(Q2), Q3, Q3_START)
    assert is_carried_into(row(Q2), Q4, Q4.bounds(SYDNEY)[0])


def test_the_quarters_own_and_later_actions_are_not_carried_into_it():
    assert not is_carried_into(row(Q3), Q3, Q3_START)
    assert not is_carried_into(row(Q4), Q3, Q3_START)


def test_done_before_the_quarter_started_in_its_time_zone_is_not_carried():
    # 1 July 00:00 in Sydney is 30 June 14:00 UTC: a tick at 13:59 UTC is still in Q2 there.
    assert datetime(2026, 6, 30, 14, tzinfo=UTC) == Q3_START
    assert not is_carried_into(row(Q2, Q3_START - timedelta(minutes=1)), Q3, Q3_START)
    assert is_carried_into(row(Q2, Q3_START), Q3, Q3_START)
    assert is_carried_into(row(Q2, datetime(2026, 8, 1, tzinfo=UTC)), Q3, Q3_START)


def test_counts_agreed_done_during_and_open_at_the_horizon():
    actions = [
        row(Q2, None, 1),  # carried, still open
        row(Q2, datetime(2026, 8, 1, tzinfo=UTC), 2),  # carried, done in Q3
        row(Q2, datetime(2026, 5, 1, tzinfo=UTC), 3),  # done in Q2: not Q3's
        row(Q3, None, 4),
        row(Q3, datetime(2026, 10, 5, tzinfo=UTC), 5),  # done after Q3 ended: open at its end
        row(Q4, None, 6),
    ]
    counts = action_counts(actions, Q3, Q3_START, Q3_END)
    assert (counts.agreed, counts.done, counts.open) == (2, 1, 3)


def saved(action_id: int, **changes) -> dict:
    base = {"id": action_id, "text": "Do", "owner": "Ann", "due_on": date(2026, 9, 1)}
    return {**base, "done": False, **changes}


def test_untouched_rows_give_no_edit():
    rows = [saved(1), saved(2, done=True)]
    assert action_edits(rows, [dict(r) for r in rows]) == []
    assert action_edits([saved(1)], [saved(1, text=" Do ")]) == []


def test_each_changed_row_gives_its_edits():
    before = [saved(1), saved(2), saved(3)]
    after = [saved(1, owner="Bo", due_on=None), saved(2, done=True), saved(3)]
    assert action_edits(before, after) == [
        ActionEdit(action_id=1, text="Do", owner="Bo", due_on=None),
        ActionEdit(action_id=2, done=True),
    ]


def test_rows_out_of_order_are_refused():
    with pytest.raises(ValueError, match="order"):
        action_edits([saved(1), saved(2)], [saved(2), saved(1)])
