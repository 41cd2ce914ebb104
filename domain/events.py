"""VIP events and product programmes (SPEC: tier table, "VIP event offers, preferred
product-programme eligibility").

HyperCare customers get exclusive offers at events (ticket discounts for conferences such as CPX
and regional events, VIP keynote seating, other VIP access) and preferred eligibility to product
programmes such as early access. Whether a tier has them is read from its policy row
(`vip_events`, `product_programmes`), never from the tier's name.

An invitation moves offered -> accepted or declined -> attended. The edge case: "attended" is
only recorded once the event has started, and only from "accepted" (someone who declined and
came after all is first marked accepted, so the counts stay consistent: every attendee accepted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class EventKind(StrEnum):
    CONFERENCE = "conference"
    REGIONAL = "regional"


EVENT_KIND_LABELS: dict[str, str] = {
    EventKind.CONFERENCE: "Conference",
    EventKind.REGIONAL: "Regional event",
}


class Offer(StrEnum):
    TICKET_DISCOUNT = "ticket_discount"
    VIP_KEYNOTE_SEATING = "vip_keynote_seating"
    OTHER_VIP_ACCESS = "other_vip_access"


OFFER_LABELS: dict[str, str] = {
    Offer.TICKET_DISCOUNT: "Ticket discount",
    Offer.VIP_KEYNOTE_SEATING: "VIP keynote seating",
    Offer.OTHER_VIP_ACCESS: "Other VIP access",
}


class InvitationStatus(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    ATTENDED = "attended"


INVITATION_LABELS: dict[str, str] = {
    InvitationStatus.OFFERED: "Offered",
    InvitationStatus.ACCEPTED: "Accepted",
    InvitationStatus.DECLINED: "Declined",
    InvitationStatus.ATTENDED: "Attended",
}

INVITATION_MOVES: dict[str, frozenset[str]] = {
    InvitationStatus.OFFERED: frozenset({InvitationStatus.ACCEPTED, InvitationStatus.DECLINED}),
    InvitationStatus.ACCEPTED: frozenset({InvitationStatus.ATTENDED, InvitationStatus.DECLINED}),
    InvitationStatus.DECLINED: frozenset({InvitationStatus.ACCEPTED}),
    InvitationStatus.ATTENDED: frozenset(),
}

# Accepting counts attendees too: everyone who attended had accepted.
ACCEPTED_STATUSES = frozenset({InvitationStatus.ACCEPTED, InvitationStatus.ATTENDED})


class EnrolmentStatus(StrEnum):
    NOMINATED = "nominated"
    ENROLLED = "enrolled"
    WITHDRAWN = "withdrawn"


ENROLMENT_LABELS: dict[str, str] = {
    EnrolmentStatus.NOMINATED: "Nominated",
    EnrolmentStatus.ENROLLED: "Enrolled",
    EnrolmentStatus.WITHDRAWN: "Withdrawn",
}

ENROLMENT_MOVES: dict[str, frozenset[str]] = {
    EnrolmentStatus.NOMINATED: frozenset({EnrolmentStatus.ENROLLED, EnrolmentStatus.WITHDRAWN}),
    EnrolmentStatus.ENROLLED: frozenset({EnrolmentStatus.WITHDRAWN}),
    EnrolmentStatus.WITHDRAWN: frozenset({EnrolmentStatus.NOMINATED, EnrolmentStatus.ENROLLED}),
}


def parse_offers(text: str) -> tuple[str, ...]:
    """The stored comma list as known offers, in the vocabulary's order; unknown names dropped."""
    given = {part.strip() for part in (text or "").split(",")}
    return tuple(offer.value for offer in Offer if offer.value in given)


def offers_text(text: str) -> str:
    """The stored comma list as shown: "Ticket discount, VIP keynote seating"."""
    return ", ".join(OFFER_LABELS[offer] for offer in parse_offers(text))


def check_offers(offers: list[str] | tuple[str, ...]) -> str | None:
    """None when `offers` is a non-empty list of known offers, else the sentence saying why not."""
    if not offers:
        return "Choose at least one offer for the event."
    unknown = [offer for offer in offers if offer not in set(Offer)]
    if unknown:
        return f"{unknown[0]!r} is not an event offer."
    return None


def invitation_move_refusal(
    current: str, target: str, *, starts_on: date, today: date
) -> str | None:
    """None when an invitation may go from `current` to `target` on `today`, else why not.

    Attendance is only recorded once the event has started (`starts_on` on or before `today`).
    """
    if target not in set(InvitationStatus):
        return f"{target!r} is not an invitation status."
    if target == current:
        return f"The invitation is already {INVITATION_LABELS[current].lower()}."
    if target not in INVITATION_MOVES.get(current, frozenset()):
        allowed = sorted(INVITATION_LABELS[s].lower() for s in INVITATION_MOVES.get(current, ()))
        tail = f"; it can become {' or '.join(allowed)}" if allowed else ""
        return (
            f"An invitation that is {INVITATION_LABELS[current].lower()} cannot become "
            f"{INVITATION_LABELS[target].lower()}{tail}."
        )
    if target == InvitationStatus.ATTENDED and starts_on > today:
        return f"The event starts on {starts_on.isoformat()}; attendance is recorded from that day."
    return None


def enrolment_move_refusal(current: str | None, target: str) -> str | None:
    """None when an enrolment may go from `current` (None: not yet nominated) to `target`."""
    if target not in set(EnrolmentStatus):
        return f"{target!r} is not an enrolment status."
    if current is None:
        if target == EnrolmentStatus.WITHDRAWN:
            return "The customer is not in the programme, so there is nothing to withdraw."
        return None
    if target == current:
        return f"The customer is already {ENROLMENT_LABELS[current].lower()}."
    if target not in ENROLMENT_MOVES.get(current, frozenset()):
        return (
            f"A customer who is {ENROLMENT_LABELS[current].lower()} cannot become "
            f"{ENROLMENT_LABELS[target].lower()}."
        )
    return None


@dataclass(frozen=True)
class Eligibility:
    """What a customer's tier policy row grants: VIP event offers and product programmes."""

    tier_label: str
    vip_events: bool
    product_programmes: bool

    @property
    def events_reason(self) -> str | None:
        """None when the tier gets VIP event offers, else the sentence saying why not."""
        return None if self.vip_events else f"VIP event offers are not part of {self.tier_label}."

    @property
    def programmes_reason(self) -> str | None:
        """None when the tier gets product programmes, else the sentence saying why not."""
        if self.product_programmes:
            return None
        return f"Product programmes are not part of {self.tier_label}."

    @property
    def reason(self) -> str | None:
        """One sentence for what the tier lacks; None when it has both."""
        if not self.vip_events and not self.product_programmes:
            return f"VIP events and product programmes are not part of {self.tier_label}."
        return self.events_reason or self.programmes_reason


def acceptance_rate(offered: int, accepted: int) -> float | None:
    """Accepted (attendees included) over offered; None when nothing was offered."""
    return None if offered <= 0 else accepted / offered


def event_to_open(starts_on_newest_first: Sequence[date], today: date) -> int:
    """Which of the events, listed newest first, a list of invitations opens on: the soonest
    one starting today or later (its answers are coming in), else the newest. Its position."""
    upcoming = [i for i, starts_on in enumerate(starts_on_newest_first) if starts_on >= today]
    return upcoming[-1] if upcoming else 0
