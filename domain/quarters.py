"""Calendar quarters counted in a customer's region time zone (SPEC: "QBR and Centre of Excellence").

Q1 is January-March. A quarter's bounds are local midnights converted to UTC instants. The edge
case that makes this tricky: a case opened at 00:30 on 1 April in Sydney (13:30 UTC on 31 March)
belongs to Q2, although its UTC date is in March.

Quarters are written `2026Q3` on the command line and in URLs; `2026-Q3` (with a dash) is read
too, and is how they are stored (`qbr_note.quarter`, `coe_snapshot.quarter`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

_PATTERN = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")


class BadQuarter(ValueError):
    """A quarter written in a way that cannot be read; the message is one sentence."""


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int  # 1-4

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """`2026Q3` or `2026-Q3` (case-insensitive); anything else is refused with a sentence."""
        match = _PATTERN.match(text or "")
        if match is None:
            raise BadQuarter(
                f"'{text}' is not a quarter; write the year and the quarter, e.g. 2026Q3."
            )
        year = int(match.group(1))
        if not 1900 <= year <= 2200:
            raise BadQuarter(f"{year} is outside the years HyperCare Desk can count (1900-2200).")
        return cls(year, int(match.group(2)))

    @classmethod
    def containing(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def of_instant(cls, moment: datetime, timezone: str) -> Quarter:
        """The quarter an instant falls in, read on the region's local calendar."""
        return cls.containing(moment.astimezone(ZoneInfo(timezone)).date())

    @property
    def code(self) -> str:
        """`2026Q3`: for URLs and the command line."""
        return f"{self.year}Q{self.number}"

    @property
    def key(self) -> str:
        """`2026-Q3`: how quarters are stored."""
        return f"{self.year}-Q{self.number}"

    @property
    def label(self) -> str:
        """`Q3 2026`: how quarters are shown."""
        return f"Q{self.number} {self.year}"

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def end_day(self) -> date:
        """The day after the quarter's last day (exclusive end)."""
        return self.next().first_day

    @property
    def last_day(self) -> date:
        return date.fromordinal(self.end_day.toordinal() - 1)

    def previous(self) -> Quarter:
        return (
            Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)
        )

    def next(self) -> Quarter:
        return (
            Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)
        )

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """[start, end) as UTC instants: local midnight of the first day and of the day after."""
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.first_day, time(0), tzinfo=zone)
        end = datetime.combine(self.end_day, time(0), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def contains(self, day: date) -> bool:
        return self.first_day <= day < self.end_day


def quarters_between(first: Quarter, last: Quarter) -> list[Quarter]:
    """Every quarter from `first` to `last`, both included, oldest first."""
    quarters, current = [], first
    while current <= last:
        quarters.append(current)
        current = current.next()
    return quarters


def check_reviewable(quarter: Quarter, *, hypercare_start: date, today: date) -> None:
    """Refuse a quarter that ends before the customer's HyperCare start or starts in the future."""
    if quarter.end_day <= hypercare_start:
        raise BadQuarter(
            f"{quarter.label} is before the customer's HyperCare start on "
            f"{hypercare_start.isoformat()}; choose {Quarter.containing(hypercare_start).code} "
            "or later."
        )
    if quarter.first_day > today:
        raise BadQuarter(
            f"{quarter.label} has not started yet; the latest quarter is "
            f"{Quarter.containing(today).code}."
        )
