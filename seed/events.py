"""Demo VIP events and product programmes: past and upcoming events with believable answers.

Only customers whose tier policy grants VIP events get invitations (and only those granted
product programmes get enrolments). Invitations are dated before their event and before the
seed's "now"; only past events have attendees. Regional events go to the region's customers.
Draws come from a generator of their own, so other seed steps keep their numbers.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from data_access.bulk import bulk_insert
from data_access.models import (
    EventInvitation,
    EventOffer,
    ProductProgramme,
    ProgrammeEnrolment,
    TierPolicyRow,
)
from domain.events import EnrolmentStatus, InvitationStatus

# (name, kind, days from today, region code or None for everyone, offers, description)
EVENTS = (
    (
        "Planning leaders day, London",
        "regional",
        -75,
        "EMEA",
        "ticket_discount,other_vip_access",
        "A day of customer talks and CoE round tables for EMEA planners.",
    ),
    (
        "CPX 2026",
        "conference",
        -30,
        None,
        "ticket_discount,vip_keynote_seating,other_vip_access",
        "The annual customer conference: keynotes, roadmap sessions, certification labs.",
    ),
    (
        "Planning leaders day, Singapore",
        "regional",
        20,
        "APAC",
        "ticket_discount,vip_keynote_seating",
        "Regional event with a keynote from the product leadership.",
    ),
    (
        "Planning leaders day, New York",
        "regional",
        50,
        "NA",
        "ticket_discount,vip_keynote_seating",
        "Regional event with customer stories from North American planners.",
    ),
)

PROGRAMMES = (
    (
        "Early access: predictive insights",
        "Preview of forecasting features before general release.",
        True,
    ),
    (
        "Early access: scenario planning assistant",
        "Guided what-if scenarios; the first cohort is full.",
        False,
    ),
)

PAST_ANSWERS = (
    (InvitationStatus.ATTENDED, 0.5),
    (InvitationStatus.ACCEPTED, 0.1),  # accepted, did not come
    (InvitationStatus.DECLINED, 0.25),
    (InvitationStatus.OFFERED, 0.15),  # never answered
)
UPCOMING_ANSWERS = (
    (InvitationStatus.OFFERED, 0.4),
    (InvitationStatus.ACCEPTED, 0.4),
    (InvitationStatus.DECLINED, 0.2),
)
ENROLMENT_ANSWERS = (
    (EnrolmentStatus.ENROLLED, 0.55),
    (EnrolmentStatus.NOMINATED, 0.3),
    (EnrolmentStatus.WITHDRAWN, 0.15),
)
CLOSED_ANSWERS = ((EnrolmentStatus.ENROLLED, 0.8), (EnrolmentStatus.WITHDRAWN, 0.2))


def _draw(rng: np.random.Generator, answers) -> str:
    statuses, weights = zip(*answers, strict=True)
    return str(statuses[int(rng.choice(len(statuses), p=np.asarray(weights)))].value)


def _invitation(rng, event_day: date, customer_id: int, now: datetime) -> dict:
    start = datetime.combine(event_day, time(9), tzinfo=now.tzinfo)
    invited = min(now - timedelta(days=1), start - timedelta(days=int(rng.integers(20, 60))))
    is_past = event_day < now.date()
    status = _draw(rng, PAST_ANSWERS if is_past else UPCOMING_ANSWERS)
    answered = min(now, invited + timedelta(days=int(rng.integers(1, 15))))
    updated = {
        InvitationStatus.OFFERED.value: invited,
        InvitationStatus.ATTENDED.value: start,
    }.get(status, answered)
    return {
        "customer_id": customer_id,
        "invited_at": invited,
        "status": status,
        "updated_at": updated,
    }


def seed_events(
    connection: Connection,
    *,
    seed: int,
    customers: pd.DataFrame,
    today: date,
    now: datetime,
) -> dict[str, int]:
    """Write the demo events, invitations, programmes and enrolments; returns the row counts.

    `customers` needs the columns id, tier and region (the region's code).
    """
    rng = np.random.default_rng(seed + 4_101)
    grants = connection.execute(
        select(TierPolicyRow.tier, TierPolicyRow.vip_events, TierPolicyRow.product_programmes)
    ).all()
    with_events = {tier for tier, events, _ in grants if events}
    with_programmes = {tier for tier, _, programmes in grants if programmes}
    events_for = customers[customers["tier"].isin(with_events)]
    programmes_for = customers[customers["tier"].isin(with_programmes)]
    invitations = []
    for name, kind, offset, region, offers, description in EVENTS:
        event_day = today + timedelta(days=offset)
        event_id = connection.execute(
            EventOffer.__table__.insert().values(
                name=name, kind=kind, starts_on=event_day, offers=offers, description=description
            )
        ).inserted_primary_key[0]
        invited = events_for if region is None else events_for[events_for["region"] == region]
        for customer_id in invited["id"]:
            invitations.append(
                {"event_id": event_id, **_invitation(rng, event_day, int(customer_id), now)}
            )
    enrolments = []
    for name, description, is_open in PROGRAMMES:
        programme_id = connection.execute(
            ProductProgramme.__table__.insert().values(
                name=name, description=description, is_open=is_open
            )
        ).inserted_primary_key[0]
        chosen = programmes_for.sample(
            frac=0.5 if is_open else 0.3, random_state=int(rng.integers(1_000_000))
        )
        for customer_id in chosen["id"].sort_values():
            enrolled = now - timedelta(days=int(rng.integers(5, 200)))
            status = _draw(rng, ENROLMENT_ANSWERS if is_open else CLOSED_ANSWERS)
            enrolments.append(
                {
                    "programme_id": programme_id,
                    "customer_id": int(customer_id),
                    "enrolled_at": enrolled,
                    "status": status,
                    "updated_at": enrolled + timedelta(days=int(rng.integers(0, 5))),
                }
            )
    counts = {}
    for table, rows in ((EventInvitation, invitations), (ProgrammeEnrolment, enrolments)):
        frame = pd.DataFrame(rows)
        for column in ("invited_at", "enrolled_at", "updated_at"):
            if column in frame.columns:
                frame[column] = pd.to_datetime(frame[column], utc=True)
        counts[table.__tablename__] = bulk_insert(connection, table.__table__, frame)
    counts["event_offer"] = len(EVENTS)
    counts["product_programme"] = len(PROGRAMMES)
    return counts
