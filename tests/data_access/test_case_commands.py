"""Case commands on SQLite and PostgreSQL: transitions, mirrored fields, audit, clocks, races.

The region is Europe/London, Monday-Friday 09:00-17:00 with GB holidays; the week is Monday
2 March 2026 (GMT, so London time equals UTC and every clock can be checked on paper).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import pandas as pd
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.calendars import region_calendars
from data_access.case_commands import (
    add_internal_note,
    change_severity,
    open_case,
    record_case_event,
)
from data_access.cases import case_assignees, case_detail
from data_access.db import session_scope
from data_access.models import (
    AuditLog,
    BusinessHours,
    Case,
    CaseEvent,
    Contact,
    Customer,
    Region,
    User,
)
from data_access.policies import seed_default_policies, tier_policies
from data_access.scope import Scope
from domain.clocks import compute_clocks
from domain.lifecycle import ACTIONS, STATUSES, IllegalTransition, check_action

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in the test week: day 0 is Monday 2 March 2026."""
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


@dataclass(frozen=True)
class World:
    region_id: int
    customer_id: int
    other_customer_id: int
    csm_id: int
    resource_id: int
    other_csm_id: int
    manager_id: int
    inactive_csm_id: int

    @property
    def csm(self) -> Actor:
        return Actor(id=self.csm_id, username="csm.one", roles=("csm",))

    @property
    def other_csm(self) -> Actor:
        return Actor(id=self.other_csm_id, username="csm.two", roles=("csm",))

    @property
    def manager(self) -> Actor:
        return Actor(id=self.manager_id, username="boss", roles=("manager",))


def make_user(session: Session, username: str, roles: str, active: bool = True) -> int:
    user = User(
        username=username,
        name=username.replace(".", " ").title(),
        email=f"{username}@example.com",
        password_hash="x",
        roles=roles,
        is_active=active,
    )
    session.add(user)
    session.flush()
    return user.id


def build_world(session: Session) -> World:
    seed_default_policies(session=session)
    region = Region(
        code="UK", name="United Kingdom", timezone="Europe/London", holiday_country="GB"
    )
    session.add(region)
    session.flush()
    for weekday in range(5):
        session.add(
            BusinessHours(region_id=region.id, weekday=weekday, opens=time(9), closes=time(17))
        )
    csm = make_user(session, "csm.one", "csm")
    resource = make_user(session, "resource.one", "csm")
    other = make_user(session, "csm.two", "csm")
    manager = make_user(session, "boss", "manager")
    inactive = make_user(session, "csm.gone", "csm", active=False)
    customer = Customer(
        name="Acme",
        tier="professional",
        region_id=region.id,
        csm_id=csm,
        hypercare_resource_id=resource,
        hypercare_start=MONDAY.date() - timedelta(days=100),
    )
    other_customer = Customer(
        name="Globex",
        tier="basic",
        region_id=region.id,
        csm_id=other,
        hypercare_start=MONDAY.date() - timedelta(days=100),
    )
    session.add_all([customer, other_customer])
    session.flush()
    session.add(
        Contact(
            customer_id=customer.id,
            name="Pat Lee",
            phone="+44 20 0000 0000",
            preferred_channel="phone",
            is_primary=True,
        )
    )
    session.commit()
    return World(region.id, customer.id, other_customer.id, csm, resource, other, manager, inactive)


@pytest.fixture
def world(session) -> World:
    return build_world(session)


def new_case(session: Session, world: World, opened: datetime = MONDAY, **fields) -> int:
    values = {"subject": "Model will not open", "severity": 3, "channel": "email"} | fields
    case = open_case(
        session=session, actor=world.csm, customer_id=world.customer_id, now=opened, **values
    )
    session.commit()
    return case.id


def act(session, world, case_id, action, when, **extra) -> CaseEvent:
    event = record_case_event(
        session=session,
        case_id=case_id,
        actor=world.csm,
        action=action,
        now=when,
        **extra,
    )
    session.commit()
    return event


# A path of actions from `new` to each status.
PATHS = {
    "new": [],
    "open": ["public_reply"],
    "pending_customer": ["public_reply", "set_pending"],
    "transferred_l2": ["public_reply", "transfer_l2"],
    "transferred_l3": ["public_reply", "transfer_l3"],
    "solved": ["public_reply", "solve"],
    "closed": ["public_reply", "solve", "close"],
}


def case_in(session, world, status) -> int:
    case_id = new_case(session, world)
    for step, action in enumerate(PATHS[status], start=1):
        act(session, world, case_id, action, at(0, 10, step))
    assert session.get(Case, case_id).status == status
    return case_id


def counts(session, case_id) -> tuple[int, int]:
    events = session.exec(
        select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)
    ).one()
    audits = session.exec(select(func.count()).select_from(AuditLog)).one()
    return events, audits


def events_of(session, case_id) -> list[CaseEvent]:
    return list(
        session.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        ).all()
    )


# --- opening a case ---------------------------------------------------------------------------


def test_open_case_writes_the_case_its_first_event_and_an_audit_row(session, world):
    case_id = new_case(session, world, severity=1, is_outage=True, channel="phone")
    case = session.get(Case, case_id)
    assert (case.status, case.severity, case.is_outage, case.channel) == ("new", 1, True, "phone")
    assert case.opened_at == MONDAY and case.version == 1
    [event] = events_of(session, case_id)
    assert (event.kind, event.from_status, event.to_status) == ("status", None, "new")
    assert event.at == MONDAY and event.actor_id == world.csm_id
    audit = session.exec(select(AuditLog).where(AuditLog.action == "open_case")).one()
    assert audit.entity_id == str(case_id) and audit.actor == "csm.one"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"subject": "  "}, "A case needs a subject."),
        ({"subject": "x" * 301}, "The subject can be at most 300 characters."),
        ({"severity": 0}, "Severity must be 1 (critical), 2, 3 or 4 (low)."),
        ({"severity": 5}, "Severity must be 1 (critical), 2, 3 or 4 (low)."),
        ({"severity": True}, "Severity must be 1 (critical), 2, 3 or 4 (low)."),
        ({"channel": "fax"}, "The channel must be email, phone, chat or portal."),
        ({"customer_id": 999_999}, "There is no customer #999999."),
    ],
)
def test_invalid_case_is_refused_and_nothing_written(session, world, fields, message):
    values = {
        "subject": "Import fails",
        "severity": 2,
        "channel": "chat",
        "customer_id": world.customer_id,
    } | fields
    with pytest.raises(CommandRefused) as refused:
        open_case(session=session, actor=world.csm, now=MONDAY, **values)
    assert str(refused.value) == message
    session.rollback()
    assert session.exec(select(func.count()).select_from(Case)).one() == 0
    assert session.exec(select(func.count()).select_from(AuditLog)).one() == 0


def test_open_case_needs_an_aware_now(session, world):
    with pytest.raises(ValueError, match="time-zone-aware"):
        open_case(
            session=session,
            actor=world.csm,
            customer_id=world.customer_id,
            subject="x",
            severity=3,
            channel="email",
            now=datetime(2026, 3, 2, 9),
        )


# --- every transition -------------------------------------------------------------------------


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", [a for a in ACTIONS if a != "assign"])
def test_every_action_from_every_status(session, world, status, action):
    case_id = case_in(session, world, status)
    before = session.get(Case, case_id)
    version, first_response = before.version, before.first_response_at
    events_before, audits_before = counts(session, case_id)
    try:
        expected = check_action(status, action)
    except IllegalTransition as illegal:
        with pytest.raises(CommandRefused) as refused:
            act(session, world, case_id, action, at(1, 10))
        session.rollback()
        assert str(refused.value) == str(illegal)
        assert counts(session, case_id) == (events_before, audits_before)
        after = session.get(Case, case_id)
        session.refresh(after)
        assert (after.status, after.version) == (status, version)
        return

    when = at(1, 10)
    event = act(session, world, case_id, action, when)
    case = session.get(Case, case_id)
    session.refresh(case)
    assert case.status == (expected or status)
    assert case.version == version + 1 and case.updated_at == when
    new_events = events_of(session, case_id)[events_before:]
    if action == "public_reply":
        assert (event.kind, event.at, event.actor_id) == ("public_reply", when, world.csm_id)
        assert case.first_response_at == (first_response or when)
        status_events = [(e.from_status, e.to_status) for e in new_events if e.kind == "status"]
        assert status_events == ([("new", "open")] if status == "new" else [])
    else:
        assert [(e.kind, e.from_status, e.to_status) for e in new_events] == [
            ("status", status, expected)
        ]
    assert counts(session, case_id)[1] == audits_before + 1
    audit = session.exec(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert audit.action == f"case_{action}" and audit.entity_id == str(case_id)
    detail = json.loads(audit.detail)
    assert (detail["action"], detail["from"], detail["to"]) == (action, status, case.status)


def test_refused_action_on_a_closed_case_says_why(session, world):
    case_id = case_in(session, world, "closed")
    with pytest.raises(CommandRefused, match="^A closed case cannot be reopened; open a new"):
        act(session, world, case_id, "reopen", at(1, 9))


def test_unknown_case_and_action_are_refused(session, world):
    with pytest.raises(CommandRefused, match="There is no case with id 424242."):
        act(session, world, 424242, "solve", at(0, 10))
    case_id = new_case(session, world)
    with pytest.raises(CommandRefused, match="There is no case action called 'escalate'."):
        act(session, world, case_id, "escalate", at(0, 10))


def test_note_over_5000_characters_is_refused(session, world):
    case_id = new_case(session, world)
    with pytest.raises(CommandRefused, match="^A note can be at most 5000 characters.$"):
        act(session, world, case_id, "public_reply", at(0, 10), note="x" * 5001)
    session.rollback()
    event = act(session, world, case_id, "public_reply", at(0, 10), note="y" * 5000)
    assert len(event.note) == 5000


def test_an_inactive_actor_is_refused(session, world):
    case_id = new_case(session, world)
    gone = Actor(id=world.inactive_csm_id, username="csm.gone", roles=("csm",))
    with pytest.raises(CommandRefused, match="Your account is no longer active; sign in again."):
        record_case_event(
            session=session, case_id=case_id, actor=gone, action="public_reply", now=at(0, 10)
        )


# --- mirrored fields --------------------------------------------------------------------------


def test_mirrored_fields_follow_a_full_life(session, world):
    case_id = new_case(session, world)
    act(session, world, case_id, "public_reply", at(0, 10))
    act(session, world, case_id, "public_reply", at(0, 11))
    act(session, world, case_id, "transfer_l2", at(0, 12))
    act(session, world, case_id, "transfer_l3", at(0, 13))
    act(session, world, case_id, "resume", at(0, 14))
    act(session, world, case_id, "solve", at(1, 10))
    case = session.get(Case, case_id)
    assert case.first_response_at == at(0, 10)
    assert case.escalated_to == "L3"
    assert case.solved_at == at(1, 10)
    act(session, world, case_id, "reopen", at(2, 10))
    session.refresh(case)
    assert (case.status, case.solved_at, case.escalated_to) == ("open", None, "L3")
    act(session, world, case_id, "solve", at(2, 12))
    act(session, world, case_id, "close", at(3, 12))
    session.refresh(case)
    assert (case.status, case.solved_at, case.closed_at) == ("closed", at(2, 12), at(3, 12))
    assert case.version == 1 + 9
    statuses = [
        (e.from_status, e.to_status) for e in events_of(session, case_id) if e.kind == "status"
    ]
    assert statuses == [
        (None, "new"),
        ("new", "open"),
        ("open", "transferred_l2"),
        ("transferred_l2", "transferred_l3"),
        ("transferred_l3", "open"),
        ("open", "solved"),
        ("solved", "open"),
        ("open", "solved"),
        ("solved", "closed"),
    ]


def test_assign_sets_the_assignee_and_checks_who(session, world):
    case_id = new_case(session, world)
    event = act(
        session, world, case_id, "assign", at(0, 9, 5), assignee_id=world.resource_id, note="Yours"
    )
    assert event.kind == "assign" and event.note == "Assigned to Resource One.\nYours"
    case = session.get(Case, case_id)
    assert (case.assignee_id, case.status, case.version) == (world.resource_id, "new", 2)
    for assignee, message in [
        (None, "Choose who to assign the case to."),
        (world.manager_id, "A case can only be assigned to an active user with the csm role."),
        (world.inactive_csm_id, "A case can only be assigned to an active user with the csm role."),
        (world.resource_id, "The case is already assigned to Resource One."),
    ]:
        with pytest.raises(CommandRefused) as refused:
            act(session, world, case_id, "assign", at(0, 9, 6), assignee_id=assignee)
        assert str(refused.value) == message
        session.rollback()
    audit = session.exec(select(AuditLog).where(AuditLog.action == "case_assign")).one()
    assert json.loads(audit.detail)["assignee_id"] == world.resource_id


# --- clocks from the recorded events ----------------------------------------------------------


def clocks_of(session, case_id, now) -> pd.Series:
    case_frame = pd.read_sql(
        select(
            Case.id.label("case_id"),
            Customer.tier,
            Case.severity,
            Case.status,
            Region.code.label("region"),
            Case.opened_at,
        )
        .join(Customer, Customer.id == Case.customer_id)
        .join(Region, Region.id == Customer.region_id)
        .where(Case.id == case_id),
        session.connection(),
    )
    case_frame["opened_at"] = pd.to_datetime(case_frame["opened_at"], utc=True)
    event_frame = pd.read_sql(
        select(
            CaseEvent.case_id,
            CaseEvent.at,
            CaseEvent.kind,
            CaseEvent.from_status,
            CaseEvent.to_status,
        ).where(CaseEvent.case_id == case_id),
        session.connection(),
    )
    event_frame["at"] = pd.to_datetime(event_frame["at"], utc=True)
    clocks = compute_clocks(
        case_frame,
        event_frame,
        tier_policies(session=session),
        region_calendars(session=session, today=now.date()),
        now,
    )
    return clocks.loc[case_id]


def test_clocks_replayed_from_the_events_pause_and_resume(session, world):
    policy = tier_policies(session=session)["professional"]
    case_id = new_case(session, world, opened=at(0, 10))
    act(session, world, case_id, "public_reply", at(0, 10, 30))
    act(session, world, case_id, "set_pending", at(0, 11))

    # While pending the clock is paused: Monday 10:00-11:00 is all that counts.
    pending = clocks_of(session, case_id, now=at(1, 10))
    assert pending["res_state"] == "paused"
    assert pending["res_business_minutes"] == 60
    assert pending["fr_state"] == "met" and pending["fr_at"] == at(0, 10, 30)

    # Pending Monday 11:00 to Tuesday 11:00 = 6h + 2h of business time.
    act(session, world, case_id, "resume", at(1, 11))
    act(session, world, case_id, "solve", at(2, 10))
    solved = clocks_of(session, case_id, now=at(4, 12))
    # Monday 10-17 (420) + Tuesday (480) + Wednesday 9-10 (60), less 480 pending.
    assert solved["res_business_minutes"] == 480
    assert solved["res_paused_minutes"] == 480
    assert solved["res_state"] == "met"

    # Reopened Thursday 10:00, solved again at 12:00: the solved spell (Wed 10:00 to Thu 10:00,
    # 7h + 1h) does not count, the reopened two hours do.
    act(session, world, case_id, "reopen", at(3, 10))
    act(session, world, case_id, "solve", at(3, 12))
    resolved = clocks_of(session, case_id, now=at(7, 12))
    assert resolved["res_business_minutes"] == 480 + 120
    assert resolved["res_paused_minutes"] == 480 + 480
    assert resolved["res_target_minutes"] == policy.resolution_business_days * 480
    assert resolved["res_state"] == "met"


def test_transferred_case_clock_is_excluded(session, world):
    case_id = new_case(session, world, opened=at(0, 9))
    act(session, world, case_id, "public_reply", at(0, 9, 10))
    act(session, world, case_id, "transfer_l2", at(0, 10))
    act(session, world, case_id, "resume", at(0, 11))
    act(session, world, case_id, "solve", at(0, 12))
    assert clocks_of(session, case_id, now=at(1, 9))["res_state"] == "excluded"


# --- case detail ------------------------------------------------------------------------------


def test_case_detail_in_scope(session, world):
    case_id = new_case(session, world, opened=at(0, 9))
    act(session, world, case_id, "assign", at(0, 9, 1), assignee_id=world.csm_id)
    act(session, world, case_id, "public_reply", at(0, 9, 30), note="Looking into it")
    own = Scope(user_id=world.csm_id, all_customers=False)
    detail = case_detail(session=session, scope=own, case_id=case_id)
    assert detail["customer"] == "Acme" and detail["tier"] == "professional"
    assert detail["tier_label"] == "HyperCare Professional"
    assert (detail["region"], detail["region_timezone"]) == ("UK", "Europe/London")
    assert (detail["assignee"], detail["hypercare_resource"]) == ("Csm One", "Resource One")
    assert detail["status"] == "open" and detail["first_response_at"] == at(0, 9, 30)
    assert detail["contacts"][["name", "preferred_channel"]].values.tolist() == [
        ["Pat Lee", "phone"]
    ]
    events = detail["events"]
    assert list(events.columns) == ["at", "actor", "kind", "from_status", "to_status", "note"]
    assert events["kind"].tolist() == ["status", "assign", "public_reply", "status"]
    assert events["at"].is_monotonic_increasing and str(events["at"].dt.tz) == "UTC"
    assert set(events["actor"]) == {"Csm One"}
    assert events.iloc[2]["note"] == "Looking into it"

    resource = Scope(user_id=world.resource_id, all_customers=False)
    assert case_detail(session=session, scope=resource, case_id=case_id) is not None
    other = Scope(user_id=world.other_csm_id, all_customers=False)
    assert case_detail(session=session, scope=other, case_id=case_id) is None
    everyone = Scope(user_id=world.manager_id, all_customers=True)
    assert case_detail(session=session, scope=everyone, case_id=case_id)["case_id"] == case_id
    assert case_detail(session=session, scope=everyone, case_id=999_999) is None


# --- concurrency ------------------------------------------------------------------------------


def run_at_once(engine, world, case_id, actions: list[str]) -> list[str | None]:
    """Each action in its own thread and transaction, released together; returns the refusals."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[str | None] = [None] * len(actions)

    def worker(index: int, action: str) -> None:
        barrier.wait()
        try:
            with session_scope(engine) as session:
                record_case_event(
                    session=session,
                    case_id=case_id,
                    actor=world.csm,
                    action=action,
                    note=f"thread {index}",
                )
        except CommandRefused as exc:
            outcomes[index] = str(exc)
        except Exception as exc:  # surfaced by the assertion below
            outcomes[index] = f"ERROR {exc!r}"

    threads = [threading.Thread(target=worker, args=item) for item in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not [o for o in outcomes if o and o.startswith("ERROR")], outcomes
    return outcomes


def fresh(engine, case_id) -> tuple[Case, list[CaseEvent]]:
    with Session(engine) as session:
        return session.get(Case, case_id), events_of(session, case_id)


def test_concurrent_replies_are_all_kept(engine, session, world):
    case_id = new_case(session, world, opened=datetime.now(UTC) - timedelta(hours=1))
    outcomes = run_at_once(engine, world, case_id, ["public_reply"] * 10)
    assert outcomes == [None] * 10
    case, events = fresh(engine, case_id)
    replies = [e for e in events if e.kind == "public_reply"]
    assert len(replies) == 10
    assert sorted(e.note for e in replies) == sorted(f"thread {i}" for i in range(10))
    # Exactly one reply opened the case, and the mirror agrees with the first reply.
    assert [(e.from_status, e.to_status) for e in events if e.kind == "status"] == [
        (None, "new"),
        ("new", "open"),
    ]
    assert case.status == "open" and case.version == 11
    assert case.first_response_at == min(e.at for e in replies)


def test_concurrent_pending_and_resume_never_lose_an_event(engine, session, world):
    case_id = new_case(session, world, opened=datetime.now(UTC) - timedelta(hours=1))
    act(session, world, case_id, "public_reply", datetime.now(UTC) - timedelta(minutes=50))
    actions = ["set_pending", "resume"] * 6
    outcomes = run_at_once(engine, world, case_id, actions)
    succeeded = sum(o is None for o in outcomes)
    assert succeeded >= 1
    assert {o for o in outcomes if o} <= {
        "The case is already pending the customer.",
        "The case is already open.",
    }
    case, events = fresh(engine, case_id)
    changes = [e for e in events if e.kind == "status"][2:]  # after None->new, new->open
    assert len(changes) == succeeded
    # The history is a chain: each change starts where the previous one ended.
    chain = ["open"] + [e.to_status for e in changes]
    assert [e.from_status for e in changes] == chain[:-1]
    assert case.status == chain[-1]
    assert case.version == 2 + succeeded
    # Stamped in the order they were applied, so replaying them by time gives the same history.
    stamps = [e.at for e in events]
    assert stamps == sorted(stamps)


def test_concurrent_solves_succeed_once_and_refuse_the_rest(engine, session, world):
    case_id = new_case(session, world, opened=datetime.now(UTC) - timedelta(hours=1))
    act(session, world, case_id, "public_reply", datetime.now(UTC) - timedelta(minutes=50))
    outcomes = run_at_once(engine, world, case_id, ["solve"] * 8)
    assert sorted(outcomes, key=str) == [None] + ["The case is already solved."] * 7
    case, events = fresh(engine, case_id)
    assert [e.to_status for e in events if e.kind == "status"].count("solved") == 1
    assert case.status == "solved" and case.version == 3
    with Session(engine) as check:
        solves = check.exec(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "case_solve")
        ).one()
    assert solves == 1


# --- the actor: role and scope, checked by every command --------------------------------------


def every_command(world: World, case_id: int):
    """Each case command once, as a function of the actor."""
    return {
        "open_case": lambda session, actor: open_case(
            session=session,
            actor=actor,
            customer_id=world.customer_id,
            subject="Phoned in",
            severity=2,
            channel="phone",
            now=at(0, 10),
        ),
        "public_reply": lambda session, actor: record_case_event(
            session=session, actor=actor, case_id=case_id, action="public_reply", note="Hi"
        ),
        "internal_note": lambda session, actor: add_internal_note(
            session=session, actor=actor, case_id=case_id, note="Called them"
        ),
        "change_severity": lambda session, actor: change_severity(
            session=session, actor=actor, case_id=case_id, severity=1, reason="Outage"
        ),
    }


@pytest.mark.parametrize(
    "command", ["open_case", "public_reply", "internal_note", "change_severity"]
)
def test_wrong_role_and_out_of_scope_actors_are_refused(session, world, command):
    case_id = new_case(session, world)
    surveys = Actor(
        id=make_user(session, "surveys.one", "survey_staff"), username="surveys.one", roles=()
    )
    session.commit()
    before = counts(session, case_id)
    run = every_command(world, case_id)[command]
    for actor, message in [
        (surveys, "Only a customer-success manager, manager or administrator may do that."),
        (world.other_csm, "Acme is not in your portfolio."),
    ]:
        with pytest.raises(CommandRefused) as refused:
            run(session, actor)
        assert str(refused.value) == message
        session.rollback()
        assert counts(session, case_id) == before
    run(session, world.manager)
    session.commit()
    assert counts(session, case_id)[1] == before[1] + 1


def test_a_case_is_assigned_only_to_someone_who_can_see_its_customer(session, world):
    case_id = new_case(session, world)
    with pytest.raises(CommandRefused) as refused:
        act(session, world, case_id, "assign", at(0, 9, 5), assignee_id=world.other_csm_id)
    assert str(refused.value) == (
        "Csm Two cannot see Acme; assign the case to its CSM, its HyperCare resource or a manager."
    )
    session.rollback()
    assert session.get(Case, case_id).assignee_id is None
    offered = case_assignees(session=session, customer_id=world.customer_id)
    assert offered["username"].tolist() == ["csm.one", "resource.one"]
    lead = make_user(session, "lead.one", "csm,manager")
    session.commit()
    offered = case_assignees(session=session, customer_id=world.customer_id)
    assert offered["username"].tolist() == ["csm.one", "lead.one", "resource.one"]
    act(session, world, case_id, "assign", at(0, 9, 6), assignee_id=lead)
    assert session.get(Case, case_id).assignee_id == lead


def test_open_case_names_the_reporting_contact(session, world):
    contact = session.exec(select(Contact).where(Contact.customer_id == world.customer_id)).one()
    case_id = new_case(session, world, channel="phone", contact_id=contact.id)
    [event] = events_of(session, case_id)
    assert event.note == "Reported by Pat Lee by phone."
    audit = session.exec(select(AuditLog).where(AuditLog.action == "open_case")).one()
    assert json.loads(audit.detail)["contact_id"] == contact.id
    stranger = Contact(
        customer_id=world.other_customer_id, name="Kim Ray", preferred_channel="email"
    )
    session.add(stranger)
    session.commit()
    with pytest.raises(CommandRefused, match="^That contact is not one of Acme's contacts.$"):
        new_case(session, world, contact_id=stranger.id)


def test_severity_change_needs_a_reason_and_is_audited(session, world):
    case_id = new_case(session, world, severity=3)
    for severity, reason, message in [
        (1, "  ", "Say why the severity changes."),
        (3, "Still medium", "The case is already Sev 3 – medium."),
        (7, "Worse", "Severity must be 1 (critical), 2, 3 or 4 (low)."),
    ]:
        with pytest.raises(CommandRefused) as refused:
            change_severity(
                session=session, actor=world.csm, case_id=case_id, severity=severity, reason=reason
            )
        assert str(refused.value) == message
        session.rollback()
    event = change_severity(
        session=session,
        actor=world.csm,
        case_id=case_id,
        severity=1,
        reason="Production is down",
        now=at(0, 10),
    )
    session.commit()
    case = session.get(Case, case_id)
    assert (case.severity, case.version, case.status) == (1, 2, "new")
    assert event.kind == "severity" and event.actor_id == world.csm_id
    assert event.note == "Sev 3 – medium → Sev 1 – critical: Production is down"
    audit = session.exec(select(AuditLog).where(AuditLog.action == "case_change_severity")).one()
    assert json.loads(audit.detail) == {"from": 3, "to": 1, "reason": "Production is down"}
    act(session, world, case_id, "solve", at(0, 11))
    with pytest.raises(CommandRefused, match="^Only an open case's severity can change"):
        change_severity(session=session, actor=world.csm, case_id=case_id, severity=2, reason="x")


def test_internal_note_is_kept_apart_from_replies(session, world):
    case_id = new_case(session, world)
    with pytest.raises(CommandRefused, match="^Write the note before adding it.$"):
        add_internal_note(session=session, actor=world.csm, case_id=case_id, note=" ")
    session.rollback()
    add_internal_note(
        session=session, actor=world.csm, case_id=case_id, note="**Not** markdown", now=at(0, 10)
    )
    session.commit()
    case = session.get(Case, case_id)
    assert (case.status, case.first_response_at) == ("new", None)
    kinds = [(e.kind, e.note) for e in events_of(session, case_id)]
    assert kinds[-1] == ("internal_note", "**Not** markdown")
    for status in ("closed",):
        closed = case_in(session, world, status)
        with pytest.raises(CommandRefused, match="^A closed case is final"):
            add_internal_note(session=session, actor=world.csm, case_id=closed, note="late")


def test_a_shell_job_opens_a_case_with_no_staff_actor(session, world):
    portal = Actor.system("portal import")
    case = open_case(
        session=session,
        actor=portal,
        customer_id=world.customer_id,
        subject="From the portal",
        severity=3,
        channel="portal",
        now=MONDAY,
    )
    session.commit()
    [event] = events_of(session, case.id)
    assert event.actor_id is None and event.to_status == "new"
    audit = session.exec(select(AuditLog).where(AuditLog.action == "open_case")).one()
    assert audit.actor == "portal import"
