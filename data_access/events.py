"""VIP events and product programmes: the customer's line in the QBR and the events page's reads.

Eligibility comes from the customer's tier policy row (`vip_events`, `product_programmes`);
counts are over the viewer's scope. The page's writes are in `data_access.event_commands`.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import case, func
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
    EnrolmentStatus,
    InvitationStatus,
    acceptance_rate,
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
    grants = list(
        zip(frame["tier_label"], frame["vip_events"], frame["product_programmes"], strict=True)
    )
    # A handful of tiers among thousands of customers: each tier's sentence is written once.
    reasons = {grant: Eligibility(*grant).reason or "" for grant in set(grants)}
    frame["reason"] = [reasons[grant] for grant in grants]
    return frame


def region_today(session: Session, customer: Customer, now: datetime) -> date:
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


# --- Reads for the events page -------------------------------------------------------------------


def _status_counts(status_column, statuses: dict[str, tuple[str, ...]]) -> list:
    return [
        func.coalesce(func.sum(case((status_column.in_(values), 1), else_=0)), 0).label(name)
        for name, values in statuses.items()
    ]


_INVITATION_COUNTS = {
    "offered": tuple(InvitationStatus),
    "accepted": tuple(ACCEPTED_STATUSES),
    "declined": (InvitationStatus.DECLINED.value,),
    "attended": (InvitationStatus.ATTENDED.value,),
}


def _with_rate(frame: pd.DataFrame) -> pd.DataFrame:
    for column in _INVITATION_COUNTS:
        frame[column] = frame[column].fillna(0).astype(int)
    frame["acceptance_rate"] = [
        acceptance_rate(int(offered), int(accepted))
        for offered, accepted in zip(frame["offered"], frame["accepted"], strict=True)
    ]
    return frame


def events_overview(*, session: Session, scope: Scope) -> pd.DataFrame:
    """Every event, newest first, with its invitations counted over the customers in scope
    (offered counts all invitations; accepted includes those who then attended)."""
    events = pd.read_sql(
        select(
            EventOffer.id.label("event_id"),
            EventOffer.name.label("event"),
            EventOffer.kind,
            EventOffer.starts_on,
            EventOffer.offers,
            EventOffer.description,
        ).order_by(EventOffer.starts_on.desc(), EventOffer.name),
        session.connection(),
    )
    counts = pd.read_sql(
        select(
            EventInvitation.event_id,
            *_status_counts(EventInvitation.status, _INVITATION_COUNTS),
        )
        .join(Customer, Customer.id == EventInvitation.customer_id)
        .where(scope.customer_filter())
        .group_by(EventInvitation.event_id),
        session.connection(),
    )
    frame = events.merge(counts, on="event_id", how="left")
    frame["starts_on"] = pd.to_datetime(frame["starts_on"]).dt.date
    return _with_rate(frame)


def uptake_by_tier(*, session: Session, scope: Scope) -> pd.DataFrame:
    """Invitations over all events counted per tier (customers in scope), with the rate."""
    frame = pd.read_sql(
        select(
            TierPolicyRow.label.label("tier"),
            *_status_counts(EventInvitation.status, _INVITATION_COUNTS),
        )
        .select_from(EventInvitation)
        .join(Customer, Customer.id == EventInvitation.customer_id)
        .join(TierPolicyRow, TierPolicyRow.tier == Customer.tier)
        .where(scope.customer_filter())
        .group_by(TierPolicyRow.label)
        .order_by(TierPolicyRow.label),
        session.connection(),
    )
    return _with_rate(frame)


def invitations(
    *,
    session: Session,
    scope: Scope,
    event_id: int | None = None,
    customer_id: int | None = None,
) -> pd.DataFrame:
    """Invitations of customers in scope, soonest event first, optionally of one event or one
    customer."""
    statement = (
        select(
            EventInvitation.id.label("invitation_id"),
            EventOffer.id.label("event_id"),
            EventOffer.name.label("event"),
            EventOffer.kind,
            EventOffer.starts_on,
            EventOffer.offers,
            Customer.id.label("customer_id"),
            Customer.name.label("customer"),
            TierPolicyRow.label.label("tier"),
            EventInvitation.status,
            EventInvitation.invited_at,
            EventInvitation.updated_at,
        )
        .join(EventOffer, EventOffer.id == EventInvitation.event_id)
        .join(Customer, Customer.id == EventInvitation.customer_id)
        .join(TierPolicyRow, TierPolicyRow.tier == Customer.tier)
        .where(scope.customer_filter())
        .order_by(EventOffer.starts_on, EventOffer.name, Customer.name)
    )
    if event_id is not None:
        statement = statement.where(EventInvitation.event_id == event_id)
    if customer_id is not None:
        statement = statement.where(EventInvitation.customer_id == customer_id)
    frame = pd.read_sql(statement, session.connection())
    frame["starts_on"] = pd.to_datetime(frame["starts_on"]).dt.date
    for column in ("invited_at", "updated_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


_ENROLMENT_COUNTS = {status.value: (status.value,) for status in EnrolmentStatus}


def programmes_overview(*, session: Session, scope: Scope) -> pd.DataFrame:
    """Every programme by name with its enrolments per status over the customers in scope."""
    programmes = pd.read_sql(
        select(
            ProductProgramme.id.label("programme_id"),
            ProductProgramme.name.label("programme"),
            ProductProgramme.description,
            ProductProgramme.is_open,
        ).order_by(ProductProgramme.name),
        session.connection(),
    )
    counts = pd.read_sql(
        select(
            ProgrammeEnrolment.programme_id,
            *_status_counts(ProgrammeEnrolment.status, _ENROLMENT_COUNTS),
        )
        .join(Customer, Customer.id == ProgrammeEnrolment.customer_id)
        .where(scope.customer_filter())
        .group_by(ProgrammeEnrolment.programme_id),
        session.connection(),
    )
    frame = programmes.merge(counts, on="programme_id", how="left")
    frame["is_open"] = frame["is_open"].astype(bool)
    for column in _ENROLMENT_COUNTS:
        frame[column] = frame[column].fillna(0).astype(int)
    return frame


def enrolments(
    *,
    session: Session,
    scope: Scope,
    programme_id: int | None = None,
    customer_id: int | None = None,
) -> pd.DataFrame:
    """Programme enrolments of customers in scope, by programme then customer."""
    statement = (
        select(
            ProgrammeEnrolment.id.label("enrolment_id"),
            ProductProgramme.id.label("programme_id"),
            ProductProgramme.name.label("programme"),
            Customer.id.label("customer_id"),
            Customer.name.label("customer"),
            TierPolicyRow.label.label("tier"),
            ProgrammeEnrolment.status,
            ProgrammeEnrolment.enrolled_at,
            ProgrammeEnrolment.updated_at,
        )
        .join(ProductProgramme, ProductProgramme.id == ProgrammeEnrolment.programme_id)
        .join(Customer, Customer.id == ProgrammeEnrolment.customer_id)
        .join(TierPolicyRow, TierPolicyRow.tier == Customer.tier)
        .where(scope.customer_filter())
        .order_by(ProductProgramme.name, Customer.name)
    )
    if programme_id is not None:
        statement = statement.where(ProgrammeEnrolment.programme_id == programme_id)
    if customer_id is not None:
        statement = statement.where(ProgrammeEnrolment.customer_id == customer_id)
    frame = pd.read_sql(statement, session.connection())
    for column in ("enrolled_at", "updated_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
