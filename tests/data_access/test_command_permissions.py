"""Every write command decides for itself who may run it, on SQLite and PostgreSQL.

Each command is called directly, as a page would after its tabs and caches were drawn: once by
someone whose page still claims the right role but who does not hold it (refused: "Only a …"),
and, where a customer is involved and the role is scoped, once by a CSM for a customer outside
their portfolio (refused: "… is not in your portfolio."). Then the reproductions of the issue:
a customer moved to another CSM after the first CSM's page was drawn, and cases or feedback
sessions handed to someone who could not then see the customer.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from data_access import calendar_commands as calendars
from data_access import (
    case_commands,
    customers,
    entitlement_ledger,
    feedback_sessions,
    metric_loader,
    model_caps,
    monitor,
    optimisation_requests,
    policies,
    survey_campaigns,
)
from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused
from data_access.db import session_scope
from data_access.models import (
    AuditLog,
    BusinessHours,
    Case,
    CaseEvent,
    Contact,
    Customer,
    EndUser,
    PlanningModel,
    Region,
    User,
    Workspace,
    utc_now,
)
from domain.monitoring import METRICS
from domain.roles import Role, parse_roles
from domain.tiers import Tier

ROOT = Path(__file__).resolve().parents[2]
NOW = utc_now()
START = NOW.date() - timedelta(days=100)
NINE_TO_FIVE = {day: [(time(9), time(17))] for day in range(5)}
ROLE_REFUSAL = r"^Only an? .+ may do that\.$"


@dataclass
class World:
    engine: object
    users: dict[str, int]
    region: int
    own: int  # csm.one's customer (Professional)
    theirs: int  # csm.two's customer
    contact: int
    model: int
    end_users: list[int]
    request: int
    campaign: int
    feedback: int
    case: int

    def actor(self, username: str, *, claims: tuple[str, ...] | None = None) -> Actor:
        """`username` as a page built them; `claims` is the roles that page still believed."""
        with Session(self.engine) as session:
            user = session.get(User, self.users[username])
            roles = parse_roles(user.roles)
        return Actor(id=user.id, username=username, roles=claims or roles)


def _user(session: Session, username: str, roles: str) -> int:
    user = User(
        username=username,
        name=username.replace(".", " ").title(),
        email=f"{username}@perm.example",
        password_hash="x",
        roles=roles,
    )
    session.add(user)
    session.flush()
    return user.id


def _as(session: Session, user_id: int) -> Actor:
    user = session.get(User, user_id)
    return Actor(id=user.id, username=user.username, roles=parse_roles(user.roles))


@pytest.fixture
def world(engine) -> World:
    with session_scope(engine) as session:
        policies.seed_default_policies(session=session)
        region = Region(code="EMEA", name="EMEA", timezone="Europe/London", holiday_country="GB")
        session.add(region)
        session.flush()
        for weekday, periods in NINE_TO_FIVE.items():
            for opens, closes in periods:
                session.add(
                    BusinessHours(region_id=region.id, weekday=weekday, opens=opens, closes=closes)
                )
        users = {
            name: _user(session, name, roles)
            for name, roles in (
                ("admin", "admin"),
                ("manager", "manager"),
                ("csm.one", "csm"),
                ("csm.two", "csm"),
                ("surveys", "survey_staff"),
                ("surveys2", "survey_staff"),
            )
        }
        admin = _as(session, users["admin"])
        ids = {}
        for name, csm in (("Own Co", "csm.one"), ("Their Co", "csm.two")):
            ids[name] = customers.create_customer(
                session=session,
                actor=admin,
                fields=customers.CustomerFields(
                    name=name,
                    tier=Tier.PROFESSIONAL,
                    region_id=region.id,
                    csm_id=users[csm],
                    hypercare_resource_id=None,
                    hypercare_start=START,
                ),
            ).id
        own = ids["Own Co"]
        contact = Contact(customer_id=own, name="Dana Buyer", email="dana@own.example")
        workspace = Workspace(customer_id=own, name="Main")
        session.add_all([contact, workspace])
        session.flush()
        model = PlanningModel(
            workspace_id=workspace.id, customer_id=own, name="Sales", is_production=True
        )
        end_users = [
            EndUser(customer_id=own, name=f"User {n}", email=f"u{n}@own.example") for n in range(3)
        ]
        session.add_all([model, *end_users])
        session.flush()
        csm = _as(session, users["csm.one"])
        manager = _as(session, users["manager"])
        request = optimisation_requests.log_optimisation_request(
            session=session,
            actor=csm,
            customer_id=own,
            contact_id=contact.id,
            requested_at=NOW - timedelta(days=1),
            request_text="E-mail: the Sales model opens slowly.",
            target_date=NOW.date() + timedelta(weeks=4),
            model_id=model.id,
        )
        campaign = survey_campaigns.create_campaign(
            session=session, actor=manager, customer_id=own, now=NOW
        )
        survey_campaigns.save_draft(
            session=session,
            actor=_as(session, users["surveys"]),
            campaign_id=campaign.id,
            end_user_id=end_users[0].id,
            answers={"sus_1": 4},
            now=NOW,
        )
        feedback = feedback_sessions.request_feedback_session(
            session=session,
            actor=csm,
            customer_id=own,
            contact_id=contact.id,
            requested_at=NOW - timedelta(hours=2),
            request_text="Please interview our planners.",
            now=NOW,
        )
        case = case_commands.open_case(
            session=session,
            actor=csm,
            customer_id=own,
            subject="Model will not open",
            severity=3,
            channel="email",
            now=NOW - timedelta(hours=1),
        )
        case_commands.record_case_event(
            session=session,
            actor=csm,
            case_id=case.id,
            action="public_reply",
            note="Looking into it.",
            now=NOW - timedelta(minutes=50),
        )
        return World(
            engine=engine,
            users=users,
            region=region.id,
            own=own,
            theirs=ids["Their Co"],
            contact=contact.id,
            model=model.id,
            end_users=[user.id for user in end_users],
            request=request.id,
            campaign=campaign.id,
            feedback=feedback.id,
            case=case.id,
        )


def _fields(session: Session, customer_id: int, **changes) -> customers.CustomerFields:
    customer = session.get(Customer, customer_id)
    values = {name: getattr(customer, name) for name in customers.CustomerFields.__annotations__}
    return customers.CustomerFields(**(values | changes))


Command = Callable[[Session, World, Actor], object]


@dataclass(frozen=True)
class Case_:
    """One command: how to call it, whose wrong role to try, and who is out of scope."""

    call: Command
    wrong_role: str
    out_of_scope: str | None = "csm.two"


COMMANDS: dict[str, Case_] = {
    # entitlements
    "debit_entitlement": Case_(
        lambda s, w, a: entitlement_ledger.debit_entitlement(
            session=s, actor=a, customer_id=w.own, kind="model_optimisation", reason="Used"
        ),
        wrong_role="surveys",
    ),
    "credit_entitlement": Case_(
        lambda s, w, a: entitlement_ledger.credit_entitlement(
            session=s, actor=a, customer_id=w.own, kind="model_optimisation", reason="Back"
        ),
        wrong_role="surveys",
    ),
    "grant_extra": Case_(
        lambda s, w, a: entitlement_ledger.grant_extra(
            session=s, actor=a, customer_id=w.own, kind="model_optimisation", reason="Goodwill"
        ),
        wrong_role="csm.one",
        out_of_scope=None,  # managers see every customer
    ),
    "log_optimisation_request": Case_(
        lambda s, w, a: optimisation_requests.log_optimisation_request(
            session=s,
            actor=a,
            customer_id=w.own,
            contact_id=w.contact,
            requested_at=NOW - timedelta(hours=1),
            request_text="Another e-mail.",
            target_date=NOW.date() + timedelta(weeks=4),
            model_id=None,
        ),
        wrong_role="surveys",
    ),
    "advance_request": Case_(
        lambda s, w, a: optimisation_requests.advance_request(
            session=s, actor=a, request_id=w.request, to_state="accepted"
        ),
        wrong_role="surveys",
    ),
    "set_enrolment": Case_(
        lambda s, w, a: model_caps.set_enrolment(
            session=s, actor=a, model_id=w.model, which="monitoring", enrolled=True
        ),
        wrong_role="surveys",
    ),
    "set_enrolments": Case_(
        lambda s, w, a: model_caps.set_enrolments(
            session=s, actor=a, customer_id=w.own, wanted={"monitoring": [w.model]}
        ),
        wrong_role="surveys",
    ),
    "record_over_cap_attempt": Case_(
        lambda s, w, a: model_caps.record_over_cap_attempt(
            session=s,
            actor=a,
            refusal=model_caps.EnrolmentRefused(
                "Full.", customer_id=w.own, model_id=w.model, which="monitoring", cap=0, enrolled=0
            ),
        ),
        wrong_role="surveys",
    ),
    "apply_tier_change": Case_(
        lambda s, w, a: model_caps.apply_tier_change(
            session=s, actor=a, customer_id=w.own, new_tier=Tier.ENTERPRISE, keep_model_ids=None
        ),
        wrong_role="csm.one",
        out_of_scope=None,
    ),
    # surveys and feedback sessions
    "create_campaign": Case_(
        lambda s, w, a: survey_campaigns.create_campaign(
            session=s, actor=a, customer_id=w.theirs, now=NOW
        ),
        wrong_role="csm.two",  # their own customer, but campaigns are opened by managers
        out_of_scope=None,
    ),
    "save_draft": Case_(
        lambda s, w, a: survey_campaigns.save_draft(
            session=s,
            actor=a,
            campaign_id=w.campaign,
            end_user_id=w.end_users[1],
            answers={"sus_1": 2},
            now=NOW,
        ),
        wrong_role="csm.one",
        out_of_scope=None,  # survey staff are not scoped by customer; see the own-draft test
    ),
    "submit_response": Case_(
        lambda s, w, a: survey_campaigns.submit_response(
            session=s,
            actor=a,
            campaign_id=w.campaign,
            end_user_id=w.end_users[1],
            answers={
                **{f"sus_{n}": 3 for n in range(1, 11)},
                "nps": 8,
                "csat": 4,
                "interview_date": NOW.date() - timedelta(days=1),
            },
            now=NOW,
        ),
        wrong_role="csm.one",
        out_of_scope=None,
    ),
    "request_feedback_session": Case_(
        lambda s, w, a: feedback_sessions.request_feedback_session(
            session=s,
            actor=a,
            customer_id=w.own,
            contact_id=w.contact,
            requested_at=NOW - timedelta(hours=1),
            request_text="One more, please.",
            now=NOW,
        ),
        wrong_role="surveys",
    ),
    "schedule_feedback_session": Case_(
        lambda s, w, a: feedback_sessions.schedule_feedback_session(
            session=s,
            actor=a,
            feedback_session_id=w.feedback,
            scheduled_for=NOW + timedelta(days=2),
            resource_id=w.users["csm.one"],
        ),
        wrong_role="surveys",
    ),
    "record_feedback_findings": Case_(
        lambda s, w, a: feedback_sessions.record_feedback_findings(
            session=s,
            actor=a,
            feedback_session_id=w.feedback,
            findings="Exports to Excel.",
            recommendations="Saved views.",
            now=NOW,
        ),
        wrong_role="surveys",
    ),
    # region calendars (admin)
    "set_weekly_hours": Case_(
        lambda s, w, a: calendars.set_weekly_hours(
            session=s, actor=a, region_id=w.region, hours={0: [(time(8), time(16))]}
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
    "set_holiday_country": Case_(
        lambda s, w, a: calendars.set_holiday_country(
            session=s, actor=a, region_id=w.region, country="IE"
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
    "set_timezone": Case_(
        lambda s, w, a: calendars.set_timezone(
            session=s, actor=a, region_id=w.region, timezone="Europe/Dublin"
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
    "add_closure": Case_(
        lambda s, w, a: calendars.add_closure(
            session=s, actor=a, region_id=w.region, day=date(2026, 12, 29), reason="Office move"
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
    "remove_closure": Case_(
        lambda s, w, a: calendars.remove_closure(
            session=s, actor=a, region_id=w.region, day=date(2026, 12, 29)
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
    # customers, contacts, tier policies, metric upload (admin)
    "create_customer": Case_(
        lambda s, w, a: customers.create_customer(
            session=s, actor=a, fields=_fields(s, w.own, name="Third Co")
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
    "update_customer": Case_(
        lambda s, w, a: customers.update_customer(
            session=s,
            actor=a,
            customer_id=w.own,
            fields=_fields(s, w.own, csm_id=w.users["csm.two"]),
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
    "add_contact": Case_(
        lambda s, w, a: customers.add_contact(
            session=s,
            actor=a,
            customer_id=w.own,
            fields=customers.ContactFields(
                name="Eve", preferred_channel="email", email="eve@own.example"
            ),
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
    "update_contact": Case_(
        lambda s, w, a: customers.update_contact(
            session=s,
            actor=a,
            contact_id=w.contact,
            fields=customers.ContactFields(
                name="Dana B.", preferred_channel="email", email="dana@own.example"
            ),
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
    "update_policy": Case_(
        lambda s, w, a: policies.update_policy(
            session=s, actor=a, tier=Tier.BASIC, changes={"first_response_minutes": 100}
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
    "set_tier_policies": Case_(
        lambda s, w, a: policies.set_tier_policies(
            session=s, actor=a, desired=[{"tier": Tier.BASIC, "first_response_minutes": 100}]
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
    "load_metric_csv": Case_(
        lambda s, w, a: metric_loader.load_metric_csv(
            session=s,
            actor=a,
            source=f"model_id,day,{','.join(METRICS)}\n"
            f"{w.model},{NOW.date() - timedelta(days=1)},1,1,1,1,1,1,1\n",
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
    # the monitoring job (an operator's: the shell runs it as Actor.system)
    "run_monitor": Case_(
        lambda s, w, a: monitor.run_monitor(session=s, actor=a, day=NOW.date()),
        wrong_role="manager",
        out_of_scope=None,
    ),
    "apply_scores": Case_(
        lambda s, w, a: monitor.apply_scores(
            session=s, actor=a, scores=monitor.score_enrolled(session=s, day=NOW.date())
        ),
        wrong_role="manager",
        out_of_scope=None,
    ),
}


def _audit_rows(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(AuditLog)).one()


def _refused(world: World, command: Command, actor: Actor, message: str) -> None:
    before = _audit_rows(world.engine)
    with (
        pytest.raises(CommandRefused, match=message),
        session_scope(world.engine) as session,
    ):
        command(session, world, actor)
    assert _audit_rows(world.engine) == before


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_command_refuses_a_role_the_page_still_believed(world, name):
    """The page was drawn when the user held every role; the database says otherwise now."""
    case = COMMANDS[name]
    stale = world.actor(case.wrong_role, claims=tuple(Role))
    _refused(world, case.call, stale, ROLE_REFUSAL)


@pytest.mark.parametrize("name", [name for name, case in COMMANDS.items() if case.out_of_scope])
def test_a_command_refuses_a_customer_outside_the_portfolio(world, name):
    case = COMMANDS[name]
    _refused(
        world, case.call, world.actor(case.out_of_scope), r"^Own Co is not in your portfolio\.$"
    )


def _commands_of(*modules) -> dict[str, inspect.Signature]:
    """The public functions of `modules` that take an actor: their write commands."""
    return {
        name: inspect.signature(value)
        for module in modules
        for name, value in vars(module).items()
        if inspect.isfunction(value)
        and value.__module__ == module.__name__
        and not name.startswith("_")
        and "actor" in inspect.signature(value).parameters
    }


MODULES = (
    entitlement_ledger,
    optimisation_requests,
    model_caps,
    survey_campaigns,
    feedback_sessions,
    calendars,
    customers,
    policies,
    metric_loader,
    monitor,
)


def test_every_write_command_of_these_modules_is_in_the_table():
    """A new command in these modules must join the table (and so get its tests)."""
    assert set(_commands_of(*MODULES)) - set(COMMANDS) == set()


def test_no_write_command_takes_a_username_or_a_staff_id_any_more():
    """One way to say who acts: a keyword `actor: Actor`, never a username, `actor_id` or
    `staff_id` beside it."""
    old_style = [
        name
        for name, signature in _commands_of(*MODULES).items()
        if {"actor_id", "staff_id"} & set(signature.parameters)
        or signature.parameters["actor"].annotation not in ("Actor", Actor)
        or signature.parameters["actor"].kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    assert old_style == []


# --- survey staff write only their own responses ------------------------------------------


@pytest.mark.parametrize("command", [survey_campaigns.save_draft, survey_campaigns.submit_response])
def test_survey_staff_cannot_continue_someone_elses_draft(world, command):
    other = world.actor("surveys2")
    with (
        pytest.raises(CommandRefused, match="only they can continue it"),
        session_scope(world.engine) as session,
    ):
        command(
            session=session,
            actor=other,
            campaign_id=world.campaign,
            end_user_id=world.end_users[0],
            answers={"sus_2": 5},
            now=NOW,
        )


def test_a_shell_job_cannot_enter_a_survey_response(world):
    with (
        pytest.raises(CommandRefused, match="signed-in staff member"),
        session_scope(world.engine) as session,
    ):
        survey_campaigns.save_draft(
            session=session,
            actor=Actor.system("import"),
            campaign_id=world.campaign,
            end_user_id=world.end_users[2],
            answers={"sus_1": 1},
            now=NOW,
        )


def test_a_response_is_always_held_by_the_actor(world):
    with session_scope(world.engine) as session:
        response = survey_campaigns.save_draft(
            session=session,
            actor=world.actor("surveys2"),
            campaign_id=world.campaign,
            end_user_id=world.end_users[2],
            answers={"sus_1": 1},
            now=NOW,
        )
        assert response.staff_id == world.users["surveys2"]


# --- the stale-cache reproductions --------------------------------------------------------


def _move_own_customer_to_csm_two(world: World) -> None:
    with session_scope(world.engine) as session:
        customers.update_customer(
            session=session,
            actor=world.actor("admin"),
            customer_id=world.own,
            fields=_fields(session, world.own, csm_id=world.users["csm.two"]),
        )


def test_after_the_customer_moved_the_first_csm_cannot_set_the_case_pending(world):
    """The case page was drawn for csm.one (visibility cached); an admin then moved the customer
    to csm.two; csm.one's click on 'Set pending customer' is refused and writes nothing."""
    page_actor = world.actor("csm.one")
    _move_own_customer_to_csm_two(world)
    with Session(world.engine) as session:
        events_before = session.exec(select(func.count()).select_from(CaseEvent)).one()
    with (
        pytest.raises(CommandRefused, match=r"^Own Co is not in your portfolio\.$"),
        session_scope(world.engine) as session,
    ):
        case_commands.record_case_event(
            session=session, actor=page_actor, case_id=world.case, action="set_pending"
        )
    with Session(world.engine) as session:
        assert session.get(Case, world.case).status == "open"
        assert session.exec(select(func.count()).select_from(CaseEvent)).one() == events_before
    with session_scope(world.engine) as session:
        event = case_commands.record_case_event(
            session=session, actor=world.actor("csm.two"), case_id=world.case, action="set_pending"
        )
        assert event.actor_id == world.users["csm.two"]


@pytest.mark.parametrize(
    "name", ["set_enrolment", "advance_request", "log_optimisation_request", "debit_entitlement"]
)
def test_after_the_customer_moved_the_entitlements_page_of_the_first_csm_is_refused(world, name):
    page_actor = world.actor("csm.one")
    _move_own_customer_to_csm_two(world)
    _refused(world, COMMANDS[name].call, page_actor, r"^Own Co is not in your portfolio\.$")
    with session_scope(world.engine) as session:
        COMMANDS[name].call(session, world, world.actor("csm.two"))


def test_a_deactivated_user_is_refused_whatever_the_page_shows(world):
    page_actor = world.actor("csm.one")
    with session_scope(world.engine) as session:
        session.get(User, world.users["csm.one"]).is_active = False
    _refused(
        world,
        COMMANDS["set_enrolment"].call,
        page_actor,
        r"^Your account is no longer active; sign in again\.$",
    )


# --- given only to someone who can then see the customer ----------------------------------


@pytest.mark.parametrize("giver", ["csm.one", "manager"])
def test_a_feedback_session_is_given_only_to_someone_who_sees_the_customer(world, giver):
    with (
        pytest.raises(CommandRefused, match=r"^Csm Two cannot see Own Co;"),
        session_scope(world.engine) as session,
    ):
        feedback_sessions.schedule_feedback_session(
            session=session,
            actor=world.actor(giver),
            feedback_session_id=world.feedback,
            scheduled_for=NOW + timedelta(days=2),
            resource_id=world.users["csm.two"],
        )
    with session_scope(world.engine) as session:
        scheduled = feedback_sessions.schedule_feedback_session(
            session=session,
            actor=world.actor(giver),
            feedback_session_id=world.feedback,
            scheduled_for=NOW + timedelta(days=2),
            resource_id=world.users["csm.one"],
        )
        assert scheduled.resource_id == world.users["csm.one"]


def test_a_case_is_assigned_only_to_someone_who_sees_the_customer(world):
    with (
        pytest.raises(CommandRefused, match="cannot see Own Co"),
        session_scope(world.engine) as session,
    ):
        case_commands.record_case_event(
            session=session,
            actor=world.actor("csm.one"),
            case_id=world.case,
            action="assign",
            assignee_id=world.users["csm.two"],
        )
    with Session(world.engine) as session:
        assert session.get(Case, world.case).assignee_id is None


# --- the system actor of shell jobs -------------------------------------------------------


def test_the_system_actor_is_an_admin_without_a_user_row_and_sees_every_customer(world):
    system = Actor.system("metric_loader")
    assert (system.username, system.user_id, system.is_system) == ("metric_loader", None, True)
    with session_scope(world.engine) as session:
        assert authorise(session, system, roles=[Role.ADMIN], customer_id=world.own).id == world.own
        with pytest.raises(CommandRefused, match=ROLE_REFUSAL):
            authorise(session, system, roles=[Role.SURVEY_STAFF])


def test_the_system_actor_cannot_be_made_inside_a_streamlit_run(monkeypatch):
    from streamlit.runtime import scriptrunner

    monkeypatch.setattr(scriptrunner, "get_script_run_ctx", lambda suppress_warning=False: object())
    with pytest.raises(RuntimeError, match="shell jobs"):
        Actor.system("page")


def test_no_page_or_ui_module_acts_as_the_system():
    sources = [*ROOT.joinpath("pages").glob("*.py"), *ROOT.joinpath("ui").glob("*.py")]
    sources.append(ROOT / "app.py")
    offending = [
        path.name
        for path in sources
        if path.exists() and ("Actor.system" in path.read_text() or "is_system" in path.read_text())
    ]
    assert offending == []
