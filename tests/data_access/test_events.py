"""Events and programmes on SQLite and PostgreSQL: permissions, eligibility, moves, counts, QBR."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from data_access import event_commands as cmd
from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.events import (
    eligibility_in_scope,
    enrolments,
    events_overview,
    events_section,
    invitations,
    programmes_overview,
    uptake_by_tier,
)
from data_access.models import (
    AuditLog,
    Customer,
    EventInvitation,
    EventOffer,
    ProgrammeEnrolment,
    Region,
    TierPolicyRow,
    User,
)
from data_access.policies import seed_default_policies
from data_access.scope import Scope
from domain.quarters import Quarter
from domain.tiers import Tier
from tests.conftest import SEED_TODAY

NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)
PAST = date(2026, 10, 10)
UPCOMING = date(2026, 12, 10)


def add_user(session: Session, username: str, roles: str) -> Actor:
    user = User(
        username=username,
        name=username.title(),
        email=f"{username}@x.example",
        password_hash="x",
        roles=roles,
    )
    session.add(user)
    session.flush()
    return Actor(id=user.id, username=username, roles=tuple(roles.split(",")))


@pytest.fixture
def world(engine):
    """Policies, a Sydney region, a manager, two CSMs, survey staff and four customers."""
    with Session(engine, expire_on_commit=False) as session:
        seed_default_policies(session=session)
        region = Region(code="APAC", name="APAC", timezone="Australia/Sydney", holiday_country="AU")
        session.add(region)
        session.flush()
        actors = {
            name: add_user(session, name, roles)
            for name, roles in (
                ("boss", "manager"),
                ("root", "admin"),
                ("csm.one", "csm"),
                ("csm.two", "csm"),
                ("surveys", "survey_staff"),
            )
        }
        customers = {}
        for key, tier, csm in (
            ("basic", Tier.BASIC, "csm.one"),
            ("pro", Tier.PROFESSIONAL, "csm.one"),
            ("ent", Tier.ENTERPRISE, "csm.one"),
            ("other", Tier.PROFESSIONAL, "csm.two"),
        ):
            customer = Customer(
                name=f"{key.title()} Co",
                tier=tier,
                region_id=region.id,
                csm_id=actors[csm].id,
                hypercare_start=date(2025, 1, 1),
            )
            session.add(customer)
            session.flush()
            customers[key] = customer.id
        session.commit()
    return {"engine": engine, **actors, **customers}


def run(world, command, **kwargs):
    with Session(world["engine"], expire_on_commit=False) as session:
        result = command(session=session, **kwargs)
        session.commit()
        return result


def make_event(world, starts_on=UPCOMING, name="CPX 2026", kind="conference"):
    return run(
        world,
        cmd.create_event,
        actor=world["boss"],
        name=name,
        kind=kind,
        starts_on=starts_on,
        offers=["ticket_discount", "vip_keynote_seating"],
        description="Keynotes and roadmap.",
    )


def offer(world, event_id, *keys, actor="boss", now=NOW):
    return run(
        world,
        cmd.offer_event,
        actor=world[actor],
        event_id=event_id,
        customer_ids=[world[key] for key in keys],
        now=now,
    )


def invitation_id(world, event_id, key) -> int:
    with Session(world["engine"]) as session:
        return session.exec(
            select(EventInvitation.id).where(
                EventInvitation.event_id == event_id, EventInvitation.customer_id == world[key]
            )
        ).one()


def answer(world, event_id, key, status, actor="csm.one", now=NOW):
    return run(
        world,
        cmd.set_invitation_status,
        actor=world[actor],
        invitation_id=invitation_id(world, event_id, key),
        status=status,
        now=now,
    )


def rows(world, table) -> int:
    with Session(world["engine"]) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def read(world, query, **kwargs):
    with Session(world["engine"]) as session:
        return query(session=session, **kwargs)


def everyone(world) -> Scope:
    return Scope(user_id=world["boss"].id, all_customers=True)


# --- Permissions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["csm.one", "surveys"])
def test_only_managers_and_admins_create_and_offer_events(world, who):
    with pytest.raises(CommandRefused, match="Only a manager or administrator may do that."):
        run(
            world,
            cmd.create_event,
            actor=world[who],
            name="CPX",
            kind="conference",
            starts_on=UPCOMING,
            offers=["ticket_discount"],
        )
    event = make_event(world)
    with pytest.raises(CommandRefused, match="Only a manager or administrator may do that."):
        offer(world, event.id, "pro", actor=who)
    assert rows(world, EventInvitation) == 0


def test_a_csm_records_answers_for_own_customers_only(world):
    event = make_event(world)
    offer(world, event.id, "pro", "other", actor="root")
    answer(world, event.id, "pro", "accepted")
    with pytest.raises(CommandRefused, match="Other Co is not in your portfolio."):
        answer(world, event.id, "other", "accepted")
    with pytest.raises(CommandRefused, match="Only a customer-success manager, manager or"):
        answer(world, event.id, "other", "accepted", actor="surveys")
    answer(world, event.id, "other", "declined", actor="boss")
    frame = read(world, invitations, scope=everyone(world))
    assert dict(zip(frame["customer"], frame["status"], strict=True)) == {
        "Pro Co": "accepted",
        "Other Co": "declined",
    }


def test_a_csm_enrols_own_customers_only(world):
    programme = run(world, cmd.create_programme, actor=world["boss"], name="Early access")
    run(
        world,
        cmd.set_programme_enrolment,
        actor=world["csm.one"],
        programme_id=programme.id,
        customer_id=world["pro"],
        status="nominated",
        now=NOW,
    )
    with pytest.raises(CommandRefused, match="Other Co is not in your portfolio."):
        run(
            world,
            cmd.set_programme_enrolment,
            actor=world["csm.one"],
            programme_id=programme.id,
            customer_id=world["other"],
            status="nominated",
        )
    with pytest.raises(CommandRefused, match="Only a manager or administrator may do that."):
        run(world, cmd.create_programme, actor=world["csm.one"], name="Beta")
    assert rows(world, ProgrammeEnrolment) == 1


# --- Eligibility ---------------------------------------------------------------------------------


def test_basic_customers_are_refused_with_the_reason_and_nothing_is_written(world):
    event = make_event(world)
    with pytest.raises(CommandRefused) as refused:
        offer(world, event.id, "pro", "basic")
    assert str(refused.value) == (
        "Basic Co cannot be offered CPX 2026: VIP event offers are not part of Basic."
    )
    assert rows(world, EventInvitation) == 0
    programme = run(world, cmd.create_programme, actor=world["boss"], name="Early access")
    with pytest.raises(CommandRefused, match="Product programmes are not part of Basic."):
        run(
            world,
            cmd.set_programme_enrolment,
            actor=world["boss"],
            programme_id=programme.id,
            customer_id=world["basic"],
            status="nominated",
        )
    assert rows(world, ProgrammeEnrolment) == 0


def test_eligibility_follows_the_policy_row_not_the_tier_name(world):
    with Session(world["engine"]) as session:
        row = session.get(TierPolicyRow, Tier.PROFESSIONAL.value)
        row.vip_events = False
        session.add(row)
        session.commit()
    event = make_event(world)
    with pytest.raises(CommandRefused, match="VIP event offers are not part of HyperCare Prof"):
        offer(world, event.id, "pro")
    offer(world, event.id, "ent")
    frame = read(world, eligibility_in_scope, scope=everyone(world))
    reasons = dict(zip(frame["customer"], frame["reason"], strict=True))
    assert reasons["Basic Co"] == "VIP events and product programmes are not part of Basic."
    assert reasons["Pro Co"] == "VIP event offers are not part of HyperCare Professional."
    assert reasons["Ent Co"] == ""


def test_a_csm_sees_eligibility_of_own_customers_only(world):
    scope = Scope(user_id=world["csm.two"].id, all_customers=False)
    frame = read(world, eligibility_in_scope, scope=scope)
    assert list(frame["customer"]) == ["Other Co"]


# --- Offers and moves ----------------------------------------------------------------------------


def test_offers_for_an_event_that_has_started_are_refused(world):
    event = make_event(world, starts_on=PAST)
    with pytest.raises(CommandRefused, match="CPX 2026 started on 2026-10-10; offers are made"):
        offer(world, event.id, "pro")


def test_offering_twice_keeps_the_first_offer_and_is_audited_once_per_new_offer(world):
    event = make_event(world)
    first = offer(world, event.id, "pro")
    answer(world, event.id, "pro", "accepted")
    second = offer(world, event.id, "pro", "ent")
    assert first.offered == ("Pro Co",)
    assert second.offered == ("Ent Co",) and second.already == ("Pro Co",)
    frame = read(world, invitations, scope=everyone(world))
    assert dict(zip(frame["customer"], frame["status"], strict=True)) == {
        "Ent Co": "offered",
        "Pro Co": "accepted",
    }
    with Session(world["engine"]) as session:
        actions = session.exec(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["create_event", "offer_event", "set_invitation_status", "offer_event"]


def test_attendance_needs_acceptance_and_a_started_event(world):
    event = make_event(world)
    offer(world, event.id, "pro")
    with pytest.raises(CommandRefused, match="offered cannot become attended"):
        answer(world, event.id, "pro", "attended")
    answer(world, event.id, "pro", "accepted")
    with pytest.raises(CommandRefused, match="attendance is recorded from that day"):
        answer(world, event.id, "pro", "attended")
    answer(world, event.id, "pro", "attended", now=NOW + timedelta(days=40))
    with pytest.raises(CommandRefused, match="attended cannot become declined"):
        answer(world, event.id, "pro", "declined", now=NOW + timedelta(days=41))


def test_invalid_events_are_refused(world):
    base = {"actor": world["boss"], "starts_on": UPCOMING, "description": ""}
    cases = [
        ({"name": "  ", "kind": "conference", "offers": ["ticket_discount"]}, "Give the event"),
        ({"name": "X", "kind": "webinar", "offers": ["ticket_discount"]}, "not an event kind"),
        ({"name": "X", "kind": "regional", "offers": []}, "Choose at least one offer"),
    ]
    for changes, message in cases:
        with pytest.raises(CommandRefused, match=message):
            run(world, cmd.create_event, **base, **changes)
    make_event(world)
    with pytest.raises(CommandRefused, match="CPX 2026 on 2026-12-10 already exists."):
        make_event(world)


def test_enrolment_runs_its_course_and_a_closed_programme_takes_no_newcomers(world):
    programme = run(
        world, cmd.create_programme, actor=world["boss"], name="Early access", is_open=False
    )
    with pytest.raises(CommandRefused, match="Early access is closed to new customers."):
        run(
            world,
            cmd.set_programme_enrolment,
            actor=world["boss"],
            programme_id=programme.id,
            customer_id=world["pro"],
            status="nominated",
        )
    with pytest.raises(CommandRefused, match="A programme called Early access already exists."):
        run(world, cmd.create_programme, actor=world["boss"], name="Early  access")
    open_one = run(world, cmd.create_programme, actor=world["boss"], name="Beta")
    for status in ("nominated", "enrolled", "withdrawn"):
        run(
            world,
            cmd.set_programme_enrolment,
            actor=world["csm.one"],
            programme_id=open_one.id,
            customer_id=world["pro"],
            status=status,
            now=NOW,
        )
    with pytest.raises(CommandRefused, match="already withdrawn"):
        run(
            world,
            cmd.set_programme_enrolment,
            actor=world["csm.one"],
            programme_id=open_one.id,
            customer_id=world["pro"],
            status="withdrawn",
        )
    overview = read(world, programmes_overview, scope=everyone(world))
    beta = overview.set_index("programme").loc["Beta"]
    assert (beta["nominated"], beta["enrolled"], beta["withdrawn"]) == (0, 0, 1)
    assert list(read(world, enrolments, scope=everyone(world))["status"]) == ["withdrawn"]


# --- Uptake --------------------------------------------------------------------------------------


def test_uptake_counts_per_event_and_per_tier_within_scope(world):
    event = make_event(world)
    regional = make_event(world, name="Sydney roadshow", kind="regional")
    offer(world, event.id, "pro", "ent", "other")
    offer(world, regional.id, "pro")
    answer(world, event.id, "pro", "accepted")
    answer(world, event.id, "pro", "attended", now=NOW + timedelta(days=40))
    answer(world, event.id, "ent", "declined")
    overview = read(world, events_overview, scope=everyone(world)).set_index("event")
    cpx = overview.loc["CPX 2026"]
    assert (cpx["offered"], cpx["accepted"], cpx["declined"], cpx["attended"]) == (3, 1, 1, 1)
    assert cpx["acceptance_rate"] == pytest.approx(1 / 3)
    assert overview.loc["Sydney roadshow", "offered"] == 1
    by_tier = read(world, uptake_by_tier, scope=everyone(world)).set_index("tier")
    assert by_tier.loc["HyperCare Professional", "offered"] == 3
    assert by_tier.loc["HyperCare Professional", "accepted"] == 1
    assert by_tier.loc["HyperCare Enterprise", "acceptance_rate"] == 0
    own = Scope(user_id=world["csm.two"].id, all_customers=False)
    mine = read(world, events_overview, scope=own).set_index("event")
    assert mine.loc["CPX 2026", "offered"] == 1
    assert mine.loc["Sydney roadshow", "offered"] == 0
    assert pd.isna(mine.loc["Sydney roadshow", "acceptance_rate"])


# --- The QBR line --------------------------------------------------------------------------------


def section_of(world, key: str, quarter: Quarter):
    with Session(world["engine"]) as session:
        customer = session.get(Customer, world[key])
        return events_section(session=session, customer=customer, quarter=quarter, now=NOW)


def test_the_qbr_line_counts_the_quarters_events_against_the_previous_quarter(world):
    q3 = make_event(world, starts_on=date(2026, 9, 20), name="Regional day", kind="regional")
    offer(world, q3.id, "pro", now=datetime(2026, 8, 1, tzinfo=UTC))
    cpx = make_event(world)
    summit = make_event(world, starts_on=date(2026, 11, 20), name="Summit")
    offer(world, cpx.id, "pro")
    offer(world, summit.id, "pro")
    answer(world, cpx.id, "pro", "accepted")
    answer(world, cpx.id, "pro", "attended", now=NOW + timedelta(days=40))
    answer(world, summit.id, "pro", "declined")
    section = section_of(world, "pro", Quarter(2026, 4))
    assert section.key == "events" and section.empty is None
    figures = {figure.label: (figure.text, figure.change) for figure in section.figures}
    assert figures == {
        "Events offered": ("2", "+1 vs previous quarter"),
        "Events accepted": ("1", "+1 vs previous quarter"),
        "Events attended": ("1", "+1 vs previous quarter"),
    }
    table = section.tables[0].frame
    assert list(table.columns) == ["Event", "Date", "Offers", "Status"]
    assert list(table["Event"]) == ["Summit", "CPX 2026"]
    assert list(table["Status"]) == ["Declined", "Attended"]
    assert table["Offers"].iloc[0] == "Ticket discount, VIP keynote seating"


def test_an_enrolment_counts_in_the_quarter_of_the_regions_calendar(world):
    programme = run(world, cmd.create_programme, actor=world["boss"], name="Early access")
    # 15:00 UTC on 30 September is 01:00 on 1 October in Sydney: Q4 there, not Q3.
    run(
        world,
        cmd.set_programme_enrolment,
        actor=world["boss"],
        programme_id=programme.id,
        customer_id=world["ent"],
        status="enrolled",
        now=datetime(2026, 9, 30, 15, tzinfo=UTC),
    )
    q3 = section_of(world, "ent", Quarter(2026, 3))
    assert q3.empty == "No VIP event or product programme for Ent Co in Q3 2026."
    q4 = section_of(world, "ent", Quarter(2026, 4))
    assert q4.empty is None and q4.figures == ()
    assert list(q4.tables[0].frame["Status"]) == ["Enrolled"]
    assert q4.notes == ("No VIP event in Q4 2026.",)


def test_basic_gets_the_reason_instead_of_the_section(world):
    section = section_of(world, "basic", Quarter(2026, 4))
    assert section.title == "VIP events and product programmes"
    assert section.empty == "VIP events and product programmes are not part of Basic."
    assert section.figures == () and section.tables == ()


# --- The demo seed -------------------------------------------------------------------------------


def test_the_demo_seed_invites_only_eligible_tiers_before_each_event(seeded):
    with Session(seeded) as session:
        lines = session.exec(
            select(
                EventInvitation.status,
                EventInvitation.invited_at,
                EventInvitation.updated_at,
                EventOffer.starts_on,
                TierPolicyRow.vip_events,
            )
            .join(EventOffer, EventOffer.id == EventInvitation.event_id)
            .join(Customer, Customer.id == EventInvitation.customer_id)
            .join(TierPolicyRow, TierPolicyRow.tier == Customer.tier)
        ).all()
        enrolled_tiers = session.exec(
            select(TierPolicyRow.product_programmes)
            .join(Customer, Customer.tier == TierPolicyRow.tier)
            .join(ProgrammeEnrolment, ProgrammeEnrolment.customer_id == Customer.id)
        ).all()
    assert lines and enrolled_tiers
    assert all(line.vip_events for line in lines)
    assert all(enrolled_tiers)
    assert all(line.invited_at.date() < line.starts_on for line in lines)
    assert all(line.invited_at <= line.updated_at for line in lines)
    attended = [line for line in lines if line.status == "attended"]
    assert attended and all(line.starts_on <= SEED_TODAY for line in attended)
    assert {line.status for line in lines} == {"offered", "accepted", "declined", "attended"}
