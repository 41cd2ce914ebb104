"""The QBR's text helpers: changes, shares, counts and business days as shown."""

from __future__ import annotations

import pytest

from domain.qbr import change_text, days_text, plural, share_text


@pytest.mark.parametrize(
    ("current", "previous", "unit", "expected"),
    [
        (6, 1, "", "+5 vs previous quarter"),
        (80.0, 82.5, " pts", "\u22122.5 pts vs previous quarter"),
        (3, 3, "", "no change"),
        (3, None, "", ""),
        (None, 3, "", ""),
    ],
)
def test_change_text(current, previous, unit, expected):
    assert change_text(current, previous, unit=unit) == expected


def test_share_text_never_shows_a_percentage_of_nothing():
    assert share_text(4, 5) == "80% (4 of 5)"
    assert share_text(0, 0) == "—"
    assert share_text(1234, 2000) == "62% (1,234 of 2,000)"


def test_plural_and_days():
    assert (plural(1, "case"), plural(4, "case"), plural(0, "week")) == (
        "1 case",
        "4 cases",
        "0 weeks",
    )
    assert days_text(1.0) == "1.0 business day"
    assert days_text(0.6875) == "0.7 business days"
    assert days_text(None) == "—"
