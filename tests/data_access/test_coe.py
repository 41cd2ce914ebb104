"""CoE benchmark commands and reads on SQLite and PostgreSQL: who may record, validation, one
debit per quarter, the CSV upload refused as a whole, and the comparison with peers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.coe import (
    _candidates,
    coe_comparison,
    coe_history,
    coe_section,
    included_tiers,
)
from data_access.coe_commands import (
    CSV_REQUIRED,
    CoeFileRefused,
    csv_template,
    load_coe_csv,
    record_coe_snapshot,
)
from data_access.models import AuditLog, CoeSnapshot, Customer, EntitlementEntry, Region, User
from data_access.policies import seed_default_policies, tier_labels
from domain.coe_peers import choose_peers
from domain.csv_safe import csv_bytes
from domain.quarters import Quarter
from tests.data_access.query_plans import full_scans, recorded_statements

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
Q3, Q4 = Quarter(2026, 3), Quarter(2026, 4)
VALUES = dict(
    certified_builders=3,
    certified_architects=1,
    master_planners=1,
    production_models=9,
    workspaces=2,
    workspace_size_gb=100.0,
    workspace_allowance_gb=200.0,
    licensed_users=1000,
    active_users=800,
    alm_in_use=True,
    data_hub=False,
    maturity_stage=2,
)
HEADER = ",".join(CSV_REQUIRED)


def add_user(session: Session, username: str, roles: str) -> Actor:
    user = User(
        username=username, name=username.title(), email=f"{username}@x.example", password_hash="x"
    )
    user.roles = roles
    session.add(user)
    session.flush()
    return Actor(id=user.id, username=username, roles=(roles,))


@pytest.fixture
def world(session):
    seed_default_policies(session=session)
    region = Region(code="EMEA", name="EMEA", timezone="Europe/London", holiday_country="GB")
    session.add(region)
    session.flush()
    people = {
        "csm": add_user(session, "csm.one", "csm"),
        "other": add_user(session, "csm.two", "csm"),
        "manager": add_user(session, "boss", "manager"),
        "surveys": add_user(session, "surveys", "survey_staff"),
    }
    session.commit()
    return {"session": session, "region_id": region.id, **people}


def make_customer(
    world,
    name: str,
    *,
    tier: str = "enterprise",
    size: str = "large",
    start: date = date(2025, 3, 1),
    csm: str = "csm",
) -> Customer:
    session = world["session"]
    customer = Customer(
        name=name,
        tier=tier,
        region_id=world["region_id"],
        csm_id=world[csm].id,
        hypercare_start=start,
        size_band=size,
    )
    session.add(customer)
    session.commit()
    return customer


def plant(session: Session, customer: Customer, quarter: Quarter, **values) -> None:
    """A snapshot written directly (peers that need no debit for the comparison)."""
    session.add(
        CoeSnapshot(
            customer_id=customer.id,
            quarter=quarter.key,
            taken_on=quarter.first_day,
            **(VALUES | values),
        )
    )
    session.commit()


def record(world, customer: Customer, who: str = "manager", quarter: Quarter = Q4, **values):
    session = world["session"]
    try:
        snapshot = record_coe_snapshot(
            session=session,
            actor=world[who],
            customer_id=customer.id,
            quarter=quarter,
            now=NOW,
            **(VALUES | values),
        )
    except CommandRefused:
        session.rollback()
        raise
    session.commit()
    return snapshot


def counts(session: Session, customer_id: int | None = None) -> tuple[int, int]:
    snapshots = select(func.count()).select_from(CoeSnapshot)
    debits = (
        select(func.count())
        .select_from(EntitlementEntry)
        .where(EntitlementEntry.kind == "coe_benchmark")
    )
    if customer_id is not None:
        snapshots = snapshots.where(CoeSnapshot.customer_id == customer_id)
        debits = debits.where(EntitlementEntry.customer_id == customer_id)
    return session.exec(snapshots).one(), session.exec(debits).one()


# --- recording --------------------------------------------------------------------------------


def test_the_first_snapshot_of_a_quarter_debits_one_benchmark_and_a_correction_none(world):
    session = world["session"]
    acme = make_customer(world, "Acme")
    record(world, acme)
    assert counts(session, acme.id) == (1, 1)
    debit = session.exec(select(EntitlementEntry)).one()
    assert (debit.delta, debit.reason, debit.actor_id) == (
        -1,
        "CoE benchmark Q4 2026",
        world["manager"].id,
    )
    assert debit.at.astimezone(UTC) == NOW
    record(world, acme, certified_builders=5)
    assert counts(session, acme.id) == (1, 1)
    stored = session.exec(select(CoeSnapshot)).one()
    assert stored.certified_builders == 5 and stored.quarter == "2026-Q4"
    actions = session.exec(
        select(AuditLog.action).where(AuditLog.entity == "coe_snapshot").order_by(AuditLog.id)
    ).all()
    assert actions == ["record_coe_snapshot", "correct_coe_snapshot"]


def test_a_csm_records_for_own_customers_only(world):
    session = world["session"]
    mine = make_customer(world, "Mine")
    theirs = make_customer(world, "Theirs", csm="other")
    record(world, mine, who="csm")
    with pytest.raises(CommandRefused, match="^Theirs is not in your portfolio.$"):
        record(world, theirs, who="csm")
    assert counts(session, theirs.id) == (0, 0)


def test_survey_staff_may_not_record(world):
    acme = make_customer(world, "Acme")
    with pytest.raises(CommandRefused, match="^Only a customer-success manager, manager or"):
        record(world, acme, who="surveys")
    assert counts(world["session"]) == (0, 0)


@pytest.mark.parametrize(
    ("values", "quarter", "sentence"),
    [
        ({"certified_builders": -1}, Q4, "Certified model builders cannot be negative (-1)."),
        (
            {"licensed_users": 10, "active_users": 11},
            Q4,
            "Active users (11) cannot exceed licensed users (10).",
        ),
        (
            {"workspace_allowance_gb": 0.0},
            Q4,
            "A workspace size needs the workspace allowance it is measured against.",
        ),
        ({"maturity_stage": 4}, Q4, "The CoE maturity stage must be 0 to 3"),
        ({}, Quarter(2027, 1), "Q1 2027 has not started yet; the latest quarter is 2026Q4."),
        ({}, Quarter(2024, 4), "Q4 2024 ends before the customer's HyperCare start on 2025-03-01"),
    ],
)
def test_a_wrong_value_is_refused_with_one_sentence_and_nothing_written(
    world, values, quarter, sentence
):
    acme = make_customer(world, "Acme")
    with pytest.raises(CommandRefused) as refused:
        record(world, acme, quarter=quarter, **values)
    assert str(refused.value).startswith(sentence)
    assert counts(world["session"]) == (0, 0)


def test_basic_has_no_coe_benchmark(world):
    basic = make_customer(world, "Corner Shop", tier="basic")
    with pytest.raises(CommandRefused, match="^The CoE benchmark is not part of Basic"):
        record(world, basic)


def test_no_benchmark_left_is_refused_with_the_balance(world):
    acme = make_customer(world, "Acme", tier="professional")
    for quarter in (Quarter(2026, 1), Quarter(2026, 2), Q3, Q4):
        record(world, acme, quarter=quarter)
    with pytest.raises(CommandRefused) as refused:
        record(world, acme, quarter=Quarter(2025, 4))
    assert str(refused.value) == (
        "No CoE benchmarks left: 0 of 4 remaining this subscription year; it renews on 2027-03-01."
    )
    assert counts(world["session"], acme.id) == (4, 4)
    # correcting a recorded quarter still works with nothing left
    record(world, acme, quarter=Q3, certified_builders=7)
    assert counts(world["session"], acme.id) == (4, 4)


# --- CSV upload -------------------------------------------------------------------------------


def row(customer_id, quarter="2026Q4", **values) -> str:
    merged = VALUES | values
    cells = [str(customer_id), quarter]
    for name in CSV_REQUIRED[2:]:
        value = merged[name]
        cells.append(("yes" if value else "no") if isinstance(value, bool) else str(value))
    return ",".join(cells)


def load(world, text: str, who: str = "manager") -> int:
    session = world["session"]
    try:
        recorded = load_coe_csv(session=session, actor=world[who], source=text, now=NOW)
    except CommandRefused:
        session.rollback()
        raise
    session.commit()
    return recorded


def test_a_good_file_records_every_row_and_debits_each_new_quarter(world):
    acme = make_customer(world, "Acme")
    beta = make_customer(world, "Beta")
    record(world, acme, quarter=Q3)
    text = "\n".join([HEADER, row(acme.id, "2026Q3"), row(acme.id), row(beta.id, "2026-Q4"), ""])
    assert load(world, text) == 3
    assert counts(world["session"], acme.id) == (2, 2)
    assert counts(world["session"], beta.id) == (1, 1)


def test_the_template_is_a_valid_header(world):
    acme = make_customer(world, "Acme")
    template = csv_template().assign(customer_id=acme.id, customer_name="Acme")
    assert load(world, csv_bytes(template)) == 1


def test_a_wrong_file_is_refused_whole_with_line_numbers(world):
    acme = make_customer(world, "Acme")
    theirs = make_customer(world, "Theirs", csm="other")
    lines = [
        HEADER,
        row(acme.id, "2026Q3"),  # 2: fine
        row(acme.id, certified_builders=-2),  # 3
        row(acme.id, "2026Q5"),  # 4
        row(9999),  # 5
        row(theirs.id),  # 6: not the CSM's
        row(acme.id, "2026Q3"),  # 7: repeats line 2
        row(acme.id, "2026Q2", licensed_users=5, active_users=6),  # 8
        row(acme.id, "2026Q1").replace(",yes,", ",perhaps,"),  # 9
        "1,2026Q4,3",  # 10: too few fields
    ]
    with pytest.raises(CoeFileRefused) as refused:
        load(world, "\n".join(lines), who="csm")
    found = [(e.line, e.reason) for e in refused.value.errors]
    assert found == [
        (3, "Certified model builders cannot be negative (-2)"),
        (4, "'2026Q5' is not a quarter; write the year and the quarter, e.g. 2026Q3"),
        (5, "There is no customer #9999"),
        (6, "Theirs is not in your portfolio"),
        (7, f"customer {acme.id} and 2026Q3 already appear on line 2"),
        (8, "Active users (6) cannot exceed licensed users (5)"),
        (9, "alm_in_use 'perhaps' is not yes or no"),
        (10, "expected 14 fields as in the header, found 3"),
    ]
    assert str(refused.value) == (
        "The file was refused and nothing was recorded: 8 problems on 8 lines, the first on line 3."
    )
    assert counts(world["session"]) == (0, 0)


def test_a_header_problem_is_line_one(world):
    with pytest.raises(CoeFileRefused) as refused:
        load(world, "customer_id,quarter,colour\n1,2026Q4,red\n")
    assert [e.line for e in refused.value.errors] == [1, 1]
    assert refused.value.errors[0].reason.startswith("missing columns certified_builders")
    assert refused.value.errors[1].reason == "unknown column colour"


def test_a_name_that_does_not_match_the_id_is_refused(world):
    acme = make_customer(world, "Acme")
    text = f"customer_name,{HEADER}\nAcne,{row(acme.id)}\n"
    with pytest.raises(CoeFileRefused) as refused:
        load(world, text)
    assert [(e.line, e.reason) for e in refused.value.errors] == [
        (2, f"customer_name 'Acne' does not match customer {acme.id} ('Acme')")
    ]


def test_running_out_of_benchmarks_midway_writes_nothing(world):
    acme = make_customer(world, "Acme", tier="professional")
    quarters = ["2025Q4", "2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    text = "\n".join([HEADER, *(row(acme.id, q) for q in quarters)])
    with pytest.raises(CoeFileRefused) as refused:
        load(world, text)
    assert [e.line for e in refused.value.errors] == [6]
    assert "renews on 2027-03-01" in refused.value.errors[0].reason
    assert counts(world["session"]) == (0, 0)


# --- comparison, history and the QBR section ---------------------------------------------------


def test_five_peers_of_the_same_band_give_percentiles(world):
    session = world["session"]
    me = make_customer(world, "Me")
    for index, builders in enumerate([1, 2, 3, 4, 8]):
        plant(session, make_customer(world, f"Peer {index}"), Q3, certified_builders=builders)
    plant(session, make_customer(world, "Small peer", size="small"), Q3, certified_builders=99)
    plant(session, make_customer(world, "Basic", tier="basic"), Q3, certified_builders=99)
    plant(session, me, Q3, certified_builders=3)
    found = coe_comparison(session=session, customer_id=me.id, quarter=Q3)
    assert found.comparison.group.band == "tier_size"
    builders = found.comparison.metric("certified_builders")
    assert builders.percentile == pytest.approx(50.0)  # (2 below + 0.5 × 1 tie) / 5
    assert builders.peer_median == 3.0
    assert found.chart_data()["metric"].iloc[0] == "Certified model builders"


def test_peers_are_read_from_the_quarters_snapshots_only(world, engine):
    """Other quarters' snapshots (history) are not read: SQLite seeks the quarter."""
    session = world["session"]
    me = make_customer(world, "Me")
    for index in range(5):
        peer = make_customer(world, f"Peer {index}")
        for quarter in (Q3, Q4):
            plant(session, peer, quarter, certified_builders=index + 1)
    plant(session, me, Q3, certified_builders=3)
    with recorded_statements(engine) as statements:
        found = coe_comparison(session=session, customer_id=me.id, quarter=Q3)
    assert len(found.comparison.group.peers) == 5
    assert found.comparison.metric("certified_builders").percentile == pytest.approx(50.0)
    assert full_scans(engine, statements, ["coe_snapshot"]) == []


def test_fewer_than_five_peers_widen_the_band_then_show_no_percentile(world):
    session = world["session"]
    me = make_customer(world, "Me")
    plant(session, me, Q3)
    for index in range(3):
        plant(session, make_customer(world, f"Same {index}"), Q3)
    plant(session, make_customer(world, "Pro", tier="professional"), Q3)
    found = coe_comparison(session=session, customer_id=me.id, quarter=Q3)
    assert not found.comparison.group.enough
    assert found.chart_data().empty
    assert set(found.table()["Percentile"]) == {"—"}
    section = coe_section(session=session, customer=me, quarter=Q3, now=NOW)
    assert section.charts == ()
    assert (
        "Only 4 other customers on a HyperCare tier have a benchmark for Q3 2026, fewer than 5: "
        "no percentile is shown."
    ) in section.notes
    plant(session, make_customer(world, "Pro 2", tier="professional", size="small"), Q3)
    widened = coe_comparison(session=session, customer_id=me.id, quarter=Q3)
    assert widened.comparison.group.band == "hypercare" and widened.comparison.group.enough
    assert widened.comparison.metric("certified_builders").percentile == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("same_size", "same_tier", "other_tiers", "band"),
    [
        (5, 2, 3, "tier_size"),
        (4, 1, 5, "tier"),
        (4, 0, 5, "hypercare"),
        (0, 5, 0, "tier"),
        (1, 2, 1, "hypercare"),  # four in all: too few anywhere
    ],
)
def test_peers_read_band_by_band_are_those_chosen_from_every_candidate(
    world, same_size, same_tier, other_tiers, band
):
    """The comparison reads the quarter's candidates of the customer's tier and size first and
    widens the read only when they are too few; its peers and sentence are exactly those
    `choose_peers` picks from every candidate of the quarter."""
    session = world["session"]
    me = make_customer(world, "Me")
    plant(session, me, Q3, certified_builders=3)
    for index in range(same_size):
        plant(session, make_customer(world, f"Same {index}"), Q3, certified_builders=index)
    for index in range(same_tier):
        peer = make_customer(world, f"Tier {index}", size="small")
        plant(session, peer, Q3, certified_builders=10 + index)
    for index in range(other_tiers):
        peer = make_customer(world, f"Pro {index}", tier="professional")
        plant(session, peer, Q3, certified_builders=20 + index)
    plant(session, make_customer(world, "Basic", tier="basic"), Q3)
    found = coe_comparison(session=session, customer_id=me.id, quarter=Q3).comparison.group
    tiers = included_tiers(session=session)
    expected = choose_peers(
        customer_id=me.id,
        tier=me.tier,
        size_band=me.size_band,
        candidates=_candidates(session, Q3, tiers),
        hypercare_tiers=tiers,
        tier_label=tier_labels(session=session)[me.tier],
        quarter=Q3,
    )
    assert found.band == expected.band == band
    assert sorted(found.peers, key=lambda c: c.customer_id) == sorted(
        expected.peers, key=lambda c: c.customer_id
    )
    assert found.sentence == expected.sentence


def test_the_section_compares_with_the_previous_quarter(world):
    session = world["session"]
    me = make_customer(world, "Me")
    plant(session, me, Q3, certified_builders=2, active_users=700)
    plant(session, me, Q4, certified_builders=5, active_users=800)
    section = coe_section(session=session, customer=me, quarter=Q4, now=NOW)
    figures = {f.label: f for f in section.figures}
    assert figures["Certified model builders"].text == "5"
    assert figures["Certified model builders"].change == "+3 vs previous quarter"
    assert figures["Active share of licences"].change == "+10 pts vs previous quarter"
    assert section.tables[0].frame.columns.tolist() == [
        "Measure",
        "Value",
        "Percentile",
        "Peer median",
    ]


def test_the_section_says_when_there_is_no_benchmark_or_no_entitlement(world):
    session = world["session"]
    me = make_customer(world, "Me")
    basic = make_customer(world, "Corner Shop", tier="basic")
    assert coe_section(session=session, customer=me, quarter=Q3, now=NOW).empty == (
        "No CoE benchmark was taken in Q3 2026."
    )
    assert coe_section(session=session, customer=basic, quarter=Q3, now=NOW).empty.startswith(
        "The CoE benchmark is not part of Basic"
    )


def test_history_lists_quarters_oldest_first_with_who_recorded(world):
    session = world["session"]
    me = make_customer(world, "Me")
    record(world, me, quarter=Q4, certified_builders=4)
    record(world, me, quarter=Q3, certified_builders=2)
    history = coe_history(session=session, customer_id=me.id)
    assert history["quarter"].tolist() == ["2026Q3", "2026Q4"]
    assert history["certified_builders"].tolist() == [2, 4]
    assert history["builders_per_model"].tolist() == pytest.approx([2 / 9, 4 / 9])
    assert set(history["recorded_by"]) == {"Boss"}
    assert str(history["updated_at"].dt.tz) == "UTC"
