"""Deterministic, realistic demo and scale data, written in bulk through data_access.

Everything is drawn from one `numpy` generator seeded by `--seed`, relative to a reference day,
so the same flags give the same database. Cases and metrics are built as whole arrays and
written with `bulk_insert`: a million cases with their event history take well under two
minutes on SQLite.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from data_access.actor import Actor
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
    DashboardActivityDaily,
    EndUser,
    EntitlementEntry,
    EventInvitation,
    ModelMetricDaily,
    OptimisationRequest,
    PlanningModel,
    ProgrammeEnrolment,
    QbrNote,
    Region,
    SurveyCampaign,
    SurveyResponse,
    TierChange,
    User,
    UserActivityDaily,
    Workspace,
)
from data_access.monitor import ACTOR as MONITOR_ACTOR
from data_access.monitor import run_monitor
from data_access.policies import seed_default_policies, tier_policies
from data_access.users import hash_password
from domain.lifecycle import OPEN_STATUSES
from domain.tiers import DEFAULT_POLICIES, Tier
from seed.coe import coe_benchmarks
from seed.events import seed_events
from seed.qbr import qbr_history

REGIONS = (
    ("APAC", "Asia Pacific", "Asia/Singapore", "SG"),
    ("EMEA", "Europe, Middle East and Africa", "Europe/London", "GB"),
    ("NA", "North America", "America/New_York", "US"),
)

STAFF = (
    ("admin", "Ada Admin", "admin", "UTC", None),
    ("manager", "Morgan Manager", "manager", "Europe/London", "EMEA"),
    ("csm.apac", "Priya Raman", "csm", "Asia/Singapore", "APAC"),
    ("csm.emea", "Lukas Weber", "csm", "Europe/London", "EMEA"),
    ("csm.na", "Jordan Lee", "csm", "America/New_York", "NA"),
    ("csm.na2", "Sam Ortiz", "csm", "America/Chicago", "NA"),
    ("resource.apac", "Mei Tanaka", "csm", "Asia/Tokyo", "APAC"),
    ("resource.emea", "Sofia Rossi", "csm", "Europe/Rome", "EMEA"),
    ("resource.na", "Chris Walker", "csm", "America/New_York", "NA"),
    ("surveys", "Noor Haddad", "survey_staff", "Europe/London", "EMEA"),
    ("surveys2", "Tom Becker", "survey_staff", "America/New_York", "NA"),
)

COMPANY_FIRST = (
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Wingtip",
    "Litware",
    "Adatum",
    "Proseware",
    "Lucerne",
    "Margie",
    "Fourth Coffee",
    "Alpine Ski",
    "Blue Yonder",
    "Coho",
    "Humongous",
    "Trey",
    "Wide World",
    "Woodgrove",
    "Graphic",
    "Southridge",
    "Relecloud",
    "Lamna",
    "Bellows",
    "Datum",
    "Consolidated",
    "School of Fine",
    "Tasmanian",
    "Kestrel",
    "Harbour",
    "Summit",
)
COMPANY_SECOND = (
    "Traders",
    "Holdings",
    "Energy",
    "Logistics",
    "Retail",
    "Pharma",
    "Bank",
    "Insurance",
    "Manufacturing",
    "Foods",
    "Airlines",
    "Telecom",
    "Media",
    "Health",
    "Motors",
)
INDUSTRIES = ("Retail", "Financial services", "Manufacturing", "Life sciences", "Energy", "Media")
FIRST_NAMES = (
    "Alex",
    "Bea",
    "Carlos",
    "Dana",
    "Eli",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Uma",
    "Viktor",
    "Wen",
    "Yara",
    "Zoe",
)
LAST_NAMES = (
    "Smith",
    "Nguyen",
    "Garcia",
    "Müller",
    "Okafor",
    "Rossi",
    "Tanaka",
    "Kowalski",
    "Dubois",
    "Singh",
    "Haddad",
    "Johansson",
    "O'Brien",
    "Silva",
    "Kim",
    "Novak",
)
CASE_TOPICS = (
    "Import action fails with timeout",
    "Model opening slowly",
    "Dashboard not refreshing",
    "Export to CSV truncated",
    "User cannot access workspace",
    "Formula returns wrong total",
    "Integration job stuck in queue",
    "SSO login loop",
    "List item missing after import",
    "Process runs twice",
    "ALM sync error",
    "Page builder layout broken",
)
MODEL_KINDS = (
    "Sales Forecast",
    "Workforce Planning",
    "FP&A Consolidation",
    "Supply Plan",
    "Territory & Quota",
    "Opex Budget",
    "Capex Plan",
    "Revenue Planning",
    "Demand Sensing",
    "Incentive Comp",
)
MONITORED_DAYS = 14
METRICS = (
    "open_time_s",
    "import_s",
    "export_s",
    "processing_s",
    "times_accessed",
    "users",
    "changes",
)


FIRST_RESPONSE_MINUTES = {p.tier: p.first_response_minutes for p in DEFAULT_POLICIES}
RESOLUTION_DAYS = {p.tier: p.resolution_business_days for p in DEFAULT_POLICIES}


def _per_tier(tiers: np.ndarray, values: dict[str, float]) -> np.ndarray:
    return pd.Series(tiers).map(values).to_numpy(dtype=float)


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


Progress = Callable[[str, float], None]


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
    counts["cases"] = _cases(engine, rng, options, customers, csm_ids, now, progress)
    with engine.begin() as connection:
        progress("Daily model metrics", 0.8)
        counts["metric_rows"] = _metrics(connection, rng, options, models, dashboards, end_users)
        progress("Entitlements, surveys, CoE and QBR", 0.92)
        counts.update(
            _programme_data(connection, rng, options, customers, contacts, end_users, now)
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
    """Run the daily monitoring job over the last fortnight, as it would have run each night."""
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


def _person(rng: np.random.Generator) -> str:
    return f"{FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]} {LAST_NAMES[int(rng.integers(len(LAST_NAMES)))]}"


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower().replace(" ", ".") if ch.isalnum() or ch == ".")


def _contacts(session: Session, rng: np.random.Generator, customers: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for customer in customers.itertuples():
        domain = _slug(customer.name).replace(".", "") + ".example"
        for position in range(int(rng.integers(2, 4))):
            name = _person(rng)
            channel = ("email", "phone", "chat")[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
            contact = Contact(
                customer_id=customer.id,
                name=name,
                title=("Head of Planning", "CoE Lead", "IT Director", "Model Builder")[
                    position % 4
                ],
                email=f"{_slug(name)}@{domain}",
                phone=f"+1 555 {int(rng.integers(1000, 9999))}",
                chat_handle=f"@{_slug(name)}",
                preferred_channel=channel,
                is_primary=position == 0,
            )
            session.add(contact)
            session.flush()
            rows.append({"id": contact.id, "customer_id": customer.id})
    return pd.DataFrame(rows)


def _estate(connection, rng, customers: pd.DataFrame, policies) -> tuple:
    end_users, workspaces, models, dashboards = [], [], [], []
    for customer in customers.itertuples():
        domain = _slug(customer.name).replace(".", "") + ".example"
        seen = set()
        for _ in range(int(rng.integers(12, 30))):
            name = _person(rng)
            email = f"{_slug(name)}@{domain}"
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


def _case_timelines(rng, n: int, tier: np.ndarray, severity: np.ndarray) -> dict[str, np.ndarray]:
    """Minute offsets from opening of every milestone a case may pass through."""
    target = _per_tier(tier, FIRST_RESPONSE_MINUTES)
    late = rng.random(n) < 0.08
    reply = np.where(
        severity == 1,
        rng.uniform(2, 25, n),
        np.where(late, target * rng.uniform(1.05, 2.5, n), target * rng.uniform(0.1, 0.95, n)),
    )
    has_pending = rng.random(n) < 0.35
    pending_start = reply + rng.exponential(600, n)
    pending_end = pending_start + rng.exponential(1_500, n)
    transfer_level = rng.choice(
        np.array(["", "transferred_l2", "transferred_l3"]), n, p=[0.9, 0.075, 0.025]
    )
    transfer_start = np.maximum(reply, np.where(has_pending, pending_end, reply)) + rng.exponential(
        300, n
    )
    transfer_end = transfer_start + rng.exponential(4_000, n)
    work_from = np.where(
        transfer_level != "", transfer_end, np.where(has_pending, pending_end, reply)
    )
    solve = work_from + rng.gamma(2.0, 900, n) * np.select(
        [severity == 1, severity == 2], [0.2, 0.6], 1.0
    )
    reopened = rng.random(n) < 0.03
    reopen_at = solve + rng.exponential(1_200, n)
    resolve = reopen_at + rng.exponential(600, n)
    final_solve = np.where(reopened, resolve, solve)
    close = final_solve + 3 * 24 * 60
    return {
        "reply": reply,
        "has_pending": has_pending,
        "pending_start": pending_start,
        "pending_end": pending_end,
        "transfer_level": transfer_level,
        "transfer_start": transfer_start,
        "transfer_end": transfer_end,
        "solve": solve,
        "reopened": reopened,
        "reopen_at": reopen_at,
        "final_solve": final_solve,
        "close": close,
    }


def _cases(
    engine, rng, options: SeedOptions, customers: pd.DataFrame, csm_ids, now, progress
) -> int:
    total = options.cases
    open_total = options.resolved_open_cases()
    chunk = 200_000
    next_case_id, next_event_id = 1, 1
    open_left = open_total
    weights = (
        customers["tier"].map({"basic": 1.0, "professional": 1.6, "enterprise": 2.2}).to_numpy()
    )
    weights = weights / weights.sum()
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        n_open = min(open_left, round(open_total * n / total)) if start + n < total else open_left
        open_left -= n_open
        frame, events = _case_chunk(rng, n, n_open, customers, weights, csm_ids, now, options.days)
        frame.insert(0, "id", np.arange(next_case_id, next_case_id + n))
        events["case_id"] = frame["id"].to_numpy()[events.pop("row")]
        events.insert(0, "id", np.arange(next_event_id, next_event_id + len(events)))
        next_case_id += n
        next_event_id += len(events)
        with engine.begin() as connection:
            bulk_insert(connection, Case.__table__, frame)
            bulk_insert(connection, CaseEvent.__table__, events)
        progress(f"Cases {start + n:,}/{total:,}", 0.1 + 0.7 * (start + n) / total)
    return total


def _case_chunk(rng, n, n_open, customers, weights, csm_ids, now, days):
    customer_row = rng.choice(len(customers), n, p=weights)
    tier = customers["tier"].to_numpy()[customer_row]
    severity = rng.choice(np.array([1, 2, 3, 4]), n, p=[0.03, 0.17, 0.45, 0.35])
    t = _case_timelines(rng, n, tier, severity)
    is_open = np.zeros(n, dtype=bool)
    is_open[rng.choice(n, n_open, replace=False)] = True
    open_status = rng.choice(
        np.array(["new", "open", "pending_customer", "transferred_l2", "transferred_l3"]),
        n,
        p=[0.12, 0.5, 0.23, 0.11, 0.04],
    )
    closed_status = np.where(rng.random(n) < 0.85, "closed", "solved")
    # Every open state appears at least once, however few cases are open.
    first_open = np.flatnonzero(is_open)[: len(OPEN_STATUSES)]
    open_status[first_open] = np.array(OPEN_STATUSES)[: len(first_open)]
    status = np.where(is_open, open_status, closed_status)
    # How far into its life an open case is, in minutes since opening.
    # Open cases spread over their targets, so the queue shows on-track, at-risk and late ones.
    first_response = _per_tier(tier, FIRST_RESPONSE_MINUTES)
    resolution_calendar = _per_tier(tier, RESOLUTION_DAYS) * 24 * 60 * 7 / 5
    age_open = np.select(
        [status == "new", status == "open", status == "pending_customer"],
        [
            first_response * rng.uniform(0.05, 1.3, n),
            t["reply"] + resolution_calendar * rng.uniform(0.02, 1.2, n),
            t["pending_start"] + rng.uniform(1, 600, n),
        ],
        t["transfer_start"] + rng.uniform(1, 900, n),
    )
    new_without_reply = status == "new"
    last = np.where(status == "closed", t["close"], t["final_solve"])
    horizon = days * 24 * 60
    age_closed = last + rng.uniform(0, 1, n) * np.maximum(horizon - last, 60)
    age = np.where(is_open, age_open, age_closed)
    now64 = np.datetime64(now.replace(tzinfo=None), "us")
    opened = now64 - (age * 60e6).astype("timedelta64[us]")

    def at(offset):
        return opened + (offset * 60e6).astype("timedelta64[us]")

    event_parts = []

    def pick(value, rows):
        return value[rows] if isinstance(value, np.ndarray) else value

    def add(mask, when, kind, from_status, to_status):
        rows = np.flatnonzero(mask)
        if rows.size:
            event_parts.append(
                pd.DataFrame(
                    {
                        "row": rows,
                        "at": when[rows],
                        "kind": kind,
                        "from_status": pick(from_status, rows),
                        "to_status": pick(to_status, rows),
                    }
                )
            )

    everyone = np.ones(n, dtype=bool)
    add(everyone, opened, "status", None, "new")
    replied = ~new_without_reply
    add(replied, at(t["reply"]), "public_reply", None, None)
    add(replied, at(t["reply"]), "status", "new", "open")
    went_pending = (
        replied
        & t["has_pending"]
        & ((~is_open) | (status != "open") | (age_open > t["pending_end"]))
    )
    went_pending |= status == "pending_customer"
    add(went_pending, at(t["pending_start"]), "status", "open", "pending_customer")
    add(
        went_pending & (status != "pending_customer"),
        at(t["pending_end"]),
        "status",
        "pending_customer",
        "open",
    )
    transferred = replied & (t["transfer_level"] != "") & ~is_open
    transferred |= np.isin(status, ["transferred_l2", "transferred_l3"])
    level = np.where(
        np.isin(status, ["transferred_l2", "transferred_l3"]), status, t["transfer_level"]
    )
    level = np.where(level == "", "transferred_l2", level)
    add(transferred, at(t["transfer_start"]), "status", "open", level)
    add(transferred & ~is_open, at(t["transfer_end"]), "status", level, "open")
    done = ~is_open
    add(done, at(t["solve"]), "status", "open", "solved")
    reopened = done & t["reopened"]
    add(reopened, at(t["reopen_at"]), "status", "solved", "open")
    add(reopened, at(t["final_solve"]), "status", "open", "solved")
    add(status == "closed", at(t["close"]), "status", "solved", "closed")
    events = pd.concat(event_parts, ignore_index=True).sort_values(["row", "at"], kind="stable")
    events["at"] = pd.to_datetime(events["at"]).dt.tz_localize("UTC")
    events["note"] = ""
    events["actor_id"] = pd.array(
        np.where(
            events["kind"] == "public_reply",
            np.asarray(csm_ids)[rng.integers(len(csm_ids), size=len(events))],
            0,
        ),
        dtype="Int64",
    )
    events.loc[events["actor_id"] == 0, "actor_id"] = pd.NA

    topics = np.array(CASE_TOPICS)[rng.integers(len(CASE_TOPICS), size=n)]
    # A case is worked by its customer's CSM or, for HyperCare customers, often its resource.
    owner = customers["csm_id"].to_numpy()[customer_row]
    resource = customers["resource_id"].to_numpy()[customer_row]
    assignee = np.where((resource > 0) & (rng.random(n) < 0.4), resource, owner)
    tz = "UTC"
    frame = pd.DataFrame(
        {
            "customer_id": customers["id"].to_numpy()[customer_row],
            "subject": topics,
            "description": "",
            "severity": severity,
            "is_outage": (severity == 1) & (rng.random(n) < 0.3),
            "channel": rng.choice(
                np.array(["email", "phone", "chat", "portal"]), n, p=[0.4, 0.2, 0.2, 0.2]
            ),
            "status": status,
            "assignee_id": pd.array(np.where(new_without_reply, 0, assignee), dtype="Int64"),
            "opened_at": pd.to_datetime(opened).tz_localize(tz),
            "first_response_at": pd.to_datetime(
                np.where(replied, at(t["reply"]), np.datetime64("NaT"))
            ).tz_localize(tz),
            "solved_at": pd.to_datetime(
                np.where(done, at(t["final_solve"]), np.datetime64("NaT"))
            ).tz_localize(tz),
            "closed_at": pd.to_datetime(
                np.where(status == "closed", at(t["close"]), np.datetime64("NaT"))
            ).tz_localize(tz),
            "escalated_to": np.where(
                transferred, np.where(level == "transferred_l3", "L3", "L2"), None
            ),
            "version": 1,
            "updated_at": pd.to_datetime(np.full(n, now64)).tz_localize(tz),
        }
    )
    frame.loc[frame["assignee_id"] == 0, "assignee_id"] = pd.NA
    return frame, events[["row", "at", "actor_id", "kind", "from_status", "to_status", "note"]]


def _metrics(
    connection, rng, options: SeedOptions, models: pd.DataFrame, dashboards, end_users
) -> int:
    """A year of daily figures per production model: weekly rhythm, drift, a few incidents."""
    monitored = models[models["is_production"]]
    days = pd.date_range(end=options.today - timedelta(days=1), periods=options.days, freq="D")
    weekday = days.day_of_week.to_numpy()
    workday = np.where(weekday < 5, 1.0, 0.25)
    frames = []
    for model in monitored.itertuples():
        scale = float(rng.uniform(0.5, 3.0))
        noise = lambda s: rng.normal(1.0, s, len(days)).clip(0.5)  # noqa: E731
        open_time = 20 * scale * noise(0.06) * (1 + 0.0005 * np.arange(len(days)))
        import_s = 45 * scale * noise(0.1)
        export_s = 30 * scale * noise(0.1)
        processing = 120 * scale * noise(0.08)
        users = np.round(rng.uniform(15, 120) * workday * noise(0.08))
        accessed = np.round(users * rng.uniform(3, 8) * noise(0.1))
        changes = np.round(users * rng.uniform(5, 30) * noise(0.15))
        if rng.random() < 0.35 and len(days) > 60:
            # Half the incidents fall in the last fortnight, which the seed's monitor runs score.
            recent = rng.random() < 0.5
            at = int(
                len(days) - rng.integers(4, MONITORED_DAYS)
                if recent
                else rng.integers(len(days) // 2, len(days) - 5)
            )
            length = int(rng.integers(3, 6))
            kind = int(rng.integers(3))
            window = slice(at, at + length)
            if kind == 0:
                open_time[window] *= rng.uniform(3, 6)
            elif kind == 1:
                processing[window] *= rng.uniform(3, 5)
            else:
                users[window] = np.round(users[window] * 0.1)
                accessed[window] = np.round(accessed[window] * 0.1)
        frames.append(
            pd.DataFrame(
                {
                    "model_id": model.id,
                    "day": days.date,
                    "open_time_s": open_time.round(2),
                    "import_s": import_s.round(2),
                    "export_s": export_s.round(2),
                    "processing_s": processing.round(2),
                    "times_accessed": accessed.astype(int),
                    "users": users.astype(int),
                    "changes": changes.astype(int),
                }
            )
        )
    if not frames:
        return 0
    metrics = pd.concat(frames, ignore_index=True)
    metrics["day"] = metrics["day"].astype(str)
    bulk_insert(connection, ModelMetricDaily.__table__, metrics)
    rows = len(metrics)
    activity = _activity_breakdown(rng, options, metrics, monitored, dashboards, end_users)
    for table, frame in zip(
        (DashboardActivityDaily.__table__, UserActivityDaily.__table__), activity, strict=True
    ):
        if len(frame):
            bulk_insert(connection, table, frame)
            rows += len(frame)
    return rows


def _split(rng: np.random.Generator, totals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each day's total shared out over the columns: rows add up to `totals` exactly."""
    return rng.multinomial(totals.astype(np.int64), weights / weights.sum())


def _activity_breakdown(
    rng, options: SeedOptions, metrics: pd.DataFrame, monitored, dashboards, end_users
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last 12 weeks of each production model's opens and changes, broken down by dashboard
    and by named end user, so the weekly report's granularities add up to the model's figures.

    Every open lands on one of the model's dashboards, and every open is someone on the
    customer's end-user list: the dashboard rows and the user rows of a model-day each sum to
    that model-day's `times_accessed` and `changes`.
    """
    recent = metrics[metrics["day"] >= str(options.today - timedelta(days=84))]
    by_model = dict(tuple(recent.groupby("model_id")))
    dash_rows, user_rows = [], []
    for model in monitored.itertuples():
        figures = by_model.get(model.id)
        if figures is None:
            continue
        days = figures["day"].to_numpy()
        accessed = figures["times_accessed"].to_numpy()
        changes = figures["changes"].to_numpy()
        users = figures["users"].to_numpy()
        boards = dashboards.loc[dashboards["model_id"] == model.id, "id"].to_numpy()
        if len(boards):
            share = rng.dirichlet(np.full(len(boards), 2.0))
            opens = _split(rng, accessed, share)
            edits = _split(rng, changes, share)
            viewers = np.minimum(
                users[:, None], np.ceil(users[:, None] * np.clip(share * 1.5, 0, 1))
            )
            dash_rows.append(
                pd.DataFrame(
                    {
                        "dashboard_id": np.tile(boards, len(days)),
                        "day": np.repeat(days, len(boards)),
                        "times_accessed": opens.ravel(),
                        "users": viewers.astype(int).ravel(),
                        "changes": edits.ravel(),
                        "open_time_s": (
                            figures["open_time_s"].to_numpy()[:, None]
                            * rng.uniform(0.05, 0.3, (len(days), len(boards)))
                        )
                        .round(2)
                        .ravel(),
                    }
                )
            )
        pool = end_users.loc[end_users["customer_id"] == model.customer_id, "id"].to_numpy()
        if not len(pool):
            continue
        for day, opened, changed, people in zip(days, accessed, changes, users, strict=True):
            active = int(min(people, len(pool), max(opened, 1 if changed else 0)))
            if active == 0:
                continue
            who = rng.choice(pool, active, replace=False)
            even = np.ones(active)
            floor = np.ones(active, dtype=np.int64) if opened >= active else 0
            spread = _split(rng, np.array([opened - np.sum(floor)]), even)[0]
            user_rows.append(
                (
                    who,
                    np.full(active, model.id),
                    np.full(active, day),
                    floor + spread,
                    _split(rng, np.array([changed]), even)[0],
                )
            )
    dash_frame = pd.concat(dash_rows, ignore_index=True) if dash_rows else pd.DataFrame()
    columns = ("end_user_id", "model_id", "day", "times_accessed", "changes")
    user_frame = pd.DataFrame(
        {
            name: np.concatenate([row[i] for row in user_rows]) if user_rows else []
            for i, name in enumerate(columns)
        }
    )
    return dash_frame, user_frame


def _programme_data(
    connection, rng, options, customers, contacts, end_users, now
) -> dict[str, int]:
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
        year_start = customer.start.replace(
            year=customer.start.year + max(0, (options.today - customer.start).days // 365)
        )
        if year_start > options.today:
            year_start = customer.start
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
    counts.update(qbr_history(connection, seed=options.seed, now=now))
    counts.update(coe_benchmarks(connection, seed=options.seed, now=now))
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
    counts.update(
        seed_events(
            connection, seed=options.seed, customers=customers, today=options.today, now=now
        )
    )
    return counts
