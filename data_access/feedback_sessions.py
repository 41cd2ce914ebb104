"""Feedback sessions: a customer's written request for a remote end-user interview, scheduled
with a HyperCare resource, then its findings and recommendations.

The year's first feedback session shares the subscription year's adoption-survey unit with the
year's campaign: whichever is opened first debits it (`feedback_sessions_in_year` is how the
campaign finds its partner). A second session in the same year debits a unit of its own. The
checks both use live here too: the tier must include surveys, times carry a time zone, and text
is required and bounded.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pandas as pd
from sqlmodel import Session, select

from data_access.actor import Actor, authorise, authorise_row
from data_access.audit import CommandRefused, record_audit
from data_access.case_commands import can_see_customer
from data_access.checks import required_text, utc_moment
from data_access.entitlement_ledger import debit_entitlement
from data_access.models import (
    Contact,
    Customer,
    FeedbackSession,
    SurveyCampaign,
    TierPolicyRow,
    User,
)
from data_access.scope import Scope
from domain.entitlements import Entitlement, subscription_year
from domain.roles import Role, parse_roles

FEEDBACK_TEXT_MAX_CHARS = 10_000
FEEDBACK_STATE_LABELS: dict[str, str] = {
    "requested": "Requested",
    "scheduled": "Scheduled",
    "done": "Findings recorded",
    "cancelled": "Cancelled",
}
# Feedback sessions belong to the customer's CSM, managers and admins.
FEEDBACK_ROLES = (Role.CSM, Role.MANAGER, Role.ADMIN)


# --- Checks shared with survey campaigns --------------------------------------------------


def _utc_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def unaware(what: str) -> str:
    """The refusal of a moment without a time zone (data_access.checks.utc_moment)."""
    return f"The {what} needs a date and time with a time zone."


def check_tier_includes_surveys(session: Session, customer: Customer) -> None:
    """Refuse, naming the tier, when the customer's tier grants no adoption survey at all."""
    policy = session.get(TierPolicyRow, customer.tier)
    if policy is None:
        raise CommandRefused(f"There is no tier policy for {customer.tier!r}.")
    if policy.adoption_surveys_per_year < 1:
        raise CommandRefused(
            f"{customer.name} is on {policy.label}, which includes no adoption survey or "
            "end-user interview."
        )


def feedback_sessions_in_year(
    session: Session, customer_id: int, year: tuple[date, date]
) -> list[FeedbackSession]:
    """The customer's feedback sessions (not cancelled) requested in the subscription `year`."""
    return list(
        session.exec(
            select(FeedbackSession).where(
                FeedbackSession.customer_id == customer_id,
                FeedbackSession.state != "cancelled",
                FeedbackSession.requested_at >= _utc_start(year[0]),
                FeedbackSession.requested_at < _utc_start(year[1]),
            )
        ).all()
    )


# --- Feedback sessions --------------------------------------------------------------------


def _feedback_session(
    session: Session, actor: Actor, feedback_session_id: int
) -> tuple[FeedbackSession, Customer]:
    """Authorise `actor` on the session's customer (locked), then lock the session, read fresh."""
    authorise(session, actor, roles=FEEDBACK_ROLES)
    return authorise_row(
        session,
        actor,
        FeedbackSession,
        feedback_session_id,
        roles=FEEDBACK_ROLES,
        missing=f"There is no feedback session with id {feedback_session_id}.",
    )


def request_feedback_session(
    *,
    session: Session,
    actor: Actor,
    customer_id: int,
    contact_id: int,
    requested_at: datetime,
    request_text: str,
    now: datetime | None = None,
) -> FeedbackSession:
    """Record a customer's written request for a feedback session (remote end-user interview).

    The first session of a subscription year shares the year's adoption-survey unit with the
    year's campaign (debiting it if no campaign has); any further session debits a unit of its own.
    The customer's CSM, a manager or an admin.
    """
    customer = authorise(session, actor, roles=FEEDBACK_ROLES, customer_id=customer_id)
    now = utc_moment(now, refusal=unaware("current time"))
    requested_at = utc_moment(requested_at, refusal=unaware("request time"))
    if not customer.is_active:
        raise CommandRefused(f"{customer.name} is no longer an active customer.")
    check_tier_includes_surveys(session, customer)
    contact = session.get(Contact, contact_id)
    if contact is None or contact.customer_id != customer_id:
        raise CommandRefused(f"The person who asked must be a contact of {customer.name}.")
    text = required_text(request_text, what="written request", limit=FEEDBACK_TEXT_MAX_CHARS)
    if requested_at > now:
        raise CommandRefused("The request cannot be dated in the future.")
    if requested_at.date() < customer.hypercare_start:
        raise CommandRefused(
            f"The request is dated before {customer.name}'s HyperCare start on "
            f"{customer.hypercare_start.isoformat()}."
        )
    year = subscription_year(customer.hypercare_start, requested_at.date())
    campaign = session.exec(
        select(SurveyCampaign.id).where(
            SurveyCampaign.customer_id == customer_id, SurveyCampaign.year_start == year[0]
        )
    ).first()
    earlier = feedback_sessions_in_year(session, customer_id, year)
    feedback = FeedbackSession(
        customer_id=customer_id,
        requested_by_contact_id=contact_id,
        requested_at=requested_at,
        request_text=text,
        state="requested",
    )
    session.add(feedback)
    session.flush()
    shares_campaign_unit = campaign is not None and not earlier
    if not shares_campaign_unit:
        debit_entitlement(
            session=session,
            customer_id=customer_id,
            kind=Entitlement.ADOPTION_SURVEY,
            actor=actor,
            reason=f"Feedback session #{feedback.id} requested by {contact.name}",
            now=requested_at,
        )
    record_audit(
        session=session,
        actor=actor.username,
        action="request_feedback_session",
        entity="feedback_session",
        entity_id=feedback.id,
        detail={
            "customer_id": customer_id,
            "contact_id": contact_id,
            "requested_at": requested_at,
            "entitlement": (
                f"shared with campaign #{campaign}" if shares_campaign_unit else "debited"
            ),
        },
    )
    return feedback


def schedule_feedback_session(
    *,
    session: Session,
    actor: Actor,
    feedback_session_id: int,
    scheduled_for: datetime,
    resource_id: int,
) -> FeedbackSession:
    """Set (or move) the date and the HyperCare resource running a requested session.

    The customer's CSM, a manager or an admin; the session is given only to an active CSM who
    can see that customer (so they can open it afterwards).
    """
    feedback, customer = _feedback_session(session, actor, feedback_session_id)
    if feedback.state not in {"requested", "scheduled"}:
        raise CommandRefused(
            f"This feedback session is {FEEDBACK_STATE_LABELS[feedback.state].lower()}; "
            "it can no longer be scheduled."
        )
    scheduled_for = utc_moment(scheduled_for, refusal=unaware("session time"))
    if scheduled_for < feedback.requested_at:
        raise CommandRefused("The session cannot take place before it was requested.")
    # Read fresh but not locked: locking a second user row after the customer's could deadlock
    # with that user's own command (which locks their row first, then the customer's).
    resource = session.exec(
        select(User).where(User.id == resource_id).execution_options(populate_existing=True)
    ).first()
    if resource is None or not resource.is_active or Role.CSM not in parse_roles(resource.roles):
        raise CommandRefused(
            "The person running the session must be an active HyperCare resource (csm role)."
        )
    if not can_see_customer(resource, customer):
        raise CommandRefused(
            f"{resource.name} cannot see {customer.name}; give the session to its CSM, its "
            "HyperCare resource or a manager."
        )
    before = (feedback.scheduled_for, feedback.resource_id)
    feedback.scheduled_for = scheduled_for
    feedback.resource_id = resource_id
    feedback.state = "scheduled"
    session.add(feedback)
    record_audit(
        session=session,
        actor=actor.username,
        action="schedule_feedback_session",
        entity="feedback_session",
        entity_id=feedback.id,
        detail={"from": before, "to": (scheduled_for, resource_id)},
    )
    return feedback


def record_feedback_findings(
    *,
    session: Session,
    actor: Actor,
    feedback_session_id: int,
    findings: str,
    recommendations: str,
    now: datetime | None = None,
) -> FeedbackSession:
    """Record what the session found and recommends; the session is then done (recorded once).

    The customer's CSM, a manager or an admin.
    """
    feedback, _customer_row = _feedback_session(session, actor, feedback_session_id)
    now = utc_moment(now, refusal=unaware("current time"))
    if feedback.state == "done":
        raise CommandRefused("Findings for this session are recorded already; nothing was changed.")
    if feedback.state != "scheduled" or feedback.scheduled_for is None:
        raise CommandRefused("Schedule the session before recording its findings.")
    if feedback.scheduled_for > now:
        raise CommandRefused(
            "The session has not taken place yet; record its findings after it has been held."
        )
    feedback.findings = required_text(findings, what="findings", limit=FEEDBACK_TEXT_MAX_CHARS)
    feedback.recommendations = required_text(
        recommendations, what="recommendations", limit=FEEDBACK_TEXT_MAX_CHARS
    )
    feedback.state = "done"
    session.add(feedback)
    record_audit(
        session=session,
        actor=actor.username,
        action="record_feedback_findings",
        entity="feedback_session",
        entity_id=feedback.id,
        detail={"customer_id": feedback.customer_id},
    )
    return feedback


def feedback_sessions(
    *, session: Session, scope: Scope, customer_id: int | None = None
) -> pd.DataFrame:
    """Feedback sessions of the customers in scope, newest request first, with their state."""
    statement = (
        select(
            FeedbackSession.id,
            FeedbackSession.customer_id,
            Customer.name.label("customer"),
            Contact.name.label("requested_by"),
            FeedbackSession.requested_at,
            FeedbackSession.request_text,
            FeedbackSession.state,
            FeedbackSession.scheduled_for,
            FeedbackSession.resource_id,
            User.name.label("resource"),
            FeedbackSession.findings,
            FeedbackSession.recommendations,
        )
        .join(Customer, Customer.id == FeedbackSession.customer_id)
        .join(Contact, Contact.id == FeedbackSession.requested_by_contact_id)
        .outerjoin(User, User.id == FeedbackSession.resource_id)
        .where(scope.customer_filter())
        .order_by(FeedbackSession.requested_at.desc())
    )
    if customer_id is not None:
        statement = statement.where(Customer.id == customer_id)
    frame = pd.read_sql(statement, session.connection())
    for column in ("requested_at", "scheduled_for"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["state_label"] = frame["state"].map(FEEDBACK_STATE_LABELS)
    return frame
