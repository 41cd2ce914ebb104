"""The shared input checks: one aware-UTC rule and one required-text rule for every command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest

from data_access.audit import CommandRefused
from data_access.checks import required_text, utc_moment

REFUSAL = "The time of the test must be time-zone aware."


class NoOffset(tzinfo):
    """A zone that cannot say its offset: as unusable as none."""

    def utcoffset(self, dt):
        return None


@pytest.mark.parametrize(
    "moment", [datetime(2026, 11, 30, 9, 0), datetime(2026, 11, 30, 9, 0, tzinfo=NoOffset())]
)
def test_a_moment_without_a_usable_time_zone_is_refused_with_one_sentence(moment):
    with pytest.raises(CommandRefused) as refused:
        utc_moment(moment, refusal=REFUSAL)
    assert str(refused.value) == REFUSAL


def test_a_moment_that_is_not_a_datetime_is_refused():
    with pytest.raises(CommandRefused, match=f"^{REFUSAL}$"):
        utc_moment("2026-11-30 09:00", refusal=REFUSAL)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "zone", [timezone(timedelta(hours=-5)), ZoneInfo("Asia/Kolkata"), ZoneInfo("Europe/London")]
)
def test_any_offset_is_converted_to_the_same_instant_in_utc(zone):
    moment = datetime(2026, 11, 30, 9, 0, tzinfo=zone)
    converted = utc_moment(moment, refusal=REFUSAL)
    assert converted.utcoffset() == timedelta(0)
    assert converted.tzinfo is UTC
    assert converted == moment


def test_no_moment_is_now_in_utc():
    before = datetime.now(UTC)
    now = utc_moment(None, refusal=REFUSAL)
    assert before <= now <= datetime.now(UTC)
    assert now.tzinfo is UTC


def test_required_text_is_stripped():
    assert required_text("  Renew the plan \n", what="action", limit=20) == "Renew the plan"


@pytest.mark.parametrize("value", [None, "", "   \n\t"])
def test_missing_required_text_is_refused(value):
    with pytest.raises(CommandRefused, match="^The action is required.$"):
        required_text(value, what="action", limit=20)


@pytest.mark.parametrize("value", [None, "", "  "])
def test_missing_optional_text_is_empty(value):
    assert required_text(value, what="comment", limit=20, required=False) == ""


def test_text_over_the_limit_is_refused_with_its_length_and_the_limit():
    assert required_text("x" * 20, what="owner", limit=20) == "x" * 20
    with pytest.raises(CommandRefused) as refused:
        required_text("x" * 21, what="owner", limit=20)
    assert str(refused.value) == "The owner is too long: 21 characters where the limit is 20."


def test_text_that_is_not_text_is_refused():
    with pytest.raises(CommandRefused, match="^The comment must be text.$"):
        required_text(42, what="comment", limit=20, required=False)
