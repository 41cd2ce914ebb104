"""Region calendar administration: weekly hours, holiday country, time zone and closures.

Each command is an admin's: it starts with `authorise`, then validates, writes and audits in the
caller's transaction. Weekly hours are checked by building the `BusinessCalendar` they describe,
so the admin screen refuses exactly what the clocks could not use. The reads and the preview helpers here serve the Calendars page, which
shows what a case opened now would be due under the edited, not yet saved, settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import pandas as pd
from holidays.registry import COUNTRIES
from sqlalchemy import delete
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused, record_audit
from data_access.locking import for_update
from data_access.models import BusinessHours, Region, RegionClosure
from domain.dates import day_text
from domain.roles import Role
from domain.sla import BusinessCalendar, calendar_from_region

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
REASON_MAX_CHARS = 200
PREVIEW_YEARS_AROUND = 2

Hours = Mapping[int, Sequence[tuple[time, time]]]
CALENDAR_ROLES = (Role.ADMIN,)


# --- commands ----------------------------------------------------------------------------------


def set_weekly_hours(
    *, session: Session, actor: Actor, region_id: int, hours: Hours
) -> dict[int, list[tuple[time, time]]]:
    """Replace the region's working periods; returns them sorted per weekday.

    Refused: a week with no working time, overlapping or inverted periods, weekdays outside 0-6.
    """
    authorise(session, actor, roles=CALENDAR_ROLES)
    region = _region_for_update(session, region_id)
    try:
        normalised = _normalised_hours(hours)
        BusinessCalendar(region.timezone, normalised)
    except (ValueError, TypeError) as exc:
        raise CommandRefused(str(exc)) from exc
    before = weekly_hours_of(session=session, region_id=region_id)
    if before == normalised:
        return normalised
    session.exec(delete(BusinessHours).where(BusinessHours.region_id == region_id))
    for weekday, periods in normalised.items():
        for opens, closes in periods:
            session.add(
                BusinessHours(region_id=region_id, weekday=weekday, opens=opens, closes=closes)
            )
    record_audit(
        session=session,
        actor=actor.username,
        action="set_weekly_hours",
        entity="region",
        entity_id=region_id,
        detail={"from": _hours_text(before), "to": _hours_text(normalised)},
    )
    return normalised


def set_holiday_country(
    *, session: Session, actor: Actor, region_id: int, country: str, subdivision: str | None = None
) -> Region:
    """Take public holidays from `country` (and `subdivision`) of the holidays package."""
    authorise(session, actor, roles=CALENDAR_ROLES)
    region = _region_for_update(session, region_id)
    country = (country or "").strip().upper()
    subdivision = (subdivision or "").strip().upper() or None
    if country not in holiday_countries():
        raise CommandRefused(f"The holidays package does not know the country {country!r}.")
    if subdivision is not None and subdivision not in holiday_subdivisions(country):
        raise CommandRefused(
            f"{subdivision!r} is not a subdivision of {country} in the holidays package."
        )
    before = (region.holiday_country, region.holiday_subdivision)
    if before == (country, subdivision):
        return region
    region.holiday_country, region.holiday_subdivision = country, subdivision
    session.add(region)
    record_audit(
        session=session,
        actor=actor.username,
        action="set_holiday_country",
        entity="region",
        entity_id=region_id,
        detail={"from": list(before), "to": [country, subdivision]},
    )
    return region


def set_timezone(*, session: Session, actor: Actor, region_id: int, timezone: str) -> Region:
    """Set the IANA time zone the region's weekly hours are read in."""
    authorise(session, actor, roles=CALENDAR_ROLES)
    region = _region_for_update(session, region_id)
    timezone = (timezone or "").strip()
    if not valid_timezone(timezone):
        raise CommandRefused(f"{timezone!r} is not a known time zone.")
    if region.timezone == timezone:
        return region
    before = region.timezone
    region.timezone = timezone
    session.add(region)
    record_audit(
        session=session,
        actor=actor.username,
        action="set_timezone",
        entity="region",
        entity_id=region_id,
        detail={"from": before, "to": timezone},
    )
    return region


def add_closure(
    *, session: Session, actor: Actor, region_id: int, day: date, reason: str, is_open: bool = False
) -> RegionClosure:
    """Close the region on `day`, or with `is_open` work on a public holiday.

    Refused: a second entry for the same day, a closure on a day that is already a public
    holiday, and a worked holiday on a day that is not a public holiday.
    """
    authorise(session, actor, roles=CALENDAR_ROLES)
    region = _region_for_update(session, region_id)
    reason = (reason or "").strip()
    if not reason:
        raise CommandRefused("Give a reason for the closure or worked holiday.")
    if len(reason) > REASON_MAX_CHARS:
        raise CommandRefused(f"The reason can be at most {REASON_MAX_CHARS} characters.")
    if isinstance(day, datetime) or not isinstance(day, date):
        raise CommandRefused("Choose a day.")
    existing = session.exec(
        select(RegionClosure).where(RegionClosure.region_id == region_id, RegionClosure.day == day)
    ).first()
    if existing is not None:
        raise CommandRefused(f"{region.code} already has an entry for {day_text(day)}.")
    public = _public_holidays(region.holiday_country, region.holiday_subdivision, [day.year])
    if is_open and day not in public:
        raise CommandRefused(
            f"{day_text(day)} is not a public holiday in {region.holiday_country}, so there is "
            "nothing to work on."
        )
    if not is_open and day in public:
        raise CommandRefused(f"{day_text(day)} is already a public holiday ({public[day]}).")
    closure = RegionClosure(region_id=region_id, day=day, reason=reason, is_open=bool(is_open))
    session.add(closure)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action="add_worked_holiday" if is_open else "add_closure",
        entity="region",
        entity_id=region_id,
        detail={"day": day, "reason": reason},
    )
    return closure


def remove_closure(*, session: Session, actor: Actor, region_id: int, day: date) -> None:
    """Remove the region's extra closure or worked holiday on `day`."""
    authorise(session, actor, roles=CALENDAR_ROLES)
    region = _region_for_update(session, region_id)
    closure = session.exec(
        select(RegionClosure).where(RegionClosure.region_id == region_id, RegionClosure.day == day)
    ).first()
    if closure is None:
        raise CommandRefused(f"{region.code} has no closure or worked holiday on {day_text(day)}.")
    session.delete(closure)
    record_audit(
        session=session,
        actor=actor.username,
        action="remove_closure",
        entity="region",
        entity_id=region_id,
        detail={"day": day, "reason": closure.reason, "is_open": closure.is_open},
    )


# --- reads -------------------------------------------------------------------------------------


def weekly_hours_of(*, session: Session, region_id: int) -> dict[int, list[tuple[time, time]]]:
    """The region's stored working periods, sorted per weekday (days without hours left out)."""
    rows = session.exec(
        select(BusinessHours.weekday, BusinessHours.opens, BusinessHours.closes).where(
            BusinessHours.region_id == region_id
        )
    ).all()
    hours: dict[int, list[tuple[time, time]]] = {}
    for weekday, opens, closes in rows:
        hours.setdefault(weekday, []).append((opens, closes))
    return {weekday: sorted(hours[weekday]) for weekday in sorted(hours)}


def weekly_hours_frame(*, session: Session, region_id: int) -> pd.DataFrame:
    """The region's hours as editor rows: weekday (name), opens, closes (local times)."""
    hours = weekly_hours_of(session=session, region_id=region_id)
    rows = [
        {"weekday": WEEKDAYS[weekday], "opens": opens, "closes": closes}
        for weekday, periods in hours.items()
        for opens, closes in periods
    ]
    return pd.DataFrame(rows, columns=["weekday", "opens", "closes"])


def closures_frame(*, session: Session, region_id: int) -> pd.DataFrame:
    """The region's extra closures and worked holidays: day, reason, is_open, by day."""
    statement = (
        select(RegionClosure.day, RegionClosure.reason, RegionClosure.is_open)
        .where(RegionClosure.region_id == region_id)
        .order_by(RegionClosure.day)
    )
    frame = pd.read_sql(statement, session.connection())
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame


def hours_from_rows(rows: pd.DataFrame) -> dict[int, list[tuple[time, time]]]:
    """Editor rows (weekday name, opens, closes) as weekly hours; blank rows are ignored.

    A row with only some of its cells filled is refused, so a half-entered period is never
    silently dropped.
    """
    hours: dict[int, list[tuple[time, time]]] = {}
    for record in rows.to_dict("records"):
        values = [record.get(name) for name in ("weekday", "opens", "closes")]
        blank = [
            value is None or (not isinstance(value, str) and pd.isna(value)) for value in values
        ]
        if all(blank):
            continue
        if any(blank):
            raise CommandRefused("Every row of the weekly hours needs a weekday, opens and closes.")
        weekday, opens, closes = values
        if weekday not in WEEKDAYS:
            raise CommandRefused(f"{weekday!r} is not a weekday.")
        hours.setdefault(WEEKDAYS.index(weekday), []).append((_as_time(opens), _as_time(closes)))
    return hours


def preview_calendar(
    *,
    timezone: str,
    country: str,
    subdivision: str | None,
    hours: Hours,
    closures: pd.DataFrame,
    today: date,
) -> BusinessCalendar:
    """The calendar the given (possibly unsaved) settings describe, for the years around today.

    Raises CommandRefused with the sentence that saving these settings would give.
    """
    if not valid_timezone(timezone):
        raise CommandRefused(f"{timezone!r} is not a known time zone.")
    try:
        return calendar_from_region(
            timezone,
            country,
            weekly_hours=_normalised_hours(hours),
            years=range(today.year - PREVIEW_YEARS_AROUND, today.year + PREVIEW_YEARS_AROUND + 1),
            extra_closures=closures.loc[~closures["is_open"].astype(bool), "day"].tolist(),
            worked_holidays=closures.loc[closures["is_open"].astype(bool), "day"].tolist(),
            subdivision=subdivision,
        )
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise CommandRefused(str(exc)) from exc


def due_preview(
    *, calendar: BusinessCalendar, policies: Mapping, labels: Mapping[str, str], now: datetime
) -> pd.DataFrame:
    """For each tier, when a case opened at `now` would be due (aware UTC times).

    Columns: tier, tier_label, first_response_minutes, first_response_due (calendar minutes,
    the same for every calendar), resolution_business_days, resolution_due (the guideline,
    counted in business minutes of `calendar` from the next opening).
    """
    rows = []
    for tier, policy in sorted(policies.items(), key=lambda item: -item[1].first_response_minutes):
        business_minutes = policy.resolution_business_days * calendar.working_minutes_per_day
        rows.append(
            {
                "tier": tier,
                "tier_label": labels.get(tier, tier),
                "first_response_minutes": policy.first_response_minutes,
                "first_response_due": now + timedelta(minutes=policy.first_response_minutes),
                "resolution_business_days": policy.resolution_business_days,
                "resolution_due": calendar.add_business_minutes(now, business_minutes),
            }
        )
    frame = pd.DataFrame(rows)
    for column in ("first_response_due", "resolution_due"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def coming_holidays(
    *,
    country: str,
    subdivision: str | None,
    closures: pd.DataFrame,
    today: date,
    count: int = 10,
) -> pd.DataFrame:
    """The next `count` public holidays from today (within a year): day, name, worked."""
    days = _public_holidays(country, subdivision, [today.year, today.year + 1])
    worked = set(closures.loc[closures["is_open"].astype(bool), "day"])
    coming = sorted(day for day in days if today <= day < today + timedelta(days=366))[:count]
    return pd.DataFrame(
        [{"day": day, "name": days[day], "worked": day in worked} for day in coming],
        columns=["day", "name", "worked"],
    )


def holiday_countries() -> dict[str, str]:
    """Two-letter codes the holidays package knows, with English names, by name."""
    names = {
        codes[0]: module.replace("_", " ").title() for module, (_, *codes) in COUNTRIES.items()
    }
    return dict(sorted(names.items(), key=lambda item: item[1]))


def holiday_subdivisions(country: str) -> list[str]:
    return list(holidays.list_supported_countries().get(country, []))


def valid_timezone(timezone: str) -> bool:
    if not timezone:
        return False
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# --- helpers -----------------------------------------------------------------------------------


def _region_for_update(session: Session, region_id: int) -> Region:
    region = session.exec(for_update(select(Region).where(Region.id == region_id))).first()
    if region is None:
        raise CommandRefused(f"There is no region with id {region_id}.")
    return region


def _normalised_hours(hours: Hours) -> dict[int, list[tuple[time, time]]]:
    if not isinstance(hours, Mapping):
        raise CommandRefused("Weekly hours must map weekdays to working periods.")
    return {weekday: sorted(hours[weekday]) for weekday in sorted(hours) if hours[weekday]}


def _as_time(value: object) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    if isinstance(value, datetime | pd.Timestamp):
        return value.time().replace(second=0, microsecond=0)
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise CommandRefused(f"{value!r} is not a time of day.") from exc


def _public_holidays(country: str, subdivision: str | None, years: list[int]) -> dict[date, str]:
    try:
        return dict(holidays.country_holidays(country, subdiv=subdivision, years=years))
    except NotImplementedError as exc:
        raise CommandRefused(
            f"The holidays package does not know the country {country!r}."
        ) from exc


def _hours_text(hours: Mapping[int, Sequence[tuple[time, time]]]) -> dict[str, list[str]]:
    return {
        WEEKDAYS[weekday]: [f"{opens:%H:%M}-{closes:%H:%M}" for opens, closes in periods]
        for weekday, periods in hours.items()
    }
