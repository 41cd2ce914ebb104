"""The product's one way of writing a day and a moment: "1 Oct 2026" and "1 Oct 2026 09:05".

Pages, the QBR figures and the QBR document all write dates through these, so the screen and the
paper read the same. The day of the month has no leading zero; 24-hour clock; English month
abbreviations whatever the server's locale.
"""

from __future__ import annotations

from datetime import date, datetime

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_text(day: date | datetime) -> str:
    """'1 Oct 2026' (a datetime gives its own calendar date, in its own time zone)."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def moment_text(moment: datetime) -> str:
    """'1 Oct 2026 09:05' (in the moment's own time zone: convert before calling)."""
    return f"{day_text(moment)} {moment.hour:02d}:{moment.minute:02d}"


CHART_DAY_FORMAT = "%-d %b %Y"
"""The same day in Vega-Lite / d3 time-format syntax, for chart axes and tooltips."""
CHART_SHORT_DAY_FORMAT = "%-d %b"
CHART_MOMENT_FORMAT = "%-d %b %H:%M"
