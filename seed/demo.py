"""Deterministic, realistic demo and scale data, written in bulk through data_access.

Everything is drawn from one `numpy` generator seeded by `--seed`, relative to a reference day,
so the same flags give the same database. This module runs the steps in order and builds the
reference data, customers, contacts and their estate; the vocabulary is `seed.names`, the
cases `seed.cases`, the daily metrics `seed.metrics` and the HyperCare programme data
`seed.programmes`. Cases and metrics are built as whole arrays and written with
`bulk_insert`: a million cases with their event history take well under two minutes on SQLite.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func
from sqlmodel import Session, select

from data_access.actor import Actor
from data_access.authentication import hash_password
from data_access.bulk import bulk_insert, reset_sequences
from data_access.db import session_scope
from data_access.models import (
    BusinessHours,
    Case,
    CaseEvent,
    CoeSnapshot,
    Contact,
    Customer,
    Dashboard,
    EndUser,
    EntitlementEntry,
    EventInvitation,
    OptimisationRequest,
    PlanningModel,
    ProgrammeEnrolment,
    QbrNote,
    Region,
    SurveyCampaign,
    SurveyResponse,
    TierChange,
    User,
    Workspace,
)
from data_access.monitor import ACTOR as MONITOR_ACTOR
from data_access.monitor import run_monitor
from data_access.policies import seed_default_policies, tier_policies
from domain.contacts import CONTACT_CHANNELS
from domain.tiers import Tier, TierPolicy
from seed.cases import Progress, seed_cases
from seed.metrics import MONITORED_DAYS, seed_metrics
from seed.names import (
    COMPANY_FIRST,
    COMPANY_SECOND,
    INDUSTRIES,
    MODEL_KINDS,
    REGIONS,
    STAFF,
    person,
    slug,
)
from seed.programmes import seed_programmes


@dataclass
class SeedOptions:
    seed: int = 7
    customers: int = 40
    cases: int = 5_000
    open_cases: int | None = None
    days: int = 365
    today: date = field(default_factory=lambda: datetime.now(UTC).date())
    demo_password: str | None = None
    now: datetime | None = None

    def moment(self) -> datetime:
        """The instant the data is "as of": `now` if given, else noon UTC of `today`, but never
        later than the real clock, so a seed run in the morning opens no case in the future."""
        if self.now is not None:
            return self.now.astimezone(UTC)
        return min(datetime.combine(self.today, time(12, 0), tzinfo=UTC), datetime.now(UTC))

    def resolved_open_cases(self) -> int:
        if self.open_cases is not None:
            return min(self.open_cases, self.cases)
        return min(self.cases, 5_000, max(20, self.cases // 30))


@dataclass
class SeedReport:
    logins: dict[str, tuple[str, str]]  # username -> (role, password)
    counts: dict[str, int]


def _silent(_step: str, _fraction: float) -> None:
    return None


def database_is_empty(engine: Engine) -> bool:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(User)).one() == 0


def seed_database(engine: Engine, options: SeedOptions, progress: Progress = _silent) -> SeedReport:
    """Fill an empty database; refuses a database that already holds users."""
    if not database_is_empty(engine):
        raise RuntimeError("The database already holds data; seed only an empty database.")
    rng = np.random.default_rng(options.seed)
    now = options.moment()
    counts: dict[str, int] = {}
    progress("Reference data", 0.0)
    with Session(engine) as session:
        logins = _reference_data(session, rng, options)
        customers = _customers(session, rng, options)
        session.commit()
        counts["customers"] = len(customers)
        policies = tier_policies(session=session)
        csm_ids = [u.id for u in session.exec(select(User)).all() if u.roles == "csm"]
        contacts = _contacts(session, rng, customers)
        session.commit()
    with engine.begin() as connection:
        progress("End users, workspaces and models", 0.05)
        end_users, models, dashboards = _estate(connection, rng, customers, policies)
        counts.update(end_users=len(end_users), models=len(models), dashboards=len(dashboards))
    counts["cases"] = seed_cases(
        engine,
        rng,
        total=options.cases,
        open_total=options.resolved_open_cases(),
        days=options.days,
        customers=customers,
        csm_ids=csm_ids,
        now=now,
        progress=progress,
    )
    with engine.begin() as connection:
        progress("Daily model metrics", 0.8)
        counts["metric_rows"] = seed_metrics(
            connection,
            rng,
            today=options.today,
            days=options.days,
            models=models,
            dashboards=dashboards,
            end_users=end_users,
        )
        progress("Entitlements, surveys, CoE and QBR", 0.92)
        counts.update(
            seed_programmes(
                connection,
                rng,
                seed=options.seed,
                today=options.today,
                customers=customers,
                contacts=contacts,
                end_users=end_users,
                now=now,
            )
        )
        reset_sequences(
            connection,
            [
                EndUser.__table__,
                Workspace.__table__,
                PlanningModel.__table__,
                Dashboard.__table__,
                Case.__table__,
                CaseEvent.__table__,
                SurveyCampaign.__table__,
                SurveyResponse.__table__,
                EntitlementEntry.__table__,
                OptimisationRequest.__table__,
                CoeSnapshot.__table__,
                QbrNote.__table__,
                EventInvitation.__table__,
                ProgrammeEnrolment.__table__,
            ],
        )
    counts["alerts"] = _monitor_recent_days(engine, options, progress)
    progress("Done", 1.0)
    return SeedReport(logins=logins, counts=counts)


def _monitor_recent_days(engine: Engine, options: SeedOptions, progress: Progress) -> int:
    """Run the daily monitoring job over the last fortnight, as it would have run each night
    (storing each night's bands, which the monitoring chart shows for those days)."""
    opened = 0
    monitor = Actor.system(MONITOR_ACTOR)
    first = options.today - timedelta(days=min(MONITORED_DAYS, options.days))
    for offset in range((options.today - first).days):
        day = first + timedelta(days=offset)
        progress(f"Monitoring {day:%d %b}", 0.95)
        with session_scope(engine) as session:
            opened += run_monitor(session=session, actor=monitor, day=day).opened
    return opened


def _reference_data(session: Session, rng: np.random.Generator, options: SeedOptions) -> dict:
    seed_default_policies(session=session)
    region_ids = {}
    for code, name, tz, country in REGIONS:
        region = Region(code=code, name=name, timezone=tz, holiday_country=country)
        session.add(region)
        session.flush()
        region_ids[code] = region.id
        for weekday in range(5):
            session.add(
                BusinessHours(region_id=region.id, weekday=weekday, opens=time(9), closes=time(17))
            )
    logins = {}
    hashes: dict[str, str] = {}  # one bcrypt run per distinct password (a shared demo password)
    for username, name, role, tz, region in STAFF:
        password = options.demo_password or secrets.token_urlsafe(9)
        logins[username] = (role, password)
        if password not in hashes:
            hashes[password] = hash_password(password)
        session.add(
            User(
                username=username,
                name=name,
                email=f"{username}@hypercare.example",
                password_hash=hashes[password],
                roles=role,
                timezone=tz,
                region_id=region_ids.get(region),
            )
        )
    session.flush()
    return logins


def _customers(session: Session, rng: np.random.Generator, options: SeedOptions) -> pd.DataFrame:
    regions = {r.code: r.id for r in session.exec(select(Region)).all()}
    users = {u.username: u for u in session.exec(select(User)).all()}
    csm_by_region = {
        "APAC": ["csm.apac"],
        "EMEA": ["csm.emea"],
        "NA": ["csm.na", "csm.na2"],
    }
    resource_by_region = {"APAC": "resource.apac", "EMEA": "resource.emea", "NA": "resource.na"}
    tiers = [Tier.BASIC, Tier.PROFESSIONAL, Tier.ENTERPRISE]
    rows = []
    names = set()
    for index in range(options.customers):
        region = list(regions)[index % 3]
        tier = tiers[rng.choice(3, p=[0.4, 0.35, 0.25])] if index >= 3 else tiers[index]
        name = f"{COMPANY_FIRST[index % len(COMPANY_FIRST)]} {COMPANY_SECOND[index % len(COMPANY_SECOND)]}"
        if name in names:
            name = f"{name} {index // len(COMPANY_FIRST) + 1}"
        names.add(name)
        csm = csm_by_region[region][index % len(csm_by_region[region])]
        start = options.today - timedelta(days=int(rng.integers(60, 365 * 3)))
        customer = Customer(
            name=name,
            tier=tier,
            region_id=regions[region],
            csm_id=users[csm].id,
            hypercare_resource_id=users[resource_by_region[region]].id
            if tier != Tier.BASIC
            else None,
            hypercare_start=start,
            industry=INDUSTRIES[int(rng.integers(len(INDUSTRIES)))],
            size_band=("small", "medium", "large")[int(rng.choice(3, p=[0.3, 0.45, 0.25]))],
            licensed_users=int(rng.integers(50, 2000)),
        )
        session.add(customer)
        session.flush()
        session.add(
            TierChange(customer_id=customer.id, effective_on=start, from_tier=None, to_tier=tier)
        )
        rows.append(
            {
                "id": customer.id,
                "tier": str(tier),
                "region": region,
                "start": start,
                "region_id": regions[region],
                "name": name,
                "csm_id": users[csm].id,
                "resource_id": customer.hypercare_resource_id or 0,
            }
        )
    return pd.DataFrame(rows)


def _contacts(session: Session, rng: np.random.Generator, customers: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for customer in customers.itertuples():
        domain = slug(customer.name).replace(".", "") + ".example"
        for position in range(int(rng.integers(2, 4))):
            name = person(rng)
            channel = CONTACT_CHANNELS[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
            contact = Contact(
                customer_id=customer.id,
                name=name,
                title=("Head of Planning", "CoE Lead", "IT Director", "Model Builder")[
                    position % 4
                ],
                email=f"{slug(name)}@{domain}",
                phone=f"+1 555 {int(rng.integers(1000, 9999))}",
                chat_handle=f"@{slug(name)}",
                preferred_channel=channel,
                is_primary=position == 0,
            )
            session.add(contact)
            session.flush()
            rows.append({"id": contact.id, "customer_id": customer.id})
    return pd.DataFrame(rows)


def _estate(
    connection: Connection,
    rng: np.random.Generator,
    customers: pd.DataFrame,
    policies: Mapping[str, TierPolicy],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """End users, workspaces, models (the first production ones enrolled up to the tier's cap)
    and dashboards of every customer; returns the end-user, model and dashboard frames."""
    end_users, workspaces, models, dashboards = [], [], [], []
    for customer in customers.itertuples():
        domain = slug(customer.name).replace(".", "") + ".example"
        seen = set()
        for _ in range(int(rng.integers(12, 30))):
            name = person(rng)
            email = f"{slug(name)}@{domain}"
            if email in seen:
                continue
            seen.add(email)
            end_users.append(
                {"customer_id": customer.id, "name": name, "email": email, "is_active": True}
            )
        cap = policies[customer.tier].monitored_models_cap
        for w in range(int(rng.integers(1, 4))):
            allowance = float(rng.choice([50, 100, 200]))
            workspaces.append(
                {
                    "customer_id": customer.id,
                    "name": f"{customer.name.split()[0]} WS{w + 1}",
                    "size_gb": round(float(rng.uniform(0.2, 0.95)) * allowance, 1),
                    "allowance_gb": allowance,
                }
            )
            for m in range(int(rng.integers(2, 6))):
                models.append(
                    {
                        "customer_id": customer.id,
                        "workspace_index": len(workspaces) - 1,
                        "name": f"{MODEL_KINDS[(w * 5 + m) % len(MODEL_KINDS)]} {'PROD' if m < 3 else 'DEV'}",
                        "is_production": m < 3,
                        "cap": cap,
                    }
                )
    users_frame = pd.DataFrame(end_users)
    users_frame.insert(0, "id", np.arange(1, len(users_frame) + 1))
    bulk_insert(connection, EndUser.__table__, users_frame)
    ws_frame = pd.DataFrame(workspaces)
    ws_frame.insert(0, "id", np.arange(1, len(ws_frame) + 1))
    bulk_insert(connection, Workspace.__table__, ws_frame)
    model_frame = pd.DataFrame(models)
    model_frame.insert(0, "id", np.arange(1, len(model_frame) + 1))
    model_frame["workspace_id"] = ws_frame["id"].to_numpy()[model_frame["workspace_index"]]
    production_rank = model_frame[model_frame["is_production"]].groupby("customer_id").cumcount()
    model_frame["in_monitoring"] = False
    model_frame.loc[production_rank.index, "in_monitoring"] = (
        production_rank < model_frame.loc[production_rank.index, "cap"]
    )
    model_frame["in_weekly_report"] = model_frame["in_monitoring"]
    bulk_insert(
        connection,
        PlanningModel.__table__,
        model_frame[
            [
                "id",
                "workspace_id",
                "customer_id",
                "name",
                "is_production",
                "in_monitoring",
                "in_weekly_report",
            ]
        ],
    )
    for model in model_frame.itertuples():
        for d in range(int(rng.integers(1, 4))):
            dashboards.append(
                {"model_id": model.id, "name": ("Executive summary", "Variance", "Input grid")[d]}
            )
    dash_frame = pd.DataFrame(dashboards)
    dash_frame.insert(0, "id", np.arange(1, len(dash_frame) + 1))
    bulk_insert(connection, Dashboard.__table__, dash_frame)
    return users_frame, model_frame, dash_frame
