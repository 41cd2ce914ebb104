"""Metric rows no day can hold are refused with their line numbers, never an OverflowError."""

from __future__ import annotations

import pytest

from data_access.metric_loader import EARLIEST_DAY, MetricFileRefused
from tests.data_access.test_metric_loader import HEADER, TODAY, csv_text, estate, load, stored

__all__ = ["estate"]  # the fixture, imported so pytest finds it here


def row(model_id: int, day: str, *metrics: str) -> str:
    return f"{model_id},,{day}," + ",".join(metrics)


GOOD = ("20.5", "45", "30.25", "120", "400", "60", "900")


@pytest.mark.parametrize(
    ("position", "value", "reason"),
    [
        (4, "1e30", "times_accessed 1e30 is more than 2,147,483,647"),
        (4, "9223372036854775808", "times_accessed 9223372036854775808 is more than"),
        (5, "2147483648", "users 2147483648 is more than 2,147,483,647"),
        (0, "1e308", "open_time_s 1e308 is more than 1,000,000,000,000"),
    ],
)
def test_counts_and_durations_beyond_any_day_are_refused_by_line(
    engine, estate, position, value, reason
):
    metrics = list(GOOD)
    metrics[position] = value
    text = csv_text(
        HEADER,
        row(estate.model_a, "2026-10-01", *GOOD),
        row(estate.model_b, "2026-10-01", *metrics),
    )
    with pytest.raises(MetricFileRefused) as refused:
        load(engine, text)
    (error,) = refused.value.errors
    assert str(error).startswith(f"line 3: {reason}")
    assert stored(engine).empty


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "1999-12-31"])
def test_days_before_any_history_are_refused_by_line(engine, estate, day):
    text = csv_text(HEADER, row(estate.model_a, day, *GOOD))
    with pytest.raises(MetricFileRefused) as refused:
        load(engine, text)
    assert [str(e) for e in refused.value.errors] == [
        f"line 2: day {day} is before {EARLIEST_DAY}, earlier than any product history"
    ]


def test_the_largest_plausible_values_still_load(engine, estate):
    metrics = ("999999999999", "1", "1", "1", "2147483647", "1", "1")
    report = load(engine, csv_text(HEADER, row(estate.model_a, str(EARLIEST_DAY), *metrics)))
    assert report.rows == 1
    assert int(stored(engine)["times_accessed"].iloc[0]) == 2147483647
    assert TODAY > EARLIEST_DAY
