"""How spans of time read: calendar durations and countdowns, and business-time ones."""

from __future__ import annotations

import numpy as np
import pytest

from domain.durations import business_countdown_text, countdown_text, duration_text


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (134, "2h 14m left"),
        (134.9, "2h 14m left"),
        (-35, "overdue by 35m"),
        (27 * 60, "1d 3h left"),
        (0.4, "<1m left"),
        (0, "due now"),
        (float("nan"), "—"),
    ],
)
def test_countdown_text(minutes: float, text: str) -> None:
    assert countdown_text(minutes) == text


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(190, "3h 10m"), (60, "1h"), (59.99, "59m"), (0, "0m"), (24 * 60, "1d"), (np.nan, "—")],
)
def test_duration_text(minutes: float, text: str) -> None:
    assert duration_text(minutes) == text


# --- business time shown ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "late", "text"),
    [
        (1069, False, "2 bd 1h left"),  # 17h 49m of business time is two 8-hour days and 1h
        (480, False, "1 bd left"),
        (90, False, "1h 30m left"),
        (0, False, "due now"),
        (0, True, "overdue"),  # due Friday 17:00, read on Saturday
        (-150, True, "overdue by 2h 30m"),
    ],
)
def test_business_countdown_counts_working_days_not_24_hours(
    minutes: float, late: bool, text: str
) -> None:
    assert business_countdown_text(minutes, 480, late) == text
