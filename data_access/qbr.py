"""The QBR's figures: one function computes every number the QBR page and the QBR PDF show.

`qbr_report` checks the customer and the quarter, then builds each section with its own function
(`headline_section`, `cases_section`, … all with the same keyword signature, so a test can aim at
one). Quarters are calendar quarters counted in the customer's region time zone
(`Quarter.bounds`); every figure carries the quarter's value and the previous quarter's. A running
quarter is "to date" and is compared with the whole previous quarter. A section with nothing to
show says so in one sentence instead of zeros.

The sections live by idea: headline, cases and SLA in `qbr_support`, entitlements and monitoring
in `qbr_programme`, usage and adoption in `qbr_adoption`, CoE, events and notes in their own
modules; what they share (the period, the tier in force, comparisons) is `qbr_common`.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from data_access.audit import CommandRefused
from data_access.calendars import region_timezone
from data_access.checks import utc_moment
from data_access.models import Customer
from data_access.qbr_adoption import adoption_section, usage_section
from data_access.qbr_common import SECTION_TITLES
from data_access.qbr_programme import entitlements_section, monitoring_section
from data_access.qbr_support import cases_section, headline_section, sla_section
from data_access.scope import Scope
from domain.qbr import QbrReport
from domain.quarters import BadQuarter, Quarter, check_reviewable

__all__ = [
    "SECTION_TITLES",
    "adoption_section",
    "cases_section",
    "entitlements_section",
    "headline_section",
    "monitoring_section",
    "qbr_report",
    "sla_section",
    "usage_section",
]


def qbr_report(
    *,
    session: Session,
    customer_id: int,
    quarter: Quarter,
    scope: Scope,
    now: datetime | None = None,
) -> QbrReport:
    """Every figure of one customer's QBR for `quarter`, against the previous quarter.

    Refused with one sentence: an unknown customer, one outside `scope`, and a quarter that
    ends before the customer's HyperCare start or starts after today in the region's time zone.
    """
    now = utc_moment(now, refusal="The time of a QBR must be a time-zone-aware date and time.")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CommandRefused(f"There is no customer with id {customer_id}.")
    visible = session.exec(
        select(Customer.id).where(Customer.id == customer_id, scope.customer_filter())
    ).first()
    if visible is None:
        raise CommandRefused("That customer is not in your portfolio, so its QBR is not shown.")
    timezone = region_timezone(session=session, customer=customer)
    today = now.astimezone(ZoneInfo(timezone)).date()
    try:
        check_reviewable(quarter, hypercare_start=customer.hypercare_start, today=today)
    except BadQuarter as exc:
        raise CommandRefused(str(exc)) from exc

    # Imported here: these sections' modules read the QBR's shapes and may in turn read this one.
    from data_access.coe import coe_section
    from data_access.events import events_section
    from data_access.qbr_notes import notes_section

    builders = (
        headline_section,
        cases_section,
        sla_section,
        entitlements_section,
        monitoring_section,
        usage_section,
        adoption_section,
        coe_section,
        events_section,
        notes_section,
    )
    sections = tuple(
        build(session=session, customer=customer, quarter=quarter, now=now) for build in builders
    )
    return QbrReport(
        customer_id=customer.id,
        customer_name=customer.name,
        quarter=quarter,
        previous=quarter.previous(),
        to_date=quarter.contains(today),
        timezone=timezone,
        generated_at=now,
        sections=sections,
    )
