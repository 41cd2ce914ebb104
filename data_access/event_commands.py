"""Commands of the events page: events, offers, answers, programmes and enrolments.

Who may do what:
- creating events and programmes, and offering an event to customers: managers and admins (the
  offers are a portfolio decision with a budget behind them; a CSM asks their manager);
- recording a customer's answer (accepted, declined, attended) and programme nominations,
  enrolments and withdrawals: the customer's CSM or HyperCare resource, managers and admins.
Customers whose tier policy row has no VIP events (or no product programmes) are refused with the
reason, and so are offers for events that have already started in the customer's region.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from data_access.actor import Actor, authorise, authorise_row
from data_access.audit import CommandRefused, record_audit
from data_access.events import CUSTOMER_STAFF, MANAGERS, eligibility_of, region_today
from data_access.locking import for_update
from data_access.models import (
    EventInvitation,
    EventOffer,
    ProductProgramme,
    ProgrammeEnrolment,
    utc_now,
)
from domain.events import (
    EnrolmentStatus,
    EventKind,
    InvitationStatus,
    check_offers,
    enrolment_move_refusal,
    invitation_move_refusal,
)

# --- Commands ------------------------------------------------------------------------------------


def _clean_name(name: str, what: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise CommandRefused(f"Give the {what} a name.")
    if len(cleaned) > 200:
        raise CommandRefused(f"The {what} name is longer than 200 characters; shorten it.")
    return cleaned


def create_event(
    *,
    session: Session,
    actor: Actor,
    name: str,
    kind: str,
    starts_on: date,
    offers: list[str] | tuple[str, ...],
    description: str = "",
) -> EventOffer:
    """A new event with its offers (managers and admins); the same name on the same day twice
    is refused."""
    authorise(session, actor, roles=MANAGERS)
    cleaned = _clean_name(name, "event")
    if kind not in set(EventKind):
        raise CommandRefused(f"{kind!r} is not an event kind; choose conference or regional.")
    problem = check_offers(list(offers))
    if problem:
        raise CommandRefused(problem)
    clash = session.exec(
        select(EventOffer.id).where(EventOffer.name == cleaned, EventOffer.starts_on == starts_on)
    ).first()
    if clash is not None:
        raise CommandRefused(f"{cleaned} on {starts_on.isoformat()} already exists.")
    event = EventOffer(
        name=cleaned,
        kind=kind,
        starts_on=starts_on,
        description=(description or "").strip(),
        offers=",".join(offer for offer in dict.fromkeys(offers)),
    )
    session.add(event)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action="create_event",
        entity="event_offer",
        entity_id=event.id,
        detail={"name": cleaned, "kind": kind, "starts_on": starts_on, "offers": event.offers},
    )
    return event


@dataclass(frozen=True)
class OfferOutcome:
    """Customers newly offered the event, and those who already had the offer (left as is)."""

    offered: tuple[str, ...]
    already: tuple[str, ...]


def offer_event(
    *,
    session: Session,
    actor: Actor,
    event_id: int,
    customer_ids: list[int] | tuple[int, ...],
    now: datetime | None = None,
) -> OfferOutcome:
    """Offer an event to customers (managers and admins). All or nothing: a customer whose tier
    has no VIP events, or an event that has already started in the customer's region, refuses
    the whole offer with the reason; customers who already have the offer are left as they are.
    """
    authorise(session, actor, roles=MANAGERS)
    moment = now or utc_now()
    if not customer_ids:
        raise CommandRefused("Choose at least one customer to offer the event to.")
    event = session.exec(for_update(select(EventOffer).where(EventOffer.id == event_id))).first()
    if event is None:
        raise CommandRefused(f"There is no event #{event_id}.")
    offered, already = [], []
    for customer_id in sorted(set(int(c) for c in customer_ids)):
        customer = authorise(session, actor, roles=MANAGERS, customer_id=customer_id)
        if not customer.is_active:
            raise CommandRefused(f"{customer.name} is no longer an active customer.")
        reason = eligibility_of(session=session, tier=customer.tier).events_reason
        if reason:
            raise CommandRefused(f"{customer.name} cannot be offered {event.name}: {reason}")
        if event.starts_on < region_today(session, customer, moment):
            raise CommandRefused(
                f"{event.name} started on {event.starts_on.isoformat()}; "
                "offers are made before the event."
            )
        existing = session.exec(
            select(EventInvitation.id).where(
                EventInvitation.event_id == event.id, EventInvitation.customer_id == customer.id
            )
        ).first()
        if existing is not None:
            already.append(customer.name)
            continue
        session.add(
            EventInvitation(
                event_id=event.id,
                customer_id=customer.id,
                invited_at=moment,
                status=InvitationStatus.OFFERED.value,
                updated_at=moment,
            )
        )
        offered.append(customer.name)
    if offered:
        session.flush()
        record_audit(
            session=session,
            actor=actor.username,
            action="offer_event",
            entity="event_offer",
            entity_id=event.id,
            detail={"customers": offered},
        )
    return OfferOutcome(offered=tuple(offered), already=tuple(already))


def set_invitation_status(
    *,
    session: Session,
    actor: Actor,
    invitation_id: int,
    status: str,
    now: datetime | None = None,
) -> EventInvitation:
    """Record the customer's answer or attendance (their CSM or resource, managers, admins);
    the move must be allowed (`domain.events.invitation_move_refusal`)."""
    authorise(session, actor, roles=CUSTOMER_STAFF)
    moment = now or utc_now()
    invitation, customer = authorise_row(
        session,
        actor,
        EventInvitation,
        invitation_id,
        roles=CUSTOMER_STAFF,
        missing=f"There is no invitation #{invitation_id}.",
    )
    event = session.get(EventOffer, invitation.event_id)
    problem = invitation_move_refusal(
        invitation.status,
        status,
        starts_on=event.starts_on,
        today=region_today(session, customer, moment),
    )
    if problem:
        raise CommandRefused(problem)
    before = invitation.status
    invitation.status = status
    invitation.updated_at = moment
    session.add(invitation)
    record_audit(
        session=session,
        actor=actor.username,
        action="set_invitation_status",
        entity="event_invitation",
        entity_id=invitation.id,
        detail={"event": event.name, "customer": customer.name, "from": before, "to": status},
    )
    return invitation


def create_programme(
    *, session: Session, actor: Actor, name: str, description: str = "", is_open: bool = True
) -> ProductProgramme:
    """A new product programme (managers and admins); names are unique."""
    authorise(session, actor, roles=MANAGERS)
    cleaned = _clean_name(name, "programme")
    if session.exec(select(ProductProgramme.id).where(ProductProgramme.name == cleaned)).first():
        raise CommandRefused(f"A programme called {cleaned} already exists.")
    programme = ProductProgramme(
        name=cleaned, description=(description or "").strip(), is_open=is_open
    )
    session.add(programme)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action="create_programme",
        entity="product_programme",
        entity_id=programme.id,
        detail={"name": cleaned, "is_open": is_open},
    )
    return programme


def set_programme_enrolment(
    *,
    session: Session,
    actor: Actor,
    programme_id: int,
    customer_id: int,
    status: str,
    now: datetime | None = None,
) -> ProgrammeEnrolment:
    """Nominate, enrol or withdraw a customer (their CSM or resource, managers, admins).

    A tier without product programmes is refused with the reason, and a closed programme takes
    no new nominations; withdrawing is always possible.
    """
    authorise(session, actor, roles=CUSTOMER_STAFF)
    moment = now or utc_now()
    # Locks in the order every command takes them: user, customer, then the rows.
    customer = authorise(session, actor, roles=CUSTOMER_STAFF, customer_id=customer_id)
    programme = session.exec(
        for_update(select(ProductProgramme).where(ProductProgramme.id == programme_id))
    ).first()
    if programme is None:
        raise CommandRefused(f"There is no programme #{programme_id}.")
    enrolment = session.exec(
        for_update(
            select(ProgrammeEnrolment).where(
                ProgrammeEnrolment.programme_id == programme.id,
                ProgrammeEnrolment.customer_id == customer.id,
            )
        )
    ).first()
    before = enrolment.status if enrolment is not None else None
    problem = enrolment_move_refusal(before, status)
    if problem:
        raise CommandRefused(problem)
    if status != EnrolmentStatus.WITHDRAWN:
        reason = eligibility_of(session=session, tier=customer.tier).programmes_reason
        if reason:
            raise CommandRefused(f"{customer.name} cannot join {programme.name}: {reason}")
        if not programme.is_open and before in (None, EnrolmentStatus.WITHDRAWN):
            raise CommandRefused(f"{programme.name} is closed to new customers.")
    if enrolment is None:
        enrolment = ProgrammeEnrolment(
            programme_id=programme.id, customer_id=customer.id, enrolled_at=moment
        )
    enrolment.status = status
    enrolment.updated_at = moment
    session.add(enrolment)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action="set_programme_enrolment",
        entity="programme_enrolment",
        entity_id=enrolment.id,
        detail={
            "programme": programme.name,
            "customer": customer.name,
            "from": before,
            "to": status,
        },
    )
    return enrolment
