"""The demo's HyperCare programme data: optimisation requests, the entitlement ledger, adoption
surveys, and (through their own modules) QBR history, CoE benchmarks and events.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from data_access.bulk import bulk_insert
from data_access.models import (
    EntitlementEntry,
    OptimisationRequest,
    SurveyCampaign,
    SurveyResponse,
)
from domain.entitlements import subscription_year
from seed.coe import coe_benchmarks
from seed.events import seed_events
from seed.qbr import qbr_history


def campaign_year_start(start: date, today: date) -> date:
    """The first day of the subscription year a demo survey campaign covers: the year containing
    `today`, or the first year for a customer whose HyperCare starts later."""
    return subscription_year(start, today)[0] if start <= today else start


def seed_programmes(
    connection: Connection,
    rng: np.random.Generator,
    *,
    seed: int,
    today: date,
    customers: pd.DataFrame,
    contacts: pd.DataFrame,
    end_users: pd.DataFrame,
    now: datetime,
) -> dict[str, int]:
    """Rows written per table: optimisation requests with their ledger entries and one adoption
    survey campaign with responses per HyperCare customer, then the QBR, CoE and events
    history (`seed.qbr`, `seed.coe`, `seed.events`)."""
    counts: dict[str, int] = {}
    hypercare = customers[customers["tier"] != "basic"]
    first_contact = contacts.groupby("customer_id")["id"].first()
    requests, ledger, campaigns, responses = [], [], [], []
    for customer in hypercare.itertuples():
        contact_id = int(first_contact[customer.id])
        for k in range(int(rng.integers(0, 3))):
            asked = max(
                now - timedelta(days=int(rng.integers(10, 200))),
                datetime.combine(customer.start, time(9, 0), tzinfo=UTC) + timedelta(days=1),
            )
            state = ("delivered", "accepted", "requested", "in_progress", "cancelled")[
                int(rng.integers(5))
            ]
            request_id = len(requests) + 1
            requests.append(
                {
                    "id": request_id,
                    "customer_id": customer.id,
                    "requested_by_contact_id": contact_id,
                    "requested_at": asked,
                    "request_text": f"E-mail of {asked:%d %b %Y}: please review model performance ({k + 1}).",
                    "target_date": str((asked + timedelta(days=35)).date()),
                    "state": state,
                    "findings": "Nested SUM over large lists; SELECT used where LOOKUP suffices."
                    if state == "delivered"
                    else None,
                    "open_time_before_s": 48.0 if state == "delivered" else None,
                    "open_time_after_s": 21.5 if state == "delivered" else None,
                    "delivered_at": min(asked + timedelta(days=30), now)
                    if state == "delivered"
                    else None,
                    "updated_at": now,
                }
            )
            if state != "requested":
                ledger.append(
                    {
                        "customer_id": customer.id,
                        "kind": "model_optimisation",
                        "at": asked + timedelta(days=2),
                        "delta": -1,
                        "reason": f"Request #{request_id} accepted",
                        "request_id": request_id,
                    }
                )
            if state == "cancelled":
                ledger.append(
                    {
                        "customer_id": customer.id,
                        "kind": "model_optimisation",
                        "at": asked + timedelta(days=5),
                        "delta": 1,
                        "reason": f"Request #{request_id} cancelled",
                        "request_id": request_id,
                    }
                )
        users = end_users[end_users["customer_id"] == customer.id]
        year_start = campaign_year_start(customer.start, today)
        campaign_id = len(campaigns) + 1
        campaigns.append(
            {
                "id": campaign_id,
                "customer_id": customer.id,
                "year_start": str(year_start),
                "title": f"Adoption survey {year_start.year}",
                "invited_count": len(users),
                "created_at": now,
            }
        )
        ledger.append(
            {
                "customer_id": customer.id,
                "kind": "adoption_survey",
                "at": now - timedelta(days=20),
                "delta": -1,
                "reason": "Survey campaign opened",
                "request_id": None,
            }
        )
        answered = users.sample(
            frac=float(rng.uniform(0.4, 0.8)), random_state=int(rng.integers(1_000_000))
        )
        mood = float(rng.uniform(-0.8, 0.8))
        for user in answered.itertuples():
            interviewed = datetime.combine(
                (now - timedelta(days=int(rng.integers(1, 20)))).date(),
                time(int(rng.integers(8, 17)), int(rng.integers(0, 60))),
                tzinfo=UTC,
            )
            sus = [
                int(
                    np.clip(
                        round((4 + mood if i % 2 == 0 else 2 - mood) + rng.normal(0, 0.8)), 1, 5
                    )
                )
                for i in range(10)
            ]
            responses.append(
                {
                    "campaign_id": campaign_id,
                    "end_user_id": user.id,
                    "staff_id": None,
                    "status": "submitted",
                    **{f"sus_{i + 1}": sus[i] for i in range(10)},
                    "nps": int(np.clip(round(7.5 + 2 * mood + rng.normal(0, 1.8)), 0, 10)),
                    "csat": int(np.clip(round(4 + mood + rng.normal(0, 0.7)), 1, 5)),
                    "comments": (
                        "Dashboards load much faster since the optimisation.",
                        "Would like more training on ALM.",
                        "",
                        "Support answered quickly during month-end close.",
                        "",
                    )[int(rng.integers(5))],
                    "interview_date": str(interviewed.date()),
                    "submitted_at": interviewed + timedelta(minutes=int(rng.integers(20, 90))),
                    "updated_at": now,
                }
            )
    frames = [
        (OptimisationRequest, requests),
        (EntitlementEntry, ledger),
        (SurveyCampaign, campaigns),
    ]
    for table, rows in frames:
        frame = pd.DataFrame(rows)
        for column in frame.columns:
            if frame[column].map(lambda v: isinstance(v, datetime)).any():
                frame[column] = pd.to_datetime(frame[column], utc=True)
        bulk_insert(connection, table.__table__, frame)
        counts[table.__tablename__] = len(frame)
    counts.update(qbr_history(connection, seed=seed, now=now))
    counts.update(coe_benchmarks(connection, seed=seed, now=now))
    survey_staff = (
        connection.exec_driver_sql("SELECT id FROM app_user WHERE roles = 'survey_staff'")
        .scalars()
        .all()
    )
    response_frame = pd.DataFrame(responses)
    if len(response_frame):
        response_frame["staff_id"] = np.asarray(survey_staff)[
            rng.integers(len(survey_staff), size=len(response_frame))
        ]
        for column in ("submitted_at", "updated_at"):
            response_frame[column] = pd.to_datetime(response_frame[column], utc=True)
        bulk_insert(connection, SurveyResponse.__table__, response_frame)
    counts["survey_responses"] = len(response_frame)
    counts.update(seed_events(connection, seed=seed, customers=customers, today=today, now=now))
    return counts
