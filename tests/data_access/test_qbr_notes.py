"""QBR notes and agreed actions on SQLite and PostgreSQL: permissions, the one QBR-input debit,
validations, and which actions a quarter carries forward."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlmodel import Session, select

from data_access import qbr_notes as qn
from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.db import session_scope
from data_access.entitlement_ledger import debit_entitlement
from data_access.models import AuditLog, Customer, EntitlementEntry, QbrNote, Region, User
from data_access.policies import seed_default_policies, tier_policies
from domain.entitlements import Entitlement, allowance
from domain.qbr_actions import NOTE_MAX_CHARS, OWNER_MAX_CHARS, TEXT_MAX_CHARS
from domain.quarters import Quarter
from domain.roles import parse_roles
from domain.tiers import Tier

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
START = date(2025, 11, 15)
Q2, Q3, Q4 = Quarter(2026, 2), Quarter(2026, 3), Quarter(2026, 4)
QBR = Entitlement.QBR_INPUT.value


def _user(session: Session, username: str, roles: str) -> Actor:
    user = User(
        username=username,
        name=username.title(),
        email=f"{username}@x.example",
        password_hash="x",
        roles=roles,
    )
    session.add(user)
    session.flush()
    return Actor(id=user.id, username=user.username, roles=parse_roles(roles))


def _customer(session: Session, name: str, tier: str, region_id: int, csm: Actor) -> int:
    customer = Customer(
        name=name, tier=tier, region_id=region_id, csm_id=csm.id, hypercare_start=START
    )
    session.add(customer)
    session.flush()
    return customer.id


@pytest.fixture
def world(engine):
    with Session(engine, expire_on_commit=False) as session:
        seed_default_policies(session=session)
        region = Region(code="EMEA", name="EMEA", timezone="Europe/London", holiday_country="GB")
        session.add(region)
        session.flush()
        csm = _user(session, "csm.one", "csm")
        other = _user(session, "csm.two", "csm")
        manager = _user(session, "boss", "manager")
        surveys = _user(session, "surveys", "survey_staff")
        world = {
            "engine": engine,
            "csm": csm,
            "other": other,
            "manager": manager,
            "surveys": surveys,
            "own": _customer(session, "Own Ltd", Tier.PROFESSIONAL, region.id, csm),
            "theirs": _customer(session, "Theirs plc", Tier.ENTERPRISE, region.id, other),
            "basic": _customer(session, "Basic GmbH", Tier.BASIC, region.id, csm),
        }
        world["allowance"] = allowance(tier_policies(session=session)[Tier.PROFESSIONAL], QBR)
        session.commit()
        return world


def run(world, command, **kwargs):
    """One command in its own transaction, as a page runs it (rolled back when refused)."""
    with session_scope(world["engine"]) as session:
        return command(session=session, now=NOW, **kwargs)


def qbr_debits(world, customer_id: int) -> list[EntitlementEntry]:
    with Session(world["engine"]) as session:
        return session.exec(
            select(EntitlementEntry).where(
                EntitlementEntry.customer_id == customer_id, EntitlementEntry.kind == QBR
            )
        ).all()


def note_of(world, customer_id: int, quarter: Quarter) -> QbrNote | None:
    with Session(world["engine"]) as session:
        return qn.qbr_note(session=session, customer_id=customer_id, quarter=quarter)


def section(world, customer_id: int, quarter: Quarter, now: datetime = NOW):
    with Session(world["engine"]) as session:
        customer = session.get(Customer, customer_id)
        return qn.notes_section(session=session, customer=customer, quarter=quarter, now=now)


# --- Permissions ---------------------------------------------------------------------------


def test_survey_staff_may_not_write_notes(world):
    with pytest.raises(CommandRefused, match="Only a"):
        run(
            world,
            qn.save_qbr_note,
            actor=world["surveys"],
            customer_id=world["own"],
            quarter=Q3,
            text="Hello",
        )
    assert note_of(world, world["own"], Q3) is None


def test_csm_may_not_touch_another_csms_customer(world):
    with pytest.raises(CommandRefused, match="not in your portfolio"):
        run(
            world,
            qn.add_qbr_action,
            actor=world["csm"],
            customer_id=world["theirs"],
            quarter=Q3,
            text="Do it",
            owner="Ann",
            due_on=None,
        )
    with pytest.raises(CommandRefused, match="not in your portfolio"):
        run(
            world,
            qn.record_qbr_held,
            actor=world["csm"],
            customer_id=world["theirs"],
            quarter=Q3,
            held_on=date(2026, 9, 1),
        )
    assert qbr_debits(world, world["theirs"]) == []


def test_csm_may_not_tick_another_csms_action(world):
    action = run(
        world,
        qn.add_qbr_action,
        actor=world["manager"],
        customer_id=world["theirs"],
        quarter=Q3,
        text="Do it",
        owner="Ann",
        due_on=None,
    )
    with pytest.raises(CommandRefused, match="not in your portfolio"):
        run(world, qn.set_qbr_action_done, actor=world["csm"], action_id=action.id, done=True)
    with pytest.raises(CommandRefused, match="not in your portfolio"):
        run(
            world,
            qn.edit_qbr_action,
            actor=world["csm"],
            action_id=action.id,
            text="X",
            owner="Y",
            due_on=None,
        )


def test_csm_and_manager_write_for_customers_they_see_and_each_write_is_audited(world):
    run(
        world,
        qn.save_qbr_note,
        actor=world["csm"],
        customer_id=world["own"],
        quarter=Q3,
        text="Close went well.",
    )
    run(
        world,
        qn.save_qbr_note,
        actor=world["manager"],
        customer_id=world["theirs"],
        quarter=Q3,
        text="Renewal ahead.",
    )
    assert note_of(world, world["own"], Q3).text == "Close went well."
    assert note_of(world, world["theirs"], Q3).text == "Renewal ahead."
    with Session(world["engine"]) as session:
        audited = session.exec(
            select(AuditLog.actor).where(AuditLog.action == "save_qbr_note")
        ).all()
    assert sorted(audited) == ["boss", "csm.one"]


# --- Recording a QBR as held -----------------------------------------------------------------


def test_recording_a_qbr_held_debits_one_qbr_input_once_dated_on_the_meeting_day(world):
    run(
        world,
        qn.record_qbr_held,
        actor=world["csm"],
        customer_id=world["own"],
        quarter=Q3,
        held_on=date(2026, 9, 10),
    )
    run(
        world,
        qn.record_qbr_held,
        actor=world["csm"],
        customer_id=world["own"],
        quarter=Q3,
        held_on=date(2026, 9, 12),
    )
    debits = qbr_debits(world, world["own"])
    assert [entry.delta for entry in debits] == [-1]
    assert debits[0].at.date() == date(2026, 9, 10)
    assert note_of(world, world["own"], Q3).held_on == date(2026, 9, 12)
    with pytest.raises(CommandRefused, match="already recorded"):
        run(
            world,
            qn.record_qbr_held,
            actor=world["csm"],
            customer_id=world["own"],
            quarter=Q3,
            held_on=date(2026, 9, 12),
        )
    assert len(qbr_debits(world, world["own"])) == 1


def test_recording_held_keeps_the_note_text(world):
    run(
        world,
        qn.save_qbr_note,
        actor=world["csm"],
        customer_id=world["own"],
        quarter=Q3,
        text="Agenda sent.",
    )
    run(
        world,
        qn.record_qbr_held,
        actor=world["csm"],
        customer_id=world["own"],
        quarter=Q3,
        held_on=date(2026, 8, 3),
    )
    note = note_of(world, world["own"], Q3)
    assert (note.text, note.held_on) == ("Agenda sent.", date(2026, 8, 3))


def test_basic_has_no_qbr_inputs_and_nothing_is_written(world):
    with pytest.raises(CommandRefused, match="No QBR inputs left: 0 of 0"):
        run(
            world,
            qn.record_qbr_held,
            actor=world["csm"],
            customer_id=world["basic"],
            quarter=Q3,
            held_on=date(2026, 9, 10),
        )
    assert note_of(world, world["basic"], Q3) is None
    assert qbr_debits(world, world["basic"]) == []


def test_a_qbr_held_with_no_input_left_is_refused_with_the_balance(world):
    with session_scope(world["engine"]) as session:
        for _ in range(world["allowance"]):
            debit_entitlement(
                session=session,
                customer_id=world["own"],
                kind=QBR,
                actor=world["manager"],
                reason="Earlier QBR",
                now=datetime.combine(date(2026, 1, 10), time(12), tzinfo=UTC),
            )
    with pytest.raises(CommandRefused, match="No QBR inputs left.*renews on 2026-11-15"):
        run(
            world,
            qn.record_qbr_held,
            actor=world["csm"],
            customer_id=world["own"],
            quarter=Q3,
            held_on=date(2026, 9, 10),
        )
    assert note_of(world, world["own"], Q3) is None
    # A new subscription year has began on 15 November: the Q4 meeting is counted there.
    run(
        world,
        qn.record_qbr_held,
        actor=world["csm"],
        customer_id=world["own"],
        quarter=Q4,
        held_on=date(2026, 11, 16),
    )
    assert len(qbr_debits(world, world["own"])) == world["allowance"] + 1


@pytest.mark.parametrize(
    ("quarter", "held_on", "message"),
    [
        (Q3, date(2026, 10, 1), "not in Q3 2026"),
        (Q4, date(2026, 11, 21), "day still to come"),
        (Quarter(2025, 4), date(2025, 11, 14), "before the HyperCare start"),
        (Quarter(2025, 3), date(2025, 9, 1), "before the customer's HyperCare start"),
        (Quarter(2027, 1), date(2027, 1, 5), "has not started yet"),
    ],
)
def test_held_on_must_be_in_the_quarter_within_hypercare_and_not_ahead(
    world, quarter, held_on, message
):
    with pytest.raises(CommandRefused, match=message):
        run(
            world,
            qn.record_qbr_held,
            actor=world["manager"],
            customer_id=world["own"],
            quarter=quarter,
            held_on=held_on,
        )
    assert qbr_debits(world, world["own"]) == []


# --- Validations -------------------------------------------------------------------------------


def test_note_and_action_lengths_and_required_fields(world):
    common = {"actor": world["csm"], "customer_id": world["own"], "quarter": Q3}
    with pytest.raises(CommandRefused, match="too long"):
        run(world, qn.save_qbr_note, text="x" * (NOTE_MAX_CHARS + 1), **common)
    with pytest.raises(CommandRefused, match="note is required"):
        run(world, qn.save_qbr_note, text="   ", **common)
    with pytest.raises(CommandRefused, match="action is too long"):
        run(
            world,
            qn.add_qbr_action,
            text="x" * (TEXT_MAX_CHARS + 1),
            owner="A",
            due_on=None,
            **common,
        )
    with pytest.raises(CommandRefused, match="owner is too long"):
        run(
            world,
            qn.add_qbr_action,
            text="Do",
            owner="o" * (OWNER_MAX_CHARS + 1),
            due_on=None,
            **common,
        )
    with pytest.raises(CommandRefused, match="owner is required"):
        run(world, qn.add_qbr_action, text="Do", owner=" ", due_on=None, **common)
    with pytest.raises(CommandRefused, match="before Q3 2026 began"):
        run(world, qn.add_qbr_action, text="Do", owner="A", due_on=date(2026, 6, 30), **common)


def test_an_existing_note_may_be_emptied(world):
    common = {"actor": world["csm"], "customer_id": world["own"], "quarter": Q3}
    run(world, qn.save_qbr_note, text="Draft", **common)
    run(world, qn.save_qbr_note, text="", **common)
    assert note_of(world, world["own"], Q3).text == ""


def test_ticking_done_twice_is_refused_and_reopening_clears_the_time(world):
    action = run(
        world,
        qn.add_qbr_action,
        actor=world["csm"],
        customer_id=world["own"],
        quarter=Q3,
        text="Do",
        owner="Ann",
        due_on=None,
    )
    done = run(world, qn.set_qbr_action_done, actor=world["csm"], action_id=action.id, done=True)
    assert done.done and done.done_at is not None
    with pytest.raises(CommandRefused, match="already done"):
        run(world, qn.set_qbr_action_done, actor=world["csm"], action_id=action.id, done=True)
    reopened = run(
        world, qn.set_qbr_action_done, actor=world["csm"], action_id=action.id, done=False
    )
    assert not reopened.done and reopened.done_at is None
    edited = run(
        world,
        qn.edit_qbr_action,
        actor=world["csm"],
        action_id=action.id,
        text=" Do more ",
        owner="Bo",
        due_on=date(2026, 12, 1),
    )
    assert (edited.text, edited.owner, edited.due_on) == ("Do more", "Bo", date(2026, 12, 1))


# --- The section -------------------------------------------------------------------------------


def _add(world, quarter: Quarter, text: str, done_at: datetime | None = None) -> int:
    action = run(
        world,
        qn.add_qbr_action,
        actor=world["manager"],
        customer_id=world["own"],
        quarter=quarter,
        text=text,
        owner="Ann",
        due_on=None,
    )
    if done_at is not None:
        with session_scope(world["engine"]) as session:
            qn.set_qbr_action_done(
                session=session,
                actor=world["manager"],
                action_id=action.id,
                done=True,
                now=done_at,
            )
    return action.id


def test_a_quarter_with_nothing_says_so_in_one_sentence(world):
    result = section(world, world["own"], Q3)
    assert result.empty == "No notes or agreed actions for Q3 2026."
    assert result.figures == () and result.tables == ()


def test_open_actions_from_earlier_quarters_are_carried_forward_first(world):
    london_q3_start = Q3.bounds("Europe/London")[0]
    _add(world, Q2, "Done in Q2", done_at=datetime(2026, 6, 1, tzinfo=UTC))
    _add(world, Q2, "Done in Q3", done_at=datetime(2026, 8, 1, tzinfo=UTC))
    _add(world, Q2, "Done just before Q3", done_at=london_q3_start - timedelta(seconds=1))
    _add(world, Q2, "Still open")
    _add(world, Q3, "Agreed in Q3")
    _add(world, Q4, "Agreed in Q4")
    run(
        world,
        qn.save_qbr_note,
        actor=world["csm"],
        customer_id=world["own"],
        quarter=Q3,
        text="**Not bold**, shown as typed.",
    )

    q3 = section(world, world["own"], Q3)
    table = q3.tables[0].frame
    assert list(table["Action"]) == ["Done in Q3", "Still open", "Agreed in Q3"]
    assert list(table["Agreed"]) == ["carried from Q2 2026"] * 2 + ["this quarter"]
    assert table["Status"].iloc[0].startswith("Done")
    assert "**Not bold**, shown as typed." in q3.notes
    figures = {figure.label: figure for figure in q3.figures}
    assert figures["Actions agreed"].text == "1"
    assert figures["Actions done"].text == "1"  # the carried one done in August
    assert figures["Actions open"].text == "2"
    assert figures["Actions agreed"].change == "\u22123 vs previous quarter"

    q4 = section(world, world["own"], Q4)
    assert list(q4.tables[0].frame["Action"]) == ["Still open", "Agreed in Q3", "Agreed in Q4"]
    assert list(q4.tables[0].frame["Agreed"]) == [
        "carried from Q2 2026",
        "carried from Q3 2026",
        "this quarter",
    ]


def test_a_past_quarter_shows_actions_as_they_stood_at_its_end(world):
    _add(world, Q3, "Done later", done_at=datetime(2026, 11, 1, tzinfo=UTC))
    q3 = section(world, world["own"], Q3)
    assert q3.tables[0].frame["Status"].tolist() == ["Open"]
    assert {f.label: f.text for f in q3.figures}["Actions open"] == "1"


def test_the_first_quarter_of_hypercare_has_no_change_to_show(world):
    _add(world, Quarter(2025, 4), "Kick-off actions")
    first = section(world, world["own"], Quarter(2025, 4))
    assert [figure.text for figure in first.figures] == ["1", "0", "1"]
    assert all(figure.change == "" for figure in first.figures)


def test_a_note_without_actions_says_so_instead_of_zeros(world):
    run(
        world,
        qn.save_qbr_note,
        actor=world["csm"],
        customer_id=world["own"],
        quarter=Q3,
        text="Short meeting.",
    )
    result = section(world, world["own"], Q3)
    assert result.empty is None and result.figures == () and result.tables == ()
    assert result.notes == ("Short meeting.", "No actions agreed or carried into Q3 2026.")
