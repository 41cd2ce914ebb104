"""Region business calendars, built from the regions' weekly hours, holidays and closures."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlmodel import Session, select

from data_access.models import BusinessHours, Region, RegionClosure
from domain.sla import BusinessCalendar, calendar_from_region

HOLIDAY_YEARS_AROUND = 6


def region_calendars(*, session: Session, today: date | None = None) -> dict[str, BusinessCalendar]:
    """One calendar per region code, with public holidays for the years around `today`."""
    today = today or date.today()
    years = range(today.year - HOLIDAY_YEARS_AROUND, today.year + HOLIDAY_YEARS_AROUND + 1)
    hours: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for row in session.exec(select(BusinessHours)).all():
        hours[row.region_id][row.weekday].append((row.opens, row.closes))
    closures: dict[int, list[RegionClosure]] = defaultdict(list)
    for row in session.exec(select(RegionClosure)).all():
        closures[row.region_id].append(row)
    calendars = {}
    for region in session.exec(select(Region)).all():
        calendars[region.code] = calendar_from_region(
            region.timezone,
            region.holiday_country,
            weekly_hours={day: sorted(periods) for day, periods in hours[region.id].items()},
            years=years,
            extra_closures=[c.day for c in closures[region.id] if not c.is_open],
            worked_holidays=[c.day for c in closures[region.id] if c.is_open],
            subdivision=region.holiday_subdivision,
        )
    return calendars
