"""Queue reads: order, scope, the per-tier SLA summary, changes and closed-case search."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlmodel import select

from data_access import queue as queue_reads
from data_access.actor import Actor
from data_access.case_commands import open_case, record_case_event
from data_access.cases import open_case_clocks
from data_access.models import Case, CaseEvent, Customer, Region, User
from data_access.policies import tier_labels, tier_policies, update_policy
from data_access.scope import Scope
from domain import queue_view
from domain.lifecycle import OPEN_STATUSES
from tests.conftest import SEED_TODAY
from tests.data_access.actors import admin

NOW = datetime.combine(SEED_TODAY, time(12, 0), tzinfo=UTC)


def user_id(session, username: str) -> int:
    return session.exec(select(User.id).where(User.username == username)).one()


def manager(session) -> Actor:
    return Actor(id=user_id(session, "manager"), username="manager", roles=("manager",))


def customer_of_tier(session, tier: str) -> Customer:
    return session.exec(select(Customer).where(Customer.tier == tier).order_by(Customer.id)).first()


def manager_scope(session) -> Scope:
    return Scope(user_id=user_id(session, "manager"), all_customers=True)


def add_case(session, customer: Customer, *, minutes_ago: float, severity: int = 3, **extra):
    case = open_case(
        session=session,
        actor=manager(session),
        customer_id=customer.id,
        subject=f"Queue test {minutes_ago}",
        severity=severity,
        channel="portal",
        now=NOW - timedelta(minutes=minutes_ago),
        **extra,
    )
    session.flush()
    return case.id


def reply(session, case_id: int, at: datetime) -> None:
    record_case_event(
        session=session,
        case_id=case_id,
        actor=manager(session),
        action="public_reply",
        note="Looking into it.",
        now=at,
    )


def deadline(queue: pd.DataFrame) -> pd.Series:
    """The queue's deadline rule, written out: running clocks' earliest due time."""
    first_response = queue["fr_due"].where(queue["fr_at"].isna())
    resolution = queue["res_due"].where(queue["res_state"].isin(["running", "breached"]))
    return pd.concat([first_response, resolution], axis=1).min(axis=1)


@pytest.fixture
def mixed_queue(seeded, session):
    """The seed's open cases plus Basic, severity 1 and outage cases of known ages."""
    basic = customer_of_tier(session, "basic")
    enterprise = customer_of_tier(session, "enterprise")
    added = {
        "basic_old": add_case(session, basic, minutes_ago=300),
        "basic_new": add_case(session, basic, minutes_ago=30),
        "basic_sev1": add_case(session, basic, minutes_ago=5, severity=1),
        "enterprise_outage": add_case(session, enterprise, minutes_ago=50, is_outage=True),
        "enterprise_fresh": add_case(session, enterprise, minutes_ago=1),
    }
    session.commit()
    return added


def test_queue_orders_urgent_then_priority_by_deadline_then_basic_first_come(mixed_queue, session):
    queue = queue_reads.queue_frame(session=session, scope=manager_scope(session), now=NOW)
    assert list(queue["queue_position"]) == list(range(1, len(queue) + 1))
    priority = {tier for tier, p in tier_policies(session=session).items() if p.priority_queueing}
    urgent = queue["severity"].eq(1) | queue["is_outage"]
    group = np.where(urgent, 1, np.where(queue["tier"].isin(priority), 2, 3))
    assert (np.diff(group) >= 0).all(), "urgent, then priority tiers, then the rest"
    assert set(group) == {1, 2, 3}

    urgent_rows = queue[group == 1]
    assert urgent_rows["opened_at"].is_monotonic_increasing
    assert urgent_rows["queue_reason"].str.match(r"^(Severity 1|Outage) – open").all()
    # A Basic severity 1 case goes ahead of every HyperCare case.
    assert mixed_queue["basic_sev1"] in set(urgent_rows["case_id"])

    priority_rows = queue[group == 2]
    due = deadline(priority_rows)
    with_deadline = due.notna().to_numpy()
    assert not (np.diff(with_deadline.astype(int)) > 0).any(), "no-deadline rows sort last"
    assert due[with_deadline].is_monotonic_increasing
    assert priority_rows[~with_deadline]["opened_at"].is_monotonic_increasing

    basic_rows = queue[group == 3]
    assert list(basic_rows["case_id"]) == [mixed_queue["basic_old"], mixed_queue["basic_new"]]
    assert basic_rows["queue_reason"].str.startswith("Basic – queued").all()


def test_queue_rows_carry_names_zones_and_the_shown_clock(mixed_queue, session):
    queue = queue_reads.queue_frame(session=session, scope=manager_scope(session), now=NOW)
    labels = tier_labels(session=session)
    assert list(queue["tier_label"]) == [labels[tier] for tier in queue["tier"]]
    zones = dict(session.exec(select(Region.code, Region.timezone)).all())
    assert list(queue["region_timezone"]) == [zones[code] for code in queue["region"]]
    assigned = queue[queue["assignee_id"].notna()]
    names = dict(session.exec(select(User.id, User.name)).all())
    assert list(assigned["assignee"]) == [names[int(i)] for i in assigned["assignee_id"]]
    fresh = queue.set_index("case_id").loc[mixed_queue["enterprise_fresh"]]
    assert fresh["clock"] == "first_response" and fresh["due"] == fresh["fr_due"]
    sev1 = queue.set_index("case_id").loc[mixed_queue["basic_sev1"]]
    assert sev1["clock"] == "respond_now"
    replied = queue[queue["fr_at"].notna()]
    assert (replied["clock"] == "resolution").all()
    assert (replied["due"] == replied["res_due"]).all()
    assert queue["consumed"].between(0, 1).all()


def test_priority_tiers_come_from_the_policy_rows(mixed_queue, session):
    update_policy(
        session=session, actor=admin(session), tier="basic", changes={"priority_queueing": True}
    )
    session.commit()
    queue = queue_reads.queue_frame(session=session, scope=manager_scope(session), now=NOW)
    basic = queue[queue["case_id"].isin([mixed_queue["basic_old"], mixed_queue["basic_new"]])]
    assert basic["queue_group"].eq(2).all()
    assert not basic["queue_reason"].str.contains("queued").any()


def test_a_renamed_tier_reads_renamed_in_why_here(mixed_queue, session):
    update_policy(
        session=session, actor=admin(session), tier="basic", changes={"label": "Standard"}
    )
    session.commit()
    queue = queue_reads.queue_frame(session=session, scope=manager_scope(session), now=NOW)
    basic = queue.set_index("case_id").loc[[mixed_queue["basic_old"], mixed_queue["basic_new"]]]
    assert basic["queue_reason"].str.startswith("Standard – queued").all()
    assert (basic["tier_label"] == "Standard").all()
    assert not queue["queue_reason"].str.contains("Basic").any()


def test_a_csm_sees_only_their_own_customers_cases(mixed_queue, session):
    csm = user_id(session, "csm.emea")
    own = set(
        session.exec(
            select(Customer.id).where(
                (Customer.csm_id == csm) | (Customer.hypercare_resource_id == csm)
            )
        ).all()
    )
    expected = set(
        session.exec(
            select(Case.id).where(Case.customer_id.in_(own), Case.status.in_(OPEN_STATUSES))
        ).all()
    )
    queue = queue_reads.queue_frame(
        session=session, scope=Scope(user_id=csm, all_customers=False), now=NOW
    )
    assert expected and set(queue["case_id"]) == expected
    assert set(queue["customer_id"]) <= own
    assert list(queue["queue_position"]) == list(range(1, len(queue) + 1))


def test_summary_counts_match_a_manual_count(mixed_queue, session):
    policies = tier_policies(session=session)
    enterprise = customer_of_tier(session, "enterprise")
    target = policies[enterprise.tier].first_response_minutes
    met = add_case(session, enterprise, minutes_ago=target + 120)
    reply(session, met, NOW - timedelta(minutes=121))
    late = add_case(session, enterprise, minutes_ago=target + 120)
    reply(session, late, NOW - timedelta(minutes=119))
    add_case(session, enterprise, minutes_ago=target + 5)
    session.commit()

    scope = manager_scope(session)
    summary = queue_reads.sla_summary(session=session, scope=scope, now=NOW, timezone="UTC")
    assert list(summary.columns) == [
        "tier",
        "tier_label",
        "open",
        "at_risk",
        "breached",
        "fr_measured",
        "fr_met",
        "fr_met_percent",
    ]
    assert set(summary["tier"]) == set(policies)
    clocks = open_case_clocks(session=session, scope=scope, now=NOW)
    week_start = queue_view.week_start(NOW, "UTC")
    cases = session.exec(select(Case, Customer.tier).join(Customer)).all()
    first_reply = {}
    for event in session.exec(select(CaseEvent).where(CaseEvent.kind == "public_reply")).all():
        at = event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)
        first_reply[event.case_id] = min(at, first_reply.get(event.case_id, at))
    for row in summary.itertuples():
        mine = clocks[clocks["tier"] == row.tier]
        assert row.open == len(mine)
        assert row.at_risk == int(mine["at_risk"].sum())
        assert row.breached == int(mine["breached"].sum())
        measured = met_count = 0
        for case, tier in cases:
            opened = (
                case.opened_at.replace(tzinfo=UTC) if not case.opened_at.tzinfo else case.opened_at
            )
            if tier != row.tier or case.severity == 1 or opened < week_start:
                continue
            due = opened + timedelta(minutes=policies[tier].first_response_minutes)
            solved = case.solved_at and (
                case.solved_at if case.solved_at.tzinfo else case.solved_at.replace(tzinfo=UTC)
            )
            stop = first_reply.get(case.id) or solved
            if stop is not None or due < NOW:
                measured += 1
                met_count += bool(stop is not None and stop <= due)
        assert (row.fr_measured, row.fr_met) == (measured, met_count), row.tier
    enterprise_row = summary.set_index("tier").loc[enterprise.tier]
    assert enterprise_row["fr_measured"] >= 3 and enterprise_row["fr_met"] >= 1
    assert enterprise_row["fr_met_percent"] == pytest.approx(
        100 * enterprise_row["fr_met"] / enterprise_row["fr_measured"]
    )


def test_summary_reuses_a_queue_already_read(mixed_queue, session):
    scope = manager_scope(session)
    queue = queue_reads.queue_frame(session=session, scope=scope, now=NOW)
    assert queue_reads.sla_summary(session=session, scope=scope, now=NOW, queue=queue).equals(
        queue_reads.sla_summary(session=session, scope=scope, now=NOW)
    )


def test_changed_since_finds_new_and_changed_cases_in_scope(seeded, session):
    scope = manager_scope(session)
    enterprise = customer_of_tier(session, "enterprise")
    since = datetime.now(UTC) - timedelta(seconds=1)
    before = queue_reads.cases_changed_since(session=session, scope=scope, since=since)
    new_id = add_case(session, enterprise, minutes_ago=0, severity=1)
    session.commit()
    # open_case stamps updated_at with its `now`; a case opened now is read back.
    recent = datetime.combine(SEED_TODAY, time(0), tzinfo=UTC)
    changed = queue_reads.cases_changed_since(session=session, scope=scope, since=recent)
    assert new_id in set(changed["case_id"]) and new_id not in set(before["case_id"])
    row = changed.set_index("case_id").loc[new_id]
    assert (row["status"], row["severity"], row["customer"]) == ("new", 1, enterprise.name)
    assert row["updated_at"].tzinfo is not None
    assert changed["updated_at"].is_monotonic_increasing
    later = queue_reads.cases_changed_since(
        session=session, scope=scope, since=row["updated_at"] + timedelta(seconds=1)
    )
    assert new_id not in set(later["case_id"])
    reply(session, new_id, NOW + timedelta(minutes=1))
    session.commit()
    again = queue_reads.cases_changed_since(
        session=session, scope=scope, since=row["updated_at"] + timedelta(seconds=1)
    )
    assert list(again.loc[again["case_id"] == new_id, "status"]) == ["open"]
    outsider = session.exec(select(User).where(User.username == "csm.emea")).one()
    if enterprise.csm_id != outsider.id and enterprise.hypercare_resource_id != outsider.id:
        theirs = queue_reads.cases_changed_since(
            session=session, scope=Scope(user_id=outsider.id, all_customers=False), since=recent
        )
        assert new_id not in set(theirs["case_id"])


def test_search_finds_solved_and_closed_cases_only(seeded, session):
    scope = manager_scope(session)
    done = session.exec(
        select(Case).where(Case.status.in_(["solved", "closed"])).order_by(Case.id)
    ).first()
    by_number = queue_reads.search_closed_cases(session=session, scope=scope, text=f"#{done.id}")
    assert done.id in set(by_number["case_id"])
    word = done.subject.split()[0]
    by_word = queue_reads.search_closed_cases(session=session, scope=scope, text=word.upper())
    assert done.id in set(by_word["case_id"])
    assert set(by_word["status"]) <= {"solved", "closed"}
    assert queue_reads.search_closed_cases(session=session, scope=scope, text="  ").empty


def test_assignees_are_active_csm_role_users(seeded, session):
    people = queue_reads.assignees(session=session)
    usernames = set(people["username"])
    assert {"csm.emea", "resource.na"} <= usernames
    assert not usernames & {"manager", "admin", "surveys"}
    leaver = session.exec(select(User).where(User.username == "csm.na2")).one()
    leaver.is_active = False
    session.add(leaver)
    session.commit()
    assert "csm.na2" not in set(queue_reads.assignees(session=session)["username"])


def test_case_clocks_of_a_closed_case_and_out_of_scope(seeded, session):
    closed = session.exec(select(Case).where(Case.status == "closed").order_by(Case.id)).first()
    scope = manager_scope(session)
    clocks = queue_reads.case_clocks(session=session, scope=scope, case_id=closed.id, now=NOW)
    assert clocks["res_state"] in {"met", "breached", "excluded"}
    assert clocks["fr_state"] in {"met", "breached"}
    outsider = session.exec(select(User).where(User.username == "csm.emea")).one()
    other = session.exec(
        select(Case.id)
        .join(Customer)
        .where(Customer.csm_id != outsider.id)
        .where(
            (Customer.hypercare_resource_id != outsider.id)
            | Customer.hypercare_resource_id.is_(None)
        )
    ).first()
    csm_scope = Scope(user_id=outsider.id, all_customers=False)
    assert queue_reads.case_clocks(session=session, scope=csm_scope, case_id=other, now=NOW) is None
