"""What every QBR section shares: the quarter seen from the customer's region, the tier in
force on a day, section titles, and how a count or a percentage is compared with last quarter.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
from sqlmodel import Session, select

from data_access.calendars import region_timezone
from data_access.models import Customer, TierChange
from data_access.scope import Scope
from domain.qbr import Figure, Table, change_text
from domain.quarters import Quarter

SECTION_TITLES: dict[str, str] = {
    "headline": "Headline",
    "cases": "Cases",
    "sla": "SLA",
    "entitlements": "Entitlements used this subscription year",
    "monitoring": "Monitoring",
    "usage": "Usage",
    "adoption": "Adoption",
}
PTS = " pts"
"""The unit of a change between two percentages: percentage points."""


class Period:
    """The quarter's instants and days in the customer's region time zone."""

    def __init__(self, customer: Customer, quarter: Quarter, timezone: str, now: datetime):
        self.quarter = quarter
        self.timezone = timezone
        self.start, self.end = quarter.bounds(timezone)
        self.previous_start = quarter.previous().bounds(timezone)[0]
        self.previous_end = self.start
        self.today = now.astimezone(ZoneInfo(timezone)).date()
        self.to_date = quarter.contains(self.today)
        # The day the quarter's balances are read on, and the instant of its "now" figures.
        self.last_day = min(quarter.last_day, self.today)
        self.snapshot = min(self.end, now)
        self.previous_last_day = quarter.previous().last_day
        self.previous_reviewable = quarter.previous().end_day > customer.hypercare_start

    @classmethod
    def of(cls, session: Session, customer: Customer, quarter: Quarter, now: datetime) -> Period:
        return cls(customer, quarter, region_timezone(session=session, customer=customer), now)


def customer_scope(customer: Customer) -> Scope:
    """A view of one customer for the shared reads (`qbr_report` has checked the viewer's)."""
    return Scope(user_id=0, all_customers=True, customer_id=customer.id)


def tier_on(session: Session, customer: Customer, day: date) -> str:
    """The tier in force on `day` from the customer's tier history (today's tier without one)."""
    in_force = session.exec(
        select(TierChange.to_tier)
        .where(TierChange.customer_id == customer.id, TierChange.effective_on <= day)
        .order_by(TierChange.effective_on.desc(), TierChange.id.desc())
    ).first()
    return in_force or customer.tier


def count_figure(label: str, count: int, previous: int | None, help: str = "") -> Figure:
    return Figure(
        label=label,
        text=f"{count:,}",
        change=change_text(count, previous),
        value=count,
        previous=previous,
        help=help,
    )


def comparison_table(
    title: str, name: str, current: dict[str, int], previous: dict[str, int], compare: bool
) -> Table:
    frame = pd.DataFrame(
        {
            name: list(current),
            "This quarter": [f"{count:,}" for count in current.values()],
            "Previous quarter": [f"{previous[key]:,}" if compare else "—" for key in current],
        }
    )
    return Table(title=title, frame=frame)


def rounded(value: float | None, digits: int = 1) -> float | None:
    """Round as shown before comparing, so the change agrees with the two numbers on screen."""
    return None if value is None else round(float(value), digits)


def between(instants: pd.Series, start: datetime, end: datetime) -> pd.Series:
    """Which `instants` fall in [start, end) (missing ones do not)."""
    stamps = pd.to_datetime(instants, utc=True)
    return (stamps >= pd.Timestamp(start)) & (stamps < pd.Timestamp(end))
