"""Region business calendars, built from the regions' weekly hours, holidays and closures."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from functools import lru_cache

from sqlmodel import Session, select

from data_access.models import BusinessHours, Customer, Region, RegionClosure
from domain.sla import BusinessCalendar, calendar_from_region

HOLIDAY_YEARS_AROUND = 6


def region_calendars(*, session: Session, today: date | None = None) -> dict[str, BusinessCalendar]:
    """One calendar per region code, with public holidays for the years around `today`.

    The rows are read every time (a few dozen), but a calendar is only rebuilt when its
    settings change: building one loads a dozen years of public holidays.
    """
    today = today or date.today()
    hours: dict[int, list] = defaultdict(list)
    for row in session.exec(select(BusinessHours)).all():
        hours[row.region_id].append((row.weekday, row.opens, row.closes))
    closures: dict[int, list] = defaultdict(list)
    for row in session.exec(select(RegionClosure)).all():
        closures[row.region_id].append((row.day, row.is_open))
    return {
        region.code: _calendar(
            region.timezone,
            region.holiday_country,
            region.holiday_subdivision,
            tuple(sorted(hours[region.id])),
            tuple(sorted(closures[region.id])),
            today.year,
        )
        for region in session.exec(select(Region)).all()
    }


@lru_cache(maxsize=64)
def _calendar(
    timezone: str,
    country: str,
    subdivision: str | None,
    hours: tuple,
    closures: tuple,
    year: int,
) -> BusinessCalendar:
    weekly: dict[int, list] = defaultdict(list)
    for weekday, opens, closes in hours:
        weekly[weekday].append((opens, closes))
    return calendar_from_region(
        timezone,
        country,
        weekly_hours=dict(weekly),
        years=range(year - HOLIDAY_YEARS_AROUND, year + HOLIDAY_YEARS_AROUND + 1),
        extra_closures=[day for day, is_open in closures if not is_open],
        worked_holidays=[day for day, is_open in closures if is_open],
        subdivision=subdivision,
    )


def region_timezone(*, session: Session, customer: Customer) -> str:
    """The customer's region time zone: its quarters, days and local times are counted in it."""
    return session.exec(select(Region.timezone).where(Region.id == customer.region_id)).one()
