"""Entitlement commands and reads on SQLite and PostgreSQL: ledger, requests, caps, tier changes."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from data_access import (
    entitlement_ledger,
    entitlement_portfolio,
    model_caps,
    optimisation_requests,
)
from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.db import session_scope
from data_access.models import (
    AuditLog,
    Contact,
    Customer,
    EntitlementEntry,
    OptimisationRequest,
    PlanningModel,
    Region,
    TierChange,
    User,
    Workspace,
    utc_now,
)
from data_access.policies import seed_default_policies, tier_labels, tier_policies
from data_access.scope import Scope
from domain.entitlements import (
    ENTITLEMENT_LABELS,
    PER_YEAR_KINDS,
    Entitlement,
    allowance,
    subscription_year,
)
from domain.tiers import Tier
from tests.data_access.query_plans import full_scans, recorded_statements

OPT = Entitlement.MODEL_OPTIMISATION.value
TODAY = utc_now().date()


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def add_user(session: Session, username: str, roles: str = "csm") -> User:
    user = User(
        username=username,
        name=username.title(),
        email=f"{username}@x.example",
        password_hash="x",
        roles=roles,
    )
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def world(engine):
    """Policies, a region, a CSM, a manager and an empty database ready for customers."""
    with Session(engine, expire_on_commit=False) as session:
        seed_default_policies(session=session)
        region = Region(code="EMEA", name="EMEA", timezone="Europe/London", holiday_country="GB")
        session.add(region)
        session.flush()
        csm = add_user(session, "csm.one")
        other = add_user(session, "csm.two")
        manager = add_user(session, "boss", "manager")
        session.commit()
        return {
            "engine": engine,
            "region_id": region.id,
            "csm": csm,
            "other": other,
            "manager": manager,
            "policies": tier_policies(session=session),
        }


def make_customer(
    world,
    tier: str = Tier.PROFESSIONAL,
    start: date | None = None,
    production_models: int = 3,
    other_models: int = 1,
    csm: User | None = None,
    name: str | None = None,
) -> dict:
    start = start or TODAY - timedelta(days=100)
    with Session(world["engine"], expire_on_commit=False) as session:
        customer = Customer(
            name=name or f"Customer {tier} {start} {production_models}",
            tier=tier,
            region_id=world["region_id"],
            csm_id=(csm or world["csm"]).id,
            hypercare_start=start,
        )
        session.add(customer)
        session.flush()
        session.add(
            TierChange(customer_id=customer.id, effective_on=start, from_tier=None, to_tier=tier)
        )
        contact = Contact(customer_id=customer.id, name="Ada Lovelace", email="ada@c.example")
        workspace = Workspace(customer_id=customer.id, name="Main")
        session.add_all([contact, workspace])
        session.flush()
        models = [
            PlanningModel(
                workspace_id=workspace.id,
                customer_id=customer.id,
                name=f"Model {n:02d}",
                is_production=n < production_models,
            )
            for n in range(production_models + other_models)
        ]
        session.add_all(models)
        session.commit()
        return {
            "id": customer.id,
            "name": customer.name,
            "start": start,
            "contact_id": contact.id,
            "model_ids": [m.id for m in models],
            "production_ids": [m.id for m in models if m.is_production],
            "csm": csm or world["csm"],
        }


def count(engine, table, *where) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(table).where(*where)).one()


def balance_of(engine, customer_id: int, kind: str = OPT, on: date = TODAY):
    with Session(engine) as session:
        frame = entitlement_ledger.entitlement_balances(
            session=session, customer_id=customer_id, on=on
        )
    return frame.set_index("kind").loc[kind]


def debit(world, customer_id: int, now: datetime | None = None, kind: str = OPT):
    with session_scope(world["engine"]) as session:
        return entitlement_ledger.debit_entitlement(
            session=session,
            customer_id=customer_id,
            kind=kind,
            actor=Actor.of(world["csm"]),
            reason="Delivered outside a request",
            now=now,
        )


def log_request(world, customer: dict, requested: date | None = None, **changes):
    requested = requested or TODAY - timedelta(days=1)
    values = {
        "customer_id": customer["id"],
        "contact_id": customer["contact_id"],
        "requested_at": at_noon(requested),
        "request_text": "E-mail of today: the Sales model opens slowly.",
        "target_date": requested + timedelta(weeks=4),
        "model_id": customer["production_ids"][0],
        "actor": Actor.of(customer["csm"]),
    }
    with session_scope(world["engine"]) as session:
        return optimisation_requests.log_optimisation_request(session=session, **(values | changes))


def advance(world, request_id: int, to_state: str, **extra):
    with session_scope(world["engine"]) as session:
        return optimisation_requests.advance_request(
            session=session,
            request_id=request_id,
            to_state=to_state,
            actor=Actor.of(world["csm"]),
            **extra,
        )


def written_rows(engine) -> tuple[int, int, int, int]:
    return (
        count(engine, EntitlementEntry),
        count(engine, OptimisationRequest),
        count(engine, AuditLog),
        count(engine, TierChange),
    )


# --- allowances and balances ------------------------------------------------------------------


@pytest.mark.parametrize("tier", list(Tier))
def test_balances_show_every_allowance_of_the_tier(world, tier):
    customer = make_customer(world, tier=tier)
    with Session(world["engine"]) as session:
        frame = entitlement_ledger.entitlement_balances(
            session=session, customer_id=customer["id"], on=TODAY
        )
    assert list(frame["kind"]) == [kind.value for kind in Entitlement]
    policy = world["policies"][tier]
    for row in frame.itertuples():
        assert row.allowance == allowance(policy, row.kind)
        assert row.label == ENTITLEMENT_LABELS[row.kind]
        assert (row.year_start, row.renews_on) == subscription_year(customer["start"], TODAY)
    per_year = frame[frame["measure"] == "per_year"]
    assert (per_year["remaining"] == per_year["allowance"]).all()
    assert (per_year["used"] == 0).all()


def test_caps_count_the_models_enrolled_now(world):
    customer = make_customer(world, production_models=3)
    for model_id in customer["production_ids"][:2]:
        with session_scope(world["engine"]) as session:
            model_caps.set_enrolment(
                session=session,
                model_id=model_id,
                which="monitoring",
                enrolled=True,
                actor=Actor.of(world["csm"]),
            )
    row = balance_of(world["engine"], customer["id"], Entitlement.MONITORED_MODELS.value)
    cap = world["policies"][Tier.PROFESSIONAL].monitored_models_cap
    assert (row["measure"], row["used"], row["remaining"]) == ("cap", 2, cap - 2)
    weekly = balance_of(world["engine"], customer["id"], Entitlement.WEEKLY_REPORT_MODELS.value)
    assert weekly["used"] == 0


def test_debits_until_none_left_then_refused_with_balance_and_renewal(world):
    customer = make_customer(world)
    allowed = world["policies"][Tier.PROFESSIONAL].model_optimisations_per_year
    for _ in range(allowed):
        debit(world, customer["id"])
    before = written_rows(world["engine"])
    renews = subscription_year(customer["start"], TODAY)[1]
    with pytest.raises(CommandRefused) as refused:
        debit(world, customer["id"])
    assert str(refused.value) == (
        f"No model optimisations left: 0 of {allowed} remaining this subscription year; "
        f"it renews on {renews.isoformat()}."
    )
    assert written_rows(world["engine"]) == before
    row = balance_of(world["engine"], customer["id"])
    assert (row["used"], row["remaining"]) == (allowed, 0)


def test_a_debit_is_audited_with_who_and_why(world):
    customer = make_customer(world)
    entry = debit(world, customer["id"])
    with Session(world["engine"]) as session:
        audit = session.exec(select(AuditLog).where(AuditLog.action == "debit_entitlement")).one()
    assert audit.entity_id == str(entry.id)
    assert audit.actor == "csm.one"
    assert "Delivered outside a request" in audit.detail
    assert entry.actor_id == world["csm"].id


@pytest.mark.parametrize(
    ("kind", "reason", "message"),
    [
        (OPT, "  ", "A reason is required for every ledger entry."),
        ("free_lunch", "why", "'free_lunch' is not an entitlement kind."),
        (
            Entitlement.MONITORED_MODELS.value,
            "why",
            "Models in daily monitoring are not counted in the ledger; "
            "only yearly allowances are debited or credited.",
        ),
    ],
)
def test_invalid_ledger_input_is_refused_and_writes_nothing(world, kind, reason, message):
    customer = make_customer(world)
    before = written_rows(world["engine"])
    for command in (entitlement_ledger.debit_entitlement, entitlement_ledger.credit_entitlement):
        with pytest.raises(CommandRefused) as refused, session_scope(world["engine"]) as session:
            command(
                session=session,
                customer_id=customer["id"],
                kind=kind,
                actor=Actor.of(world["csm"]),
                reason=reason,
            )
        assert str(refused.value) == message
    assert written_rows(world["engine"]) == before


def test_every_yearly_kind_can_be_debited(world):
    customer = make_customer(world, tier=Tier.ENTERPRISE)
    for kind in PER_YEAR_KINDS:
        debit(world, customer["id"], kind=kind.value)
        assert balance_of(world["engine"], customer["id"], kind.value)["used"] == 1


# --- anniversaries ---------------------------------------------------------------------------


def test_a_29_february_start_renews_on_28_february_in_common_years(world):
    customer = make_customer(world, start=date(2024, 2, 29))
    debit(world, customer["id"], now=datetime(2025, 2, 27, 23, 59, tzinfo=UTC))
    debit(world, customer["id"], now=datetime(2025, 2, 28, 0, 0, tzinfo=UTC))
    old_year = balance_of(world["engine"], customer["id"], on=date(2025, 2, 27))
    new_year = balance_of(world["engine"], customer["id"], on=date(2025, 2, 28))
    assert (old_year["used"], old_year["renews_on"]) == (1, date(2025, 2, 28))
    assert (new_year["used"], new_year["year_start"]) == (1, date(2025, 2, 28))
    assert new_year["renews_on"] == date(2026, 2, 28)
    leap = balance_of(world["engine"], customer["id"], on=date(2028, 2, 29))
    assert (leap["year_start"], leap["renews_on"]) == (date(2028, 2, 29), date(2029, 2, 28))


def test_the_year_runs_across_new_year_and_the_renewal_day_starts_afresh(world):
    customer = make_customer(world, start=date(2024, 12, 31))
    allowed = world["policies"][Tier.PROFESSIONAL].model_optimisations_per_year
    for day in (date(2024, 12, 31), date(2025, 1, 1)):
        debit(world, customer["id"], now=at_noon(day))
    with pytest.raises(CommandRefused, match="renews on 2025-12-31"):
        debit(world, customer["id"], now=at_noon(date(2025, 12, 30)))
    debit(world, customer["id"], now=datetime(2025, 12, 31, 0, 0, tzinfo=UTC))
    renewal_day = balance_of(world["engine"], customer["id"], on=date(2025, 12, 31))
    assert (renewal_day["used"], renewal_day["remaining"]) == (1, allowed - 1)
    last_day = balance_of(world["engine"], customer["id"], on=date(2025, 12, 30))
    assert last_day["remaining"] == 0


def test_a_day_before_the_hypercare_start_is_refused(world):
    customer = make_customer(world, start=date(2025, 3, 1))
    with pytest.raises(CommandRefused, match="before the HyperCare start"):
        debit(world, customer["id"], now=at_noon(date(2025, 2, 28)))
    with Session(world["engine"]) as session:
        assert entitlement_ledger.entitlement_balances(
            session=session, customer_id=customer["id"], on=date(2025, 2, 28)
        ).empty


# --- extras and credits ----------------------------------------------------------------------


def grant(world, customer_id: int, reason: str = "Goodwill after the outage in May"):
    with session_scope(world["engine"]) as session:
        return entitlement_ledger.grant_extra(
            session=session,
            customer_id=customer_id,
            kind=OPT,
            actor=Actor.of(world["manager"]),
            reason=reason,
        )


def test_an_extra_granted_before_any_use_lifts_remaining_above_the_allowance(world):
    customer = make_customer(world)
    allowed = world["policies"][Tier.PROFESSIONAL].model_optimisations_per_year
    entry = grant(world, customer["id"])
    assert entry.delta == 1 and entry.reason == "Extra granted: Goodwill after the outage in May"
    row = balance_of(world["engine"], customer["id"])
    assert (row["remaining"], row["extra"], row["used"]) == (allowed + 1, 1, 0)
    for _ in range(allowed + 1):
        debit(world, customer["id"])
    with pytest.raises(CommandRefused, match=f"0 of {allowed} remaining"):
        debit(world, customer["id"])


def test_a_basic_customer_can_use_an_extra_a_manager_grants(world):
    customer = make_customer(world, tier=Tier.BASIC)
    with pytest.raises(CommandRefused, match="No model optimisations left: 0 of 0"):
        debit(world, customer["id"])
    grant(world, customer["id"])
    debit(world, customer["id"])
    assert balance_of(world["engine"], customer["id"])["remaining"] == 0


def test_an_extra_needs_a_reason(world):
    customer = make_customer(world)
    before = written_rows(world["engine"])
    with pytest.raises(CommandRefused, match="A reason is required"):
        grant(world, customer["id"], reason="")
    assert written_rows(world["engine"]) == before


def test_a_request_is_never_given_back_more_than_it_was_debited(world):
    customer = make_customer(world)
    request = log_request(world, customer)
    advance(world, request.id, "accepted")
    advance(world, request.id, "cancelled")
    before = written_rows(world["engine"])
    with pytest.raises(CommandRefused) as refused, session_scope(world["engine"]) as session:
        entitlement_ledger.credit_entitlement(
            session=session,
            customer_id=customer["id"],
            kind=OPT,
            actor=Actor.of(world["csm"]),
            reason="Second give-back",
            request_id=request.id,
        )
    assert str(refused.value) == (
        f"Optimisation request #{request.id} has no debit left to give back."
    )
    assert written_rows(world["engine"]) == before


def test_a_credit_for_another_customers_request_is_refused(world):
    mine = make_customer(world, name="Mine")
    theirs = make_customer(world, name="Theirs")
    request = log_request(world, theirs)
    with (
        pytest.raises(CommandRefused, match="is not one of this customer's"),
        session_scope(world["engine"]) as session,
    ):
        entitlement_ledger.credit_entitlement(
            session=session,
            customer_id=mine["id"],
            kind=OPT,
            actor=Actor.of(world["csm"]),
            reason="r",
            request_id=request.id,
        )


# --- optimisation requests -------------------------------------------------------------------


def test_a_request_runs_its_life_cycle_with_one_debit_and_findings(world):
    customer = make_customer(world)
    request = log_request(world, customer)
    assert request.state == "requested"
    assert count(world["engine"], EntitlementEntry) == 0
    advance(world, request.id, "accepted")
    assert balance_of(world["engine"], customer["id"])["used"] == 1
    advance(world, request.id, "in_progress")
    with pytest.raises(CommandRefused, match="^Record the findings"):
        advance(world, request.id, "delivered", findings="  ")
    with pytest.raises(CommandRefused, match="positive number of seconds"):
        advance(world, request.id, "delivered", findings="x", open_time_before_s=-3)
    done = advance(
        world,
        request.id,
        "delivered",
        findings="SUM over a 2M-cell list; replace with a summary module.",
        open_time_before_s=48.0,
        open_time_after_s=21.5,
    )
    assert (done.state, done.open_time_before_s, done.open_time_after_s) == (
        "delivered",
        48.0,
        21.5,
    )
    assert done.delivered_at is not None and done.findings.startswith("SUM over")
    with Session(world["engine"]) as session:
        ledger = session.exec(select(EntitlementEntry)).all()
        actions = session.exec(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert [(e.delta, e.request_id, e.reason) for e in ledger] == [
        (-1, request.id, f"Request #{request.id} accepted")
    ]
    assert actions.count("advance_optimisation_request") == 3
    assert "log_optimisation_request" in actions


def test_cancelling_an_accepted_request_gives_the_optimisation_back(world):
    customer = make_customer(world)
    allowed = world["policies"][Tier.PROFESSIONAL].model_optimisations_per_year
    request = log_request(world, customer)
    advance(world, request.id, "accepted")
    advance(world, request.id, "in_progress")
    advance(world, request.id, "cancelled")
    row = balance_of(world["engine"], customer["id"])
    assert (row["used"], row["extra"], row["remaining"]) == (0, 0, allowed)
    unaccepted = log_request(world, customer)
    advance(world, unaccepted.id, "cancelled")
    assert count(world["engine"], EntitlementEntry) == 2


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (["delivered"], "A request must be in progress before it can be delivered."),
        (["in_progress"], "A request must be accepted before work on it starts."),
        (["cancelled", "accepted"], "A cancelled request is final and cannot become accepted."),
        (["accepted", "accepted"], "The request is already accepted."),
        (["archived"], "'archived' is not a request state."),
    ],
)
def test_illegal_moves_are_refused_with_the_reason(world, path, message):
    customer = make_customer(world)
    request = log_request(world, customer)
    for step in path[:-1]:
        advance(world, request.id, step)
    before = written_rows(world["engine"])
    with pytest.raises(CommandRefused) as refused:
        advance(world, request.id, path[-1])
    assert str(refused.value) == message
    assert written_rows(world["engine"]) == before


def test_accepting_past_the_allowance_is_refused_and_the_request_stays_requested(world):
    customer = make_customer(world)
    allowed = world["policies"][Tier.PROFESSIONAL].model_optimisations_per_year
    for _ in range(allowed):
        debit(world, customer["id"])
    request = log_request(world, customer)
    renews = subscription_year(customer["start"], TODAY)[1]
    with pytest.raises(CommandRefused) as refused:
        advance(world, request.id, "accepted")
    assert f"0 of {allowed} remaining" in str(refused.value)
    assert renews.isoformat() in str(refused.value)
    with Session(world["engine"]) as session:
        assert session.get(OptimisationRequest, request.id).state == "requested"
    grant(world, customer["id"])
    assert advance(world, request.id, "accepted").state == "accepted"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"target_date": TODAY - timedelta(days=1) + timedelta(days=27)},
            "is less than 4 weeks after the request",
        ),
        ({"request_text": "   "}, "^The written request is required"),
        ({"contact_id": -1}, "^Choose who asked from this customer's contacts.$"),
        ({"model_id": -1}, "^The chosen model is not one of this customer's models.$"),
        ({"requested_at": at_noon(TODAY + timedelta(days=3))}, "cannot be dated in the future"),
        ({"requested_at": datetime(2026, 1, 1, 12)}, "must be time-zone aware"),
    ],
)
def test_an_invalid_request_is_refused_and_writes_nothing(world, changes, message):
    customer = make_customer(world)
    before = written_rows(world["engine"])
    with pytest.raises(CommandRefused, match=message):
        log_request(world, customer, **changes)
    assert written_rows(world["engine"]) == before


def test_a_request_with_a_contact_of_another_customer_is_refused(world):
    mine = make_customer(world, name="Mine")
    theirs = make_customer(world, name="Theirs")
    with pytest.raises(CommandRefused, match="this customer's contacts"):
        log_request(world, mine, contact_id=theirs["contact_id"])


def test_a_request_dated_today_is_now_and_an_earlier_day_is_noon_local():
    now = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # 30 Nov 16:00 in Auckland, 03:00 in London
    moment = optimisation_requests.requested_moment
    assert moment(requested_on=date(2026, 11, 30), timezone="Pacific/Auckland", now=now) == now
    assert moment(requested_on=date(2026, 11, 30), timezone="Europe/London", now=now) == now
    assert moment(
        requested_on=date(2026, 11, 27), timezone="Pacific/Auckland", now=now
    ) == datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
    assert moment(requested_on=date(2026, 11, 29), timezone="Europe/London", now=now) == (
        datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    )


def test_the_target_may_be_exactly_four_weeks_after_the_request(world):
    customer = make_customer(world)
    requested = TODAY - timedelta(days=3)
    request = log_request(
        world, customer, requested=requested, target_date=requested + timedelta(28)
    )
    assert request.target_date == requested + timedelta(days=28)


def test_the_overdue_deliveries_page_through_the_listing_most_overdue_first(world, monkeypatch):
    mine = make_customer(world, name="Mine")
    theirs = make_customer(world, name="Theirs", csm=world["other"])
    for days in (90, 40, 75, 60, 40):
        log_request(world, mine, requested=TODAY - timedelta(days=days))
    log_request(world, theirs, requested=TODAY - timedelta(days=80))
    log_request(world, mine)  # not due yet
    monkeypatch.setattr(entitlement_portfolio, "OVERDUE_PAGE", 2)
    csm_scope = Scope(user_id=world["csm"].id, all_customers=False)
    with Session(world["engine"]) as session:
        whole = entitlement_portfolio.overdue_deliveries(
            session=session, scope=csm_scope, today=TODAY
        )
        pages = [
            entitlement_portfolio.overdue_deliveries_page(
                session=session, scope=csm_scope, today=TODAY, page=page
            )
            for page in range(4)
        ]
    assert [len(frame) for frame, _ in pages] == [2, 2, 1, 0]
    assert {total for _, total in pages} == {5}
    joined = [row for frame, _ in pages for row in frame.to_dict("records")]
    assert joined == whole.to_dict("records")
    assert [row["days_overdue"] for row in joined] == [62, 47, 32, 12, 12]
    assert set(whole["customer"]) == {"Mine"}


def test_requests_and_overdue_deliveries_respect_the_scope(world):
    mine = make_customer(world, name="Mine")
    theirs = make_customer(world, name="Theirs", csm=world["other"])
    long_ago = TODAY - timedelta(days=60)
    late = log_request(world, mine, requested=long_ago)
    log_request(world, theirs, requested=long_ago)
    on_time = log_request(world, mine)
    delivered = log_request(world, mine, requested=long_ago)
    for step in ("accepted", "in_progress"):
        advance(world, delivered.id, step)
    advance(world, delivered.id, "delivered", findings="Done")
    csm_scope = Scope(user_id=world["csm"].id, all_customers=False)
    with Session(world["engine"]) as session:
        mine_only = optimisation_requests.optimisation_requests(session=session, scope=csm_scope)
        overdue = entitlement_portfolio.overdue_deliveries(
            session=session, scope=csm_scope, today=TODAY
        )
        everyone = entitlement_portfolio.overdue_deliveries(
            session=session,
            scope=Scope(user_id=world["manager"].id, all_customers=True),
            today=TODAY,
        )
    assert set(mine_only["customer"]) == {"Mine"}
    assert set(mine_only["id"]) == {late.id, on_time.id, delivered.id}
    assert list(overdue["id"]) == [late.id]
    expected_days = (TODAY - (long_ago + timedelta(weeks=4))).days
    assert list(overdue["days_overdue"]) == [expected_days]
    assert set(everyone["customer"]) == {"Mine", "Theirs"}
    row = mine_only.set_index("id").loc[late.id]
    assert (row["requested_by"], row["model"], row["logged_by"]) == (
        "Ada Lovelace",
        "Model 00",
        "Csm.One",
    )


# --- model caps ------------------------------------------------------------------------------


def enrol(world, model_id: int, which: str = "monitoring", enrolled: bool = True):
    with session_scope(world["engine"]) as session:
        return model_caps.set_enrolment(
            session=session,
            model_id=model_id,
            which=which,
            enrolled=enrolled,
            actor=Actor.of(world["csm"]),
        )


@pytest.mark.parametrize("which", ["monitoring", "weekly_report"])
def test_enrolment_past_the_cap_is_refused_with_cap_count_and_choices(world, which):
    cap = world["policies"][Tier.PROFESSIONAL].monitored_models_cap
    customer = make_customer(world, production_models=cap + 1)
    for model_id in customer["production_ids"][:cap]:
        enrol(world, model_id, which)
    before = written_rows(world["engine"])
    with pytest.raises(model_caps.EnrolmentRefused) as refused:
        enrol(world, customer["production_ids"][cap], which)
    message = str(refused.value)
    place = model_caps.ENROLMENT_LABELS[which]
    assert message.startswith(
        f"Cannot enrol 'Model {cap:02d} (Main)' in {place}: the cap is {cap} models and {cap} "
        "are already enrolled. Remove one of these first: Model 00 (Main), Model 01 (Main)"
    )
    assert (refused.value.cap, refused.value.enrolled) == (cap, cap)
    assert written_rows(world["engine"]) == before
    enrol(world, customer["production_ids"][0], which)  # already enrolled: accepted at the cap
    enrol(world, customer["production_ids"][0], which, enrolled=False)
    enrol(world, customer["production_ids"][cap], which)
    row = balance_of(world["engine"], customer["id"], model_caps.ENROLMENTS[which][0].value)
    assert (row["used"], row["remaining"]) == (cap, 0)


def test_non_production_models_cannot_be_enrolled(world):
    customer = make_customer(world, production_models=1, other_models=1)
    sandbox = customer["model_ids"][-1]
    with pytest.raises(CommandRefused) as refused:
        enrol(world, sandbox)
    assert str(refused.value) == (
        "Only production models can be enrolled; 'Model 01 (Main)' is not a production model."
    )
    with Session(world["engine"]) as session:
        assert not session.get(PlanningModel, sandbox).in_monitoring


def test_a_basic_customer_cannot_enrol_any_model(world):
    customer = make_customer(world, tier=Tier.BASIC)
    with pytest.raises(model_caps.EnrolmentRefused, match="the cap is 0 models and 0 are already"):
        enrol(world, customer["production_ids"][0])


def test_same_named_models_in_two_workspaces_count_as_two(world):
    cap = world["policies"][Tier.PROFESSIONAL].monitored_models_cap
    customer = make_customer(world, production_models=cap)
    with Session(world["engine"]) as session:
        second = Workspace(customer_id=customer["id"], name="Main")
        session.add(second)
        session.flush()
        twin = PlanningModel(
            workspace_id=second.id, customer_id=customer["id"], name="Model 00", is_production=True
        )
        session.add(twin)
        session.commit()
        twin_id = twin.id
    for model_id in customer["production_ids"]:
        enrol(world, model_id)
    with pytest.raises(model_caps.EnrolmentRefused, match=f"#{twin_id}' in daily monitoring"):
        enrol(world, twin_id)


def test_over_cap_attempts_are_recorded_apart_and_shown_within_scope(world):
    customer = make_customer(world, tier=Tier.BASIC, name="Small Co")
    with pytest.raises(model_caps.EnrolmentRefused) as refused:
        enrol(world, customer["production_ids"][0])
    assert count(world["engine"], AuditLog) == 0
    with session_scope(world["engine"]) as session:
        model_caps.record_over_cap_attempt(
            session=session, actor=Actor.of(world["csm"]), refusal=refused.value
        )
    with Session(world["engine"]) as session:
        attempts = entitlement_portfolio.over_cap_attempts(
            session=session, scope=Scope(user_id=world["manager"].id, all_customers=True)
        )
        hidden = entitlement_portfolio.over_cap_attempts(
            session=session, scope=Scope(user_id=world["other"].id, all_customers=False)
        )
    assert len(attempts) == 1 and hidden.empty
    row = attempts.iloc[0]
    assert (row["customer"], row["model"], row["which"], row["cap"], row["enrolled"]) == (
        "Small Co",
        "Model 00",
        "daily monitoring",
        0,
        0,
    )
    assert row["message"] == str(refused.value)


def set_enrolments(world, customer: dict, actor: Actor | None = None, **wanted):
    with session_scope(world["engine"]) as session:
        return model_caps.set_enrolments(
            session=session,
            actor=actor or Actor.of(customer["csm"]),
            customer_id=customer["id"],
            wanted=wanted,
        )


def enrolled_ids(engine, customer_id: int) -> dict[str, set[int]]:
    with Session(engine) as session:
        models = session.exec(
            select(PlanningModel).where(PlanningModel.customer_id == customer_id)
        ).all()
    return {
        "monitoring": {m.id for m in models if m.in_monitoring},
        "weekly_report": {m.id for m in models if m.in_weekly_report},
    }


def test_set_enrolments_writes_the_whole_diff_and_says_what_changed(world):
    cap = world["policies"][Tier.PROFESSIONAL].monitored_models_cap
    customer = make_customer(world, production_models=cap + 1)
    first, *middle, last = customer["production_ids"]
    for model_id in [first, *middle]:
        enrol(world, model_id)
    audits = count(world["engine"], AuditLog)
    # A swap at a full cap fits: models are taken out before any is put in.
    changes = set_enrolments(
        world, customer, monitoring=[*middle, last], weekly_report=[first, last]
    )
    assert changes.enrolled == {"monitoring": [last], "weekly_report": sorted([first, last])}
    assert changes.unenrolled == {"monitoring": [first], "weekly_report": []}
    assert bool(changes)
    assert enrolled_ids(world["engine"], customer["id"]) == {
        "monitoring": {*middle, last},
        "weekly_report": {first, last},
    }
    assert count(world["engine"], AuditLog) == audits + 4  # one row per model changed
    again = set_enrolments(world, customer, monitoring=[*middle, last])
    assert not again  # nothing to change: nothing written
    assert count(world["engine"], AuditLog) == audits + 4


def test_set_enrolments_past_a_cap_writes_nothing_of_the_diff(world):
    cap = world["policies"][Tier.PROFESSIONAL].monitored_models_cap
    customer = make_customer(world, production_models=cap + 1)
    first = customer["production_ids"][0]
    enrol(world, first, "weekly_report")
    before = (written_rows(world["engine"]), enrolled_ids(world["engine"], customer["id"]))
    with pytest.raises(model_caps.EnrolmentRefused, match=f"the cap is {cap} models"):
        set_enrolments(world, customer, monitoring=customer["production_ids"], weekly_report=[])
    # The weekly-report removal and the first `cap` enrolments ran before the refusal; one
    # transaction, so none of them stayed.
    assert (written_rows(world["engine"]), enrolled_ids(world["engine"], customer["id"])) == before


def test_set_enrolments_leaves_models_not_in_production_as_they_are(world):
    customer = make_customer(world, production_models=1, other_models=1)
    production, retired = customer["model_ids"]
    with Session(world["engine"]) as session:
        model = session.get(PlanningModel, retired)
        model.in_monitoring = True  # enrolled while it was in production
        session.add(model)
        session.commit()
    changes = set_enrolments(world, customer, monitoring=[production])
    assert changes.enrolled == {"monitoring": [production]}
    assert changes.unenrolled == {"monitoring": []}
    assert enrolled_ids(world["engine"], customer["id"])["monitoring"] == {production, retired}


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        ({"daily": []}, "Choose daily monitoring or the weekly report."),
        ({"monitoring": ["stranger"]}, "Choose models of Own Co only."),
    ],
)
def test_set_enrolments_refuses_unknown_enrolments_and_other_customers_models(
    world, wanted, message
):
    customer = make_customer(world, name="Own Co")
    stranger = make_customer(world, name="Their Co")["production_ids"][0]
    wanted = {
        which: [stranger if i == "stranger" else i for i in ids] for which, ids in wanted.items()
    }
    before = written_rows(world["engine"])
    with pytest.raises(CommandRefused) as refused:
        set_enrolments(world, customer, **wanted)
    assert str(refused.value) == message
    assert written_rows(world["engine"]) == before


def test_set_enrolments_refuses_a_csm_outside_the_portfolio_and_other_roles(world):
    customer = make_customer(world, name="Own Co")
    with Session(world["engine"], expire_on_commit=False) as session:
        staff = add_user(session, "surveys", "survey_staff")
        session.commit()
    before = written_rows(world["engine"]), enrolled_ids(world["engine"], customer["id"])
    wanted = {"monitoring": customer["production_ids"][:1]}
    with pytest.raises(CommandRefused, match=r"^Own Co is not in your portfolio\.$"):
        set_enrolments(world, customer, actor=Actor.of(world["other"]), **wanted)
    with pytest.raises(CommandRefused, match=r"^Only an? .+ may do that\.$"):
        set_enrolments(world, customer, actor=Actor.of(staff), **wanted)
    assert (written_rows(world["engine"]), enrolled_ids(world["engine"], customer["id"])) == before
    set_enrolments(world, customer, actor=Actor.of(world["manager"]), **wanted)
    assert enrolled_ids(world["engine"], customer["id"])["monitoring"] == set(wanted["monitoring"])


# --- tier changes ----------------------------------------------------------------------------


def change_tier(world, customer_id: int, tier: str, keep: list[int] | None = None) -> None:
    with session_scope(world["engine"]) as session:
        model_caps.apply_tier_change(
            session=session,
            customer_id=customer_id,
            new_tier=tier,
            keep_model_ids=keep,
            actor=Actor.of(world["manager"]),
        )


def test_an_upgrade_mid_year_gives_the_new_allowance_and_keeps_what_was_used(world):
    customer = make_customer(world, tier=Tier.PROFESSIONAL)
    pro = world["policies"][Tier.PROFESSIONAL].model_optimisations_per_year
    enterprise = world["policies"][Tier.ENTERPRISE].model_optimisations_per_year
    for _ in range(pro):
        debit(world, customer["id"])
    change_tier(world, customer["id"], Tier.ENTERPRISE)
    row = balance_of(world["engine"], customer["id"])
    assert (row["allowance"], row["used"], row["remaining"]) == (enterprise, pro, enterprise - pro)
    with Session(world["engine"]) as session:
        history = entitlement_ledger.ledger_history(session=session, customer_id=customer["id"])
        labels = tier_labels(session=session)
        assert session.get(Customer, customer["id"]).tier == Tier.ENTERPRISE
    change = history[history["kind"] == "tier_change"].iloc[0]
    assert change["reason"].startswith(
        f"Tier changed from {labels[Tier.PROFESSIONAL]} to {labels[Tier.ENTERPRISE]}"
    )
    assert change["actor"] == "Boss" and change["delta"] == 0
    assert history.iloc[0]["kind"] == "tier_change"  # newest first
    debits = history[history["kind"] == OPT]
    assert len(debits) == pro and (debits["actor"] == "Csm.One").all()


def test_a_downgrade_below_what_was_used_leaves_nothing_and_takes_nothing_back(world):
    customer = make_customer(world, tier=Tier.ENTERPRISE)
    pro = world["policies"][Tier.PROFESSIONAL].model_optimisations_per_year
    for _ in range(pro + 1):
        debit(world, customer["id"])
    entries_before = count(world["engine"], EntitlementEntry)
    change_tier(world, customer["id"], Tier.PROFESSIONAL)
    assert count(world["engine"], EntitlementEntry) == entries_before
    row = balance_of(world["engine"], customer["id"])
    assert (row["allowance"], row["used"], row["remaining"]) == (pro, pro + 1, 0)
    with pytest.raises(CommandRefused, match=f"0 of {pro} remaining"):
        debit(world, customer["id"])


def test_a_downgrade_below_the_enrolment_asks_which_models_to_keep(world):
    enterprise_cap = world["policies"][Tier.ENTERPRISE].monitored_models_cap
    pro_cap = world["policies"][Tier.PROFESSIONAL].monitored_models_cap
    customer = make_customer(world, tier=Tier.ENTERPRISE, production_models=pro_cap + 2)
    for model_id in customer["production_ids"]:
        enrol(world, model_id, "monitoring")
    enrol(world, customer["production_ids"][0], "weekly_report")
    assert len(customer["production_ids"]) <= enterprise_cap
    before = written_rows(world["engine"])
    with Session(world["engine"]) as session:
        labels = tier_labels(session=session)
    with pytest.raises(CommandRefused) as refused:
        change_tier(world, customer["id"], Tier.PROFESSIONAL)
    assert str(refused.value) == (
        f"{labels[Tier.PROFESSIONAL]} allows {pro_cap} models in daily monitoring and "
        f"{pro_cap + 2} are enrolled; choose the {pro_cap} to keep (2 to drop)."
    )
    with pytest.raises(CommandRefused) as refused:
        change_tier(world, customer["id"], Tier.PROFESSIONAL, customer["production_ids"][:3])
    assert str(refused.value) == (
        f"Keep exactly {pro_cap} of the {pro_cap + 2} models in daily monitoring; "
        "3 of them are chosen."
    )
    with pytest.raises(CommandRefused, match="must be models this customer has enrolled"):
        change_tier(world, customer["id"], Tier.PROFESSIONAL, [customer["model_ids"][-1]])
    assert written_rows(world["engine"]) == before
    keep = customer["production_ids"][2:]
    change_tier(world, customer["id"], Tier.PROFESSIONAL, keep)
    with Session(world["engine"]) as session:
        models = session.exec(
            select(PlanningModel).where(PlanningModel.customer_id == customer["id"])
        ).all()
        change = session.exec(
            select(TierChange).where(
                TierChange.customer_id == customer["id"], TierChange.from_tier.is_not(None)
            )
        ).one()
        audit = session.exec(select(AuditLog).where(AuditLog.action == "change_tier")).one()
    monitored = {m.id for m in models if m.in_monitoring}
    assert monitored == set(keep)
    weekly = {m.id for m in models if m.in_weekly_report}
    assert weekly == {customer["production_ids"][0]}  # within the weekly cap: untouched
    assert (change.from_tier, change.to_tier, change.effective_on) == (
        Tier.ENTERPRISE,
        Tier.PROFESSIONAL,
        TODAY,
    )
    assert str(customer["production_ids"][0]) in audit.detail


def test_a_change_to_the_same_or_an_unknown_tier_is_refused(world):
    customer = make_customer(world)
    with pytest.raises(CommandRefused, match="is already on"):
        change_tier(world, customer["id"], Tier.PROFESSIONAL)
    with pytest.raises(CommandRefused, match="There is no tier called 'gold'"):
        change_tier(world, customer["id"], "gold")


# --- ledger immutability ---------------------------------------------------------------------


def ledger_snapshot(engine) -> dict[int, tuple]:
    with Session(engine) as session:
        return {
            e.id: (e.customer_id, e.kind, e.at, e.delta, e.reason, e.actor_id, e.request_id)
            for e in session.exec(select(EntitlementEntry)).all()
        }


def test_the_ledger_only_ever_grows(world):
    customer = make_customer(world, tier=Tier.ENTERPRISE)
    seen: dict[int, tuple] = {}
    request = log_request(world, customer)
    steps = [
        lambda: debit(world, customer["id"]),
        lambda: advance(world, request.id, "accepted"),
        lambda: advance(world, request.id, "cancelled"),
        lambda: grant(world, customer["id"]),
        lambda: change_tier(world, customer["id"], Tier.PROFESSIONAL),
        lambda: debit(world, customer["id"]),
    ]
    for step in steps:
        step()
        now = ledger_snapshot(world["engine"])
        assert {k: now[k] for k in seen} == seen  # nothing earlier changed or vanished
        assert len(now) >= len(seen)
        seen = now
    assert [seen[k][3] for k in sorted(seen)] == [-1, -1, 1, 1, -1]


@pytest.mark.parametrize(
    "module", [entitlement_ledger, optimisation_requests, model_caps], ids=lambda m: m.__name__
)
def test_the_module_offers_no_way_to_change_or_remove_ledger_entries(module):
    public = [
        name for name in dir(module) if not name.startswith("_") and callable(getattr(module, name))
    ]
    words = {"update", "delete", "remove", "edit", "erase", "purge", "set"}
    # The only "set" commands set a model's enrolment flags, never a ledger entry.
    expected = ["set_enrolment", "set_enrolments"] if module is model_caps else []
    assert [name for name in public if words & set(name.split("_"))] == expected
    source = Path(module.__file__).read_text()
    assert "delete(" not in source and "update(EntitlementEntry" not in source


# --- renewal watchlist -----------------------------------------------------------------------


def test_renewal_watchlist_lists_unused_entitlements_nearing_renewal(world):
    start = date(2024, 1, 10)
    today = date(2025, 12, 11)
    soon = make_customer(world, tier=Tier.ENTERPRISE, start=start, name="Soon")
    make_customer(world, tier=Tier.ENTERPRISE, start=date(2024, 6, 1), name="Later")
    make_customer(world, tier=Tier.BASIC, start=start, name="Basic Co")
    debit(world, soon["id"], now=at_noon(date(2025, 3, 1)))
    debit(world, soon["id"], now=at_noon(date(2024, 3, 1)))  # last year: does not count
    manager = Scope(user_id=world["manager"].id, all_customers=True)
    with Session(world["engine"]) as session:
        frame = entitlement_portfolio.renewal_watchlist(session=session, scope=manager, today=today)
        narrow = entitlement_portfolio.renewal_watchlist(
            session=session, scope=manager, today=today, within_days=20
        )
        hidden = entitlement_portfolio.renewal_watchlist(
            session=session,
            scope=Scope(user_id=world["other"].id, all_customers=False),
            today=today,
        )
    allowed = world["policies"][Tier.ENTERPRISE].model_optimisations_per_year
    assert set(frame["customer"]) == {"Soon"}
    row = frame.set_index("kind").loc[OPT]
    assert row["summary"] == f"{allowed - 1} of {allowed} optimisations unused, renews in 30 days"
    assert row["renews_on"] == date(2026, 1, 10)
    assert narrow.empty and hidden.empty


def add_entry(world, customer_id: int, on: date, delta: int, request_id: int | None = None):
    with session_scope(world["engine"]) as session:
        session.add(
            EntitlementEntry(
                customer_id=customer_id,
                kind=OPT,
                at=at_noon(on),
                delta=delta,
                reason="Written by the test",
                actor_id=world["csm"].id,
                request_id=request_id,
            )
        )


def test_renewal_watchlist_reads_this_years_ledger_but_counts_as_the_whole_ledger_does(world):
    """The watchlist reads the ledger from the earliest year it shows, plus every entry of a
    request given back since; a give-back of last year's debit still counts in last year."""
    today = date(2025, 12, 11)
    soon = make_customer(world, tier=Tier.ENTERPRISE, start=date(2023, 1, 10), name="Soon")
    old = log_request(world, soon, requested=date(2024, 11, 1)).id
    add_entry(world, soon["id"], date(2023, 5, 1), -1)  # two years ago
    add_entry(world, soon["id"], date(2024, 3, 1), 1)  # an extra last year
    add_entry(world, soon["id"], date(2024, 12, 1), -1, request_id=old)  # last year ...
    add_entry(world, soon["id"], date(2025, 2, 1), 1, request_id=old)  # ... given back this year
    add_entry(world, soon["id"], date(2025, 6, 1), -1)  # this year
    manager = Scope(user_id=world["manager"].id, all_customers=True)
    with Session(world["engine"]) as session:
        frame = entitlement_portfolio.renewal_watchlist(session=session, scope=manager, today=today)
    whole = balance_of(world["engine"], soon["id"], on=today)
    allowed = world["policies"][Tier.ENTERPRISE].model_optimisations_per_year
    row = frame.set_index("kind").loc[OPT]
    assert (
        (row["remaining"], row["allowance"])
        == (whole["remaining"], allowed)
        == (
            allowed - 1,
            allowed,
        )
    )


def test_renewal_watchlist_reads_as_often_for_many_customers_as_for_one(world):
    """One read of customers, policies, labels, tier histories and ledger, whoever renews soon
    (it read each customer's tier history on its own)."""
    today = date(2025, 12, 11)
    manager = Scope(user_id=world["manager"].id, all_customers=True)

    def statements_run() -> tuple[int, int]:
        with recorded_statements(world["engine"]) as seen, Session(world["engine"]) as session:
            frame = entitlement_portfolio.renewal_watchlist(
                session=session, scope=manager, today=today
            )
        return len(seen), frame["customer_id"].nunique()

    make_customer(world, tier=Tier.ENTERPRISE, start=date(2024, 1, 10), name="First")
    one = statements_run()
    for n in range(5):
        make_customer(world, tier=Tier.PROFESSIONAL, start=date(2023, 1, 12 + n), name=f"More {n}")
    many = statements_run()
    assert (one[1], many[1]) == (1, 6)
    assert many[0] == one[0]


def test_the_renewing_customers_are_those_whose_next_anniversary_falls_in_the_window(world):
    """The database keeps only customers whose start's month and day fall in the window; over
    New Year, around 29 February in common and leap years and at every width of the slider,
    that loses nobody the exact rule keeps."""
    starts = [date(2020, 1, 1) + timedelta(days=n) for n in range(0, 366, 5)]
    starts = sorted(
        {*starts, date(2020, 2, 28), date(2020, 2, 29), date(2020, 3, 1), date(2019, 12, 31)}
    )
    with Session(world["engine"]) as session:
        session.add_all(
            Customer(
                name=f"Start {start}",
                tier=Tier.ENTERPRISE,
                region_id=world["region_id"],
                csm_id=world["csm"].id,
                hypercare_start=start,
            )
            for start in starts
        )
        session.commit()
    todays = [date(2026, 12, 10) + timedelta(days=n) for n in range(0, 460, 23)]
    todays += [date(y, 2, d) for y in (2027, 2028) for d in (12, 13, 14, 27, 28)]
    todays += [date(2028, 2, 29), date(2026, 12, 31), date(2027, 1, 1)]
    manager = Scope(user_id=world["manager"].id, all_customers=True)
    with Session(world["engine"]) as session:
        for today in todays:
            for within in (15, 16, 60, 180):
                expected = {
                    f"Start {start}"
                    for start in starts
                    if (subscription_year(start, today)[1] - today).days <= within
                }
                renewing = entitlement_portfolio.renewing_customers(
                    session=session, scope=manager, today=today, within_days=within
                )
                assert {c.name for c in renewing} == expected, (today, within)
    assert any(
        (subscription_year(date(2020, 2, 29), today)[1] - today).days <= 16 for today in todays
    )


def test_the_watchlist_pages_through_the_customers_renewing_soonest_first(world, monkeypatch):
    """Pages of the watchlist, joined, are the whole watchlist; each page reads only its own
    customers' ledgers, so its cost follows the page, not the portfolio."""
    today = date(2025, 12, 11)
    for n in (4, 0, 3, 1, 2):  # renewing on 10 to 14 January, made out of order
        make_customer(world, tier=Tier.ENTERPRISE, start=date(2024, 1, 10 + n), name=f"Day {n}")
    monkeypatch.setattr(entitlement_portfolio, "WATCHLIST_PAGE", 2)
    manager = Scope(user_id=world["manager"].id, all_customers=True)
    with Session(world["engine"]) as session:
        whole = entitlement_portfolio.renewal_watchlist(
            session=session, scope=manager, today=today, within_days=60
        )
        renewing = entitlement_portfolio.renewing_customers(
            session=session, scope=manager, today=today, within_days=60
        )
        pages = [
            entitlement_portfolio.renewal_watchlist_page(
                session=session, scope=manager, today=today, within_days=60, page=page
            )
            for page in range(4)
        ]
    assert [c.name for c in renewing] == [f"Day {n}" for n in range(5)]
    assert {count for _, count in pages} == {5}
    assert [sorted(set(frame["customer"])) for frame, _ in pages] == [
        ["Day 0", "Day 1"],
        ["Day 2", "Day 3"],
        ["Day 4"],
        [],
    ]
    joined = [row for frame, _ in pages for row in frame.to_dict("records")]
    assert joined == whole.to_dict("records")
    assert list(whole["days_to_renewal"]) == sorted(whole["days_to_renewal"])


def test_renewal_watchlist_reads_no_whole_ledger_or_tier_history(world):
    """SQLite's plan of every statement the watchlist runs seeks the ledger and tier history."""
    engine = world["engine"]
    customer = make_customer(world, tier=Tier.ENTERPRISE, start=date(2024, 1, 10), name="Soon")
    request = log_request(world, customer, requested=date(2025, 3, 1)).id
    add_entry(world, customer["id"], date(2025, 4, 1), -1, request_id=request)
    with recorded_statements(engine) as statements, Session(engine) as session:
        entitlement_portfolio.renewal_watchlist(
            session=session,
            scope=Scope(user_id=world["manager"].id, all_customers=True),
            today=date(2025, 12, 11),
        )
    assert full_scans(engine, statements, ["entitlement_ledger", "tier_change"]) == []


# --- racing for the last credit --------------------------------------------------------------


def race(world, attempts: list) -> tuple[int, list[str]]:
    barrier = threading.Barrier(len(attempts))
    wins: list[int] = []
    refusals: list[str] = []
    failures: list[BaseException] = []

    def run(attempt):
        barrier.wait()
        try:
            with session_scope(world["engine"]) as session:
                attempt(session)
            wins.append(1)
        except CommandRefused as exc:
            refusals.append(str(exc))
        except BaseException as exc:  # surfaced below: a crash is not a refusal
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return len(wins), refusals


RACERS = 6


def test_concurrent_debits_for_the_last_optimisation_let_exactly_one_win(world):
    customer = make_customer(world)
    allowed = world["policies"][Tier.PROFESSIONAL].model_optimisations_per_year
    for _ in range(allowed - 1):
        debit(world, customer["id"])

    def attempt(session):
        entitlement_ledger.debit_entitlement(
            session=session,
            customer_id=customer["id"],
            kind=OPT,
            actor=Actor.of(world["csm"]),
            reason="race",
        )

    wins, refusals = race(world, [attempt] * RACERS)
    assert wins == 1 and len(refusals) == RACERS - 1
    assert all(message.startswith("No model optimisations left: 0 of") for message in refusals)
    assert count(world["engine"], EntitlementEntry) == allowed


def test_concurrent_acceptances_for_the_last_optimisation_let_exactly_one_win(world):
    customer = make_customer(world)
    allowed = world["policies"][Tier.PROFESSIONAL].model_optimisations_per_year
    for _ in range(allowed - 1):
        debit(world, customer["id"])
    requests = [log_request(world, customer) for _ in range(RACERS)]

    def accept(request_id):
        return lambda session: optimisation_requests.advance_request(
            session=session,
            request_id=request_id,
            to_state="accepted",
            actor=Actor.of(world["csm"]),
        )

    wins, refusals = race(world, [accept(r.id) for r in requests])
    assert wins == 1 and len(refusals) == RACERS - 1
    with Session(world["engine"]) as session:
        states = session.exec(
            select(OptimisationRequest.state).where(
                OptimisationRequest.customer_id == customer["id"]
            )
        ).all()
    assert sorted(states) == ["accepted"] + ["requested"] * (RACERS - 1)
    assert count(world["engine"], EntitlementEntry) == allowed


def test_accepting_the_same_request_twice_at_once_debits_once(world):
    customer = make_customer(world, tier=Tier.ENTERPRISE)
    request = log_request(world, customer)

    def accept(session):
        optimisation_requests.advance_request(
            session=session,
            request_id=request.id,
            to_state="accepted",
            actor=Actor.of(world["csm"]),
        )

    wins, refusals = race(world, [accept] * RACERS)
    assert wins == 1
    assert set(refusals) == {"The request is already accepted."}
    assert count(world["engine"], EntitlementEntry) == 1


# --- rules at the ledger and at logging ----------------------------------------------------------


def test_a_basic_customer_is_refused_when_the_request_is_logged(world):
    customer = make_customer(world, tier=Tier.BASIC)
    before = written_rows(world["engine"])
    with pytest.raises(CommandRefused) as refused:
        log_request(world, customer)
    assert str(refused.value) == "Model optimisations are not part of Basic."
    assert written_rows(world["engine"]) == before


def test_a_basic_customer_with_an_extra_granted_may_log_a_request(world):
    customer = make_customer(world, tier=Tier.BASIC)
    grant(world, customer["id"])
    assert log_request(world, customer).state == "requested"


def test_a_request_for_a_customer_outside_the_portfolio_is_refused(world):
    theirs = make_customer(world, name="Theirs", csm=world["other"])
    with pytest.raises(CommandRefused, match="is not in your portfolio"):
        log_request(world, theirs | {"csm": world["csm"]})


def test_no_ledger_row_is_dated_before_the_hypercare_start(world):
    customer = make_customer(world, start=TODAY - timedelta(days=10))
    request = log_request(world, customer)
    advance(world, request.id, "accepted")
    before = written_rows(world["engine"])
    with (
        pytest.raises(CommandRefused, match="no entitlement can be used or given back before"),
        session_scope(world["engine"]) as session,
    ):
        entitlement_ledger.credit_entitlement(
            session=session,
            customer_id=customer["id"],
            kind=OPT,
            actor=Actor.of(world["csm"]),
            reason="Back-dated correction",
            request_id=request.id,
            now=at_noon(TODAY - timedelta(days=11)),
        )
    assert written_rows(world["engine"]) == before


def test_an_extra_for_a_customer_not_yet_started_is_refused(world):
    customer = make_customer(world, start=TODAY + timedelta(days=5), name="Starts next week")
    with pytest.raises(CommandRefused, match="HyperCare starts on"):
        grant(world, customer["id"])
