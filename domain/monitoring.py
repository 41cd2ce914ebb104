"""Daily model monitoring: the seven metrics, which side of the band alerts, and alert states.

Durations alert when too high, activity counts when too low (SPEC: "Monitoring and weekly
reporting"); an alert moves new → contacted → resolved or dismissed, and one is open at most per
model, metric and direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

METRICS: tuple[str, ...] = (
    "open_time_s",
    "import_s",
    "export_s",
    "processing_s",
    "times_accessed",
    "users",
    "changes",
)
METRIC_LABELS: dict[str, str] = {
    "open_time_s": "Model open time",
    "import_s": "Import duration",
    "export_s": "Export duration",
    "processing_s": "Processing time",
    "times_accessed": "Times accessed",
    "users": "Users",
    "changes": "Changes",
}
METRIC_UNITS: dict[str, str] = {
    "open_time_s": "s",
    "import_s": "s",
    "export_s": "s",
    "processing_s": "s",
    "times_accessed": "accesses",
    "users": "users",
    "changes": "changes",
}
METRIC_DIRECTIONS: dict[str, str] = {
    "open_time_s": "above",
    "import_s": "above",
    "export_s": "above",
    "processing_s": "above",
    "times_accessed": "below",
    "users": "below",
    "changes": "below",
}
COUNT_METRICS: frozenset[str] = frozenset({"times_accessed", "users", "changes"})
DIRECTION_LABELS: dict[str, str] = {"above": "too high", "below": "too low"}

ALERT_STATES: tuple[str, ...] = ("new", "contacted", "resolved", "dismissed")
OPEN_ALERT_STATES: tuple[str, ...] = ("new", "contacted")
CLOSED_ALERT_STATES: tuple[str, ...] = ("resolved", "dismissed")
ALERT_STATE_LABELS: dict[str, str] = {
    "new": "New",
    "contacted": "Contacted",
    "resolved": "Resolved",
    "dismissed": "Dismissed",
}
ALERT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("contacted", "resolved", "dismissed"),
    "contacted": ("contacted", "resolved", "dismissed"),
    "resolved": (),
    "dismissed": (),
}

# Distance outside the band in band half-widths (see `deviation`): the lower bound of each level.
SEVERITY_LEVELS: tuple[tuple[str, float], ...] = (
    ("minor", 0.0),
    ("major", 0.5),
    ("critical", 2.0),
)
SEVERITY_LABELS: dict[str, str] = {"minor": "Minor", "major": "Major", "critical": "Critical"}


def severity_levels_text() -> str:
    """The levels above minor as a reader needs them: '0.5 and up: major; 2 and up: critical'."""
    return "; ".join(f"{lower:g} and up: {level}" for level, lower in SEVERITY_LEVELS if lower > 0)


def can_move(state: str, to: str) -> bool:
    """Whether an alert in `state` may move to `to` (recording a further contact keeps it contacted)."""
    return to in ALERT_TRANSITIONS.get(state, ())


def metric_label(metric: str) -> str:
    """'Model open time (s)': the metric's name with its unit."""
    return f"{METRIC_LABELS[metric]} ({METRIC_UNITS[metric]})"


def outside_band(
    values: np.ndarray, lower: np.ndarray, upper: np.ndarray, directions: np.ndarray
) -> np.ndarray:
    """Which values lie outside their band on the watched side ("above", "below" or "both");
    a missing value or edge is never outside."""
    with np.errstate(invalid="ignore"):
        above, below = values > upper, values < lower
    return np.where(
        directions == "above", above, np.where(directions == "below", below, above | below)
    )


def deviation(value: float, baseline: float, lower: float, upper: float, direction: str) -> float:
    """How far `value` lies outside the band, in half-widths of the band on the watched side.

    0 at the edge, 1 when as far beyond the edge as the edge is from the baseline. The edge
    case: a band with no width on that side (never produced by the detector, but possible in
    loaded data) counts any excursion as infinitely far.
    """
    if direction == "above":
        beyond, width = value - upper, upper - baseline
    elif direction == "below":
        beyond, width = lower - value, baseline - lower
    else:
        raise ValueError(f"direction must be 'above' or 'below', not {direction!r}.")
    if beyond <= 0:
        return 0.0
    return beyond / width if width > 0 else math.inf


def severity(distance: float) -> str:
    """minor, major or critical for a `deviation`."""
    chosen = SEVERITY_LEVELS[0][0]
    for name, lowest in SEVERITY_LEVELS:
        if distance >= lowest:
            chosen = name
    return chosen


@dataclass(frozen=True)
class AlertVerdict:
    """What the daily job does with one model, metric and direction on one day."""

    open_new: bool
    close: bool
    back_in_band_on: object  # a date or None


def judge_alert(
    *,
    has_open_alert: bool,
    alerted_this_incident: bool,
    incident_open: bool,
    anomalous_today: bool,
    back_in_band_on: object,
) -> AlertVerdict:
    """The daily job's rule for one series, from the detector's verdict for the day.

    Open an alert when an incident is in progress, today is outside the band on the watched side,
    no alert is open and this incident has not had one yet (one alert per incident, so an alert a
    CSM closed while the incident runs on stays closed). Close an open alert automatically once
    the incident has closed (the detector's hysteresis: `close_after` points back in band) and the
    latest point is inside the band. The edge case: an incident still open but with its latest
    points back in band keeps its alert open and only reports since when it has been in band.
    """
    if has_open_alert:
        close = not incident_open and back_in_band_on is not None
        return AlertVerdict(open_new=False, close=close, back_in_band_on=back_in_band_on)
    open_new = incident_open and anomalous_today and not alerted_this_incident
    return AlertVerdict(open_new=open_new, close=False, back_in_band_on=None)
