from datetime import UTC, date, datetime

from domain.dates import day_text, moment_text


def test_a_day_has_no_leading_zero_and_an_english_month():
    assert day_text(date(2026, 10, 1)) == "1 Oct 2026"
    assert day_text(date(2026, 12, 31)) == "31 Dec 2026"


def test_a_moment_is_its_day_and_a_24_hour_time():
    assert moment_text(datetime(2026, 3, 9, 7, 5, tzinfo=UTC)) == "9 Mar 2026 07:05"
