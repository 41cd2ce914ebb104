"""A small, fully known monitoring estate for the monitor, alert and loader tests.

Two customers (one per CSM) with contacts, production models enrolled in monitoring, and daily
metrics with low noise and a weekly rhythm, into which a test injects incidents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session

from data_access.bulk import bulk_insert
from data_access.models import (
    Contact,
    Customer,
    ModelMetricDaily,
    PlanningModel,
    Region,
    User,
    Workspace,
)
from data_access.policies import seed_default_policies
from domain.monitoring import COUNT_METRICS, METRICS

FIRST_DAY = date(2026, 3, 2)  # a Monday
DAYS = 150
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)
LEVELS = {
    "open_time_s": 20.0,
    "import_s": 45.0,
    "export_s": 30.0,
    "processing_s": 120.0,
    "times_accessed": 400.0,
    "users": 60.0,
    "changes": 900.0,
}


@dataclass
class Estate:
    csm_a: int
    csm_b: int
    customer_a: int
    customer_b: int
    inactive_customer: int
    model_a: int  # customer A, production, monitored
    model_b: int  # customer B, production, monitored
    unmonitored: int  # customer A, production, not enrolled
    development: int  # customer A, not production
    inactive_model: int  # of an inactive customer
    primary_contact_a: int
    contact_b: int


def day_index(day: date) -> int:
    return (day - FIRST_DAY).days


def metric_frame(
    model_id: int, seed: int, days: int = DAYS, first: date = FIRST_DAY
) -> pd.DataFrame:
    """Daily metrics with 2 % noise; activity is lower at weekends."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(first, periods=days, freq="D")
    weekend = index.day_of_week >= 5
    frame = pd.DataFrame({"model_id": model_id, "day": index.strftime("%Y-%m-%d")})
    for metric in METRICS:
        level = LEVELS[metric] * (1 + rng.normal(0, 0.02, days))
        if metric in COUNT_METRICS:
            level = np.round(np.where(weekend, level * 0.4, level))
        frame[metric] = level.round(2)
    return frame


def build_estate(engine: Engine) -> Estate:
    with Session(engine) as session:
        seed_default_policies(session=session)
        region = Region(code="EMEA", name="EMEA", timezone="Europe/London", holiday_country="GB")
        session.add(region)
        users = [
            User(
                username=name,
                name=name.title(),
                email=f"{name}@x.example",
                password_hash="x",
                roles="csm",
            )
            for name in ("csm.a", "csm.b")
        ]
        session.add_all(users)
        session.flush()
        customers = [
            Customer(
                name=name,
                tier="enterprise",
                region_id=region.id,
                csm_id=csm,
                hypercare_start=date(2025, 1, 1),
                is_active=active,
            )
            for name, csm, active in (
                ("Alpha", users[0].id, True),
                ("Beta", users[1].id, True),
                ("Gone", users[0].id, False),
            )
        ]
        session.add_all(customers)
        session.flush()
        contacts = [
            Contact(customer_id=customers[0].id, name="Ann Second", preferred_channel="email"),
            Contact(
                customer_id=customers[0].id,
                name="Pat Primary",
                preferred_channel="phone",
                is_primary=True,
            ),
            Contact(customer_id=customers[1].id, name="Bo First", preferred_channel="chat"),
            Contact(customer_id=customers[1].id, name="Cy Later", preferred_channel="email"),
        ]
        session.add_all(contacts)
        workspaces = [Workspace(customer_id=c.id, name=f"{c.name} WS") for c in customers]
        session.add_all(workspaces)
        session.flush()
        specs = [
            (0, "Sales Forecast PROD", True, True),
            (1, "Supply Plan PROD", True, True),
            (0, "Opex Budget PROD", True, False),
            (0, "Sandbox DEV", False, True),
            (2, "Old PROD", True, True),
        ]
        models = [
            PlanningModel(
                workspace_id=workspaces[c].id,
                customer_id=customers[c].id,
                name=name,
                is_production=production,
                in_monitoring=monitored,
                in_weekly_report=monitored,
            )
            for c, name, production, monitored in specs
        ]
        session.add_all(models)
        session.commit()
        estate = Estate(
            csm_a=users[0].id,
            csm_b=users[1].id,
            customer_a=customers[0].id,
            customer_b=customers[1].id,
            inactive_customer=customers[2].id,
            model_a=models[0].id,
            model_b=models[1].id,
            unmonitored=models[2].id,
            development=models[3].id,
            inactive_model=models[4].id,
            primary_contact_a=contacts[1].id,
            contact_b=contacts[2].id,
        )
    return estate


def write_metrics(engine: Engine, frames: list[pd.DataFrame]) -> None:
    with engine.begin() as connection:
        bulk_insert(connection, ModelMetricDaily.__table__, pd.concat(frames, ignore_index=True))


def standard_metrics(estate: Estate) -> dict[int, pd.DataFrame]:
    """Quiet metrics for every model of the estate (tests inject incidents before writing)."""
    ids = [
        estate.model_a,
        estate.model_b,
        estate.unmonitored,
        estate.development,
        estate.inactive_model,
    ]
    return {model_id: metric_frame(model_id, seed=model_id) for model_id in ids}
