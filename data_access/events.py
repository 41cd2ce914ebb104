"""VIP events and product programmes: the QBR line, the events page's reads and its commands.

Who may do what (decided here, shown on the page):
- creating events and programmes, and offering an event to customers: managers and admins (the
  offers are a portfolio decision with a budget behind them);
- recording a customer's answer (accepted, declined, attended) and programme enrolments: the
  customer's CSM or HyperCare resource, managers and admins.
Customers whose tier policy row has no VIP events (or no product programmes) are refused with
the reason, and so are offers for events that have already started.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
from sqlmodel import Session, select

from data_access.models import (
    Customer,
    EventInvitation,
    EventOffer,
    ProductProgramme,
    ProgrammeEnrolment,
    Region,
    TierPolicyRow,
)
from data_access.scope import Scope
from domain.events import (
    ACCEPTED_STATUSES,
    ENROLMENT_LABELS,
    INVITATION_LABELS,
    Eligibility,
    InvitationStatus,
    offers_text,
)
from domain.qbr import Figure, Section, Table, change_text
from domain.quarters import Quarter
from domain.roles import Role

SECTION_KEY = "events"
SECTION_TITLE = "VIP events and product programmes"
MANAGERS = (Role.MANAGER, Role.ADMIN)
CUSTOMER_STAFF = (Role.CSM, Role.MANAGER, Role.ADMIN)


# --- Eligibility -------------------------------------------------------------------------------


def eligibility_of(*, session: Session, tier: str) -> Eligibility:
    """What the tier's policy row grants (a tier without a row grants nothing)."""
    row = session.get(TierPolicyRow, tier)
    if row is None:
        return Eligibility(tier_label=tier, vip_events=False, product_programmes=False)
    return Eligibility(
        tier_label=row.label,
        vip_events=bool(row.vip_events),
        product_programmes=bool(row.product_programmes),
    )


def eligibility_in_scope(*, session: Session, scope: Scope) -> pd.DataFrame:
    """One row per active customer in scope: tier, whether each offer applies, and the reason
    sentence when something does not (empty text when the customer is eligible for both)."""
    statement = (
        select(
            Customer.id.label("customer_id"),
            Customer.name.label("customer"),
            Customer.tier,
            TierPolicyRow.label.label("tier_label"),
            TierPolicyRow.vip_events,
            TierPolicyRow.product_programmes,
        )
        .join(TierPolicyRow, TierPolicyRow.tier == Customer.tier)
        .where(scope.customer_filter(), Customer.is_active)
        .order_by(Customer.name)
    )
    frame = pd.read_sql(statement, session.connection())
    frame["vip_events"] = frame["vip_events"].astype(bool)
    frame["product_programmes"] = frame["product_programmes"].astype(bool)
    frame["reason"] = [
        Eligibility(label, events, programmes).reason or ""
        for label, events, programmes in zip(
            frame["tier_label"], frame["vip_events"], frame["product_programmes"], strict=True
        )
    ]
    return frame


def _region_today(session: Session, customer: Customer, now: datetime) -> date:
    region = session.get(Region, customer.region_id)
    zone = ZoneInfo(region.timezone if region is not None else "UTC")
    return now.astimezone(zone).date()


# --- The customer's line in the QBR -------------------------------------------------------------


def _quarter_invitations(session: Session, customer_id: int, quarter: Quarter) -> pd.DataFrame:
    statement = (
        select(
            EventOffer.name.label("event"),
            EventOffer.kind,
            EventOffer.starts_on,
            EventOffer.offers,
            EventInvitation.status,
        )
        .join(EventOffer, EventOffer.id == EventInvitation.event_id)
        .where(
            EventInvitation.customer_id == customer_id,
            EventOffer.starts_on >= quarter.first_day,
            EventOffer.starts_on < quarter.end_day,
        )
        .order_by(EventOffer.starts_on, EventOffer.name)
    )
    return pd.read_sql(statement, session.connection())


def _event_counts(frame: pd.DataFrame) -> tuple[int, int, int]:
    statuses = frame["status"]
    return (
        len(frame),
        int(statuses.isin(list(ACCEPTED_STATUSES)).sum()),
        int((statuses == InvitationStatus.ATTENDED).sum()),
    )


def events_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """The customer's VIP events and product programmes for the QBR.

    An invitation belongs to the quarter its event starts in. "Offered" counts every invitation,
    "accepted" counts acceptances including those who then attended. Programme enrolments are
    those recorded before the quarter ended (in the region's time zone), with their status now.
    A tier without either benefit gets one sentence with the reason instead.
    """
    eligibility = eligibility_of(session=session, tier=customer.tier)
    if not eligibility.vip_events and not eligibility.product_programmes:
        return Section(key=SECTION_KEY, title=SECTION_TITLE, empty=eligibility.reason)
    region = session.get(Region, customer.region_id)
    _start, end = quarter.bounds(region.timezone if region is not None else "UTC")
    current = _quarter_invitations(session, customer.id, quarter)
    previous = _quarter_invitations(session, customer.id, quarter.previous())
    enrolments = pd.read_sql(
        select(
            ProductProgramme.name.label("programme"),
            ProgrammeEnrolment.enrolled_at,
            ProgrammeEnrolment.status,
        )
        .join(ProductProgramme, ProductProgramme.id == ProgrammeEnrolment.programme_id)
        .where(
            ProgrammeEnrolment.customer_id == customer.id,
            ProgrammeEnrolment.enrolled_at < end,
        )
        .order_by(ProductProgramme.name),
        session.connection(),
    )
    if current.empty and enrolments.empty:
        return Section(
            key=SECTION_KEY,
            title=SECTION_TITLE,
            empty=f"No VIP event or product programme for {customer.name} in {quarter.label}.",
        )
    figures: tuple[Figure, ...] = ()
    tables: list[Table] = []
    if not current.empty:
        now_counts, before_counts = _event_counts(current), _event_counts(previous)
        labels = ("Events offered", "Events accepted", "Events attended")
        figures = tuple(
            Figure(
                label=label,
                text=f"{value:,}",
                change=change_text(value, before),
                value=float(value),
                previous=float(before),
            )
            for label, value, before in zip(labels, now_counts, before_counts, strict=True)
        )
        tables.append(
            Table(
                title="Event invitations",
                frame=pd.DataFrame(
                    {
                        "Event": current["event"],
                        "Date": pd.to_datetime(current["starts_on"]).dt.strftime("%d %b %Y"),
                        "Offers": current["offers"].map(offers_text),
                        "Status": current["status"].map(INVITATION_LABELS),
                    }
                ).reset_index(drop=True),
            )
        )
    if not enrolments.empty:
        timezone = region.timezone if region is not None else "UTC"
        enrolled = pd.to_datetime(enrolments["enrolled_at"], utc=True).dt.tz_convert(timezone)
        tables.append(
            Table(
                title="Product programmes",
                frame=pd.DataFrame(
                    {
                        "Programme": enrolments["programme"],
                        "Since": enrolled.dt.strftime("%d %b %Y"),
                        "Status": enrolments["status"].map(ENROLMENT_LABELS),
                    }
                ).reset_index(drop=True),
            )
        )
    notes = tuple(
        sentence
        for sentence in (
            None if not current.empty else f"No VIP event in {quarter.label}.",
            eligibility.reason,
        )
        if sentence
    )
    return Section(
        key=SECTION_KEY, title=SECTION_TITLE, figures=figures, tables=tuple(tables), notes=notes
    )
