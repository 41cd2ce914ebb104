import math
from datetime import date

import pytest

from domain.monitoring import (
    ALERT_STATES,
    METRIC_DIRECTIONS,
    METRIC_LABELS,
    METRICS,
    can_move,
    deviation,
    judge_alert,
    metric_label,
    severity,
)


def test_durations_alert_when_high_and_activity_when_low():
    assert [METRIC_DIRECTIONS[m] for m in METRICS] == ["above"] * 4 + ["below"] * 3
    assert set(METRIC_LABELS) == set(METRICS)
    assert metric_label("open_time_s") == "Model open time (s)"


def test_deviation_counts_band_half_widths_beyond_the_watched_edge():
    assert deviation(150, 100, 80, 120, "above") == pytest.approx(1.5)
    assert deviation(110, 100, 80, 120, "above") == 0.0
    assert deviation(40, 100, 80, 120, "below") == pytest.approx(2.0)
    assert deviation(130, 100, 80, 120, "below") == 0.0
    assert deviation(121, 100, 80, 100, "above") == math.inf
    with pytest.raises(ValueError, match="'above' or 'below'"):
        deviation(1, 1, 1, 1, "both")


@pytest.mark.parametrize(
    ("distance", "level"),
    [
        (0.0, "minor"),
        (0.49, "minor"),
        (0.5, "major"),
        (1.99, "major"),
        (2.0, "critical"),
        (math.inf, "critical"),
    ],
)
def test_severity_buckets(distance, level):
    assert severity(distance) == level


def test_alert_state_machine():
    assert ALERT_STATES == ("new", "contacted", "resolved", "dismissed")
    assert can_move("new", "contacted") and can_move("contacted", "contacted")
    assert can_move("new", "dismissed") and can_move("contacted", "resolved")
    assert not can_move("resolved", "contacted") and not can_move("dismissed", "resolved")


BACK = date(2026, 10, 3)


@pytest.mark.parametrize(
    ("situation", "expected"),
    [
        # no alert yet: open only for an incident out of band today, once per incident
        (
            dict(
                has_open_alert=False,
                alerted_this_incident=False,
                incident_open=True,
                anomalous_today=True,
                back_in_band_on=None,
            ),
            (True, False),
        ),
        (
            dict(
                has_open_alert=False,
                alerted_this_incident=True,
                incident_open=True,
                anomalous_today=True,
                back_in_band_on=None,
            ),
            (False, False),
        ),
        (
            dict(
                has_open_alert=False,
                alerted_this_incident=False,
                incident_open=True,
                anomalous_today=False,
                back_in_band_on=BACK,
            ),
            (False, False),
        ),
        (
            dict(
                has_open_alert=False,
                alerted_this_incident=False,
                incident_open=False,
                anomalous_today=True,
                back_in_band_on=None,
            ),
            (False, False),
        ),
        # an open alert: never a second one; closes once the incident closed and it is in band
        (
            dict(
                has_open_alert=True,
                alerted_this_incident=True,
                incident_open=True,
                anomalous_today=True,
                back_in_band_on=None,
            ),
            (False, False),
        ),
        (
            dict(
                has_open_alert=True,
                alerted_this_incident=True,
                incident_open=True,
                anomalous_today=False,
                back_in_band_on=BACK,
            ),
            (False, False),
        ),
        (
            dict(
                has_open_alert=True,
                alerted_this_incident=True,
                incident_open=False,
                anomalous_today=False,
                back_in_band_on=BACK,
            ),
            (False, True),
        ),
        (
            dict(
                has_open_alert=True,
                alerted_this_incident=True,
                incident_open=False,
                anomalous_today=True,
                back_in_band_on=None,
            ),
            (False, False),
        ),
    ],
)
def test_judge_alert(situation, expected):
    verdict = judge_alert(**situation)
    assert (verdict.open_new, verdict.close) == expected
    if situation["has_open_alert"]:
        assert verdict.back_in_band_on == situation["back_in_band_on"]
