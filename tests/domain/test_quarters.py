"""Calendar quarters counted in a region's time zone: reading, bounds, neighbours, reviewability."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.quarters import BadQuarter, Quarter, check_reviewable, quarters_between

SYDNEY = "Australia/Sydney"


@pytest.mark.parametrize("text", ["2026Q3", "2026-Q3", "2026q3", " 2026 - q3 "])
def test_parse_reads_both_spellings(text):
    assert Quarter.parse(text) == Quarter(2026, 3)


@pytest.mark.parametrize("text", ["", "2026", "2026Q5", "2026Q0", "Q3 2026", "26Q3", "1800Q1"])
def test_parse_refuses_anything_else_with_a_sentence(text):
    with pytest.raises(BadQuarter, match=r"\.$"):
        Quarter.parse(text)


def test_names():
    quarter = Quarter(2026, 3)
    assert (quarter.code, quarter.key, quarter.label) == ("2026Q3", "2026-Q3", "Q3 2026")
    assert (quarter.first_day, quarter.last_day, quarter.end_day) == (
        date(2026, 7, 1),
        date(2026, 9, 30),
        date(2026, 10, 1),
    )


def test_previous_and_next_cross_the_year():
    assert Quarter(2026, 1).previous() == Quarter(2025, 4)
    assert Quarter(2025, 4).next() == Quarter(2026, 1)
    assert Quarter(2026, 3).previous() == Quarter(2026, 2)
    assert quarters_between(Quarter(2025, 4), Quarter(2026, 2)) == [
        Quarter(2025, 4),
        Quarter(2026, 1),
        Quarter(2026, 2),
    ]


def test_bounds_are_local_midnights_in_sydney_across_daylight_saving():
    # 1 April 2026 is still summer time in Sydney (UTC+11; it ends on 5 April); 1 July is winter
    # time (UTC+10).
    assert Quarter(2026, 2).bounds(SYDNEY) == (
        datetime(2026, 3, 31, 13, tzinfo=UTC),
        datetime(2026, 6, 30, 14, tzinfo=UTC),
    )
    # 1 October is winter time (summer time starts on 4 October); 1 January is summer time.
    assert Quarter(2026, 4).bounds(SYDNEY) == (
        datetime(2026, 9, 30, 14, tzinfo=UTC),
        datetime(2026, 12, 31, 13, tzinfo=UTC),
    )


def test_bounds_in_london_and_utc():
    assert Quarter(2026, 2).bounds("Europe/London")[0] == datetime(2026, 3, 31, 23, tzinfo=UTC)
    assert Quarter(2026, 1).bounds("UTC") == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )


def test_an_instant_belongs_to_the_quarter_of_its_local_day():
    half_past_midnight_in_sydney = datetime(2026, 3, 31, 13, 30, tzinfo=UTC)
    assert Quarter.of_instant(half_past_midnight_in_sydney, SYDNEY) == Quarter(2026, 2)
    assert Quarter.of_instant(half_past_midnight_in_sydney, "UTC") == Quarter(2026, 1)
    start, end = Quarter(2026, 2).bounds(SYDNEY)
    assert start <= half_past_midnight_in_sydney < end
    assert Quarter.of_instant(end, SYDNEY) == Quarter(2026, 3)


def test_a_quarter_is_reviewable_from_the_one_holding_the_start_to_the_one_holding_today():
    start, today = date(2026, 2, 10), date(2026, 8, 1)
    for quarter in (Quarter(2026, 1), Quarter(2026, 2), Quarter(2026, 3)):
        check_reviewable(quarter, hypercare_start=start, today=today)
    with pytest.raises(BadQuarter, match="before the customer's HyperCare start on 2026-02-10"):
        check_reviewable(Quarter(2025, 4), hypercare_start=start, today=today)
    with pytest.raises(BadQuarter, match="has not started yet; the latest quarter is 2026Q3"):
        check_reviewable(Quarter(2026, 4), hypercare_start=start, today=today)


def test_reviewable_edges_are_the_first_days():
    # A start on the quarter's first day makes that quarter the first; a quarter starting today
    # is the running one.
    check_reviewable(Quarter(2026, 2), hypercare_start=date(2026, 4, 1), today=date(2026, 4, 1))
    with pytest.raises(BadQuarter):
        check_reviewable(Quarter(2026, 1), hypercare_start=date(2026, 4, 1), today=date(2026, 4, 1))
    with pytest.raises(BadQuarter):
        check_reviewable(
            Quarter(2026, 3), hypercare_start=date(2026, 4, 1), today=date(2026, 6, 30)
        )
