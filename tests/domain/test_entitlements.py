import calendar
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.entitlements import (
    CAP_KINDS,
    ELIGIBILITY_KINDS,
    ENTITLEMENT_LABELS,
    PER_YEAR_KINDS,
    Balance,
    CapExceeded,
    Entitlement,
    EntitlementExceeded,
    IllegalTransition,
    LedgerEffect,
    LedgerEntry,
    RequestState,
    allowance,
    allowance_on,
    as_days,
    balance,
    check_can_debit,
    check_enrolment,
    earliest_target_completion,
    is_overdue,
    models_to_drop_on_downgrade,
    renewal_summary,
    subscription_year,
    subscription_year_ends,
    transition,
    validate_target,
)
from domain.tiers import DEFAULT_POLICIES, Tier

POLICIES = {policy.tier: policy for policy in DEFAULT_POLICIES}
PRO = POLICIES[Tier.PROFESSIONAL]
ENT = POLICIES[Tier.ENTERPRISE]
OPT = Entitlement.MODEL_OPTIMISATION


def entry(at: datetime, delta: int, kind: str = OPT) -> LedgerEntry:
    return LedgerEntry(at=at, kind=kind, delta=delta, reason="test", actor="csm@example.com")


# --- subscription_year ---


@pytest.mark.parametrize(
    ("start", "on", "expected"),
    [
        pytest.param(
            date(2025, 3, 1), date(2025, 3, 1), (date(2025, 3, 1), date(2026, 3, 1)), id="start==on"
        ),
        pytest.param(
            date(2025, 3, 1),
            date(2026, 2, 28),
            (date(2025, 3, 1), date(2026, 3, 1)),
            id="day-before",
        ),
        pytest.param(
            date(2025, 3, 1),
            date(2026, 3, 1),
            (date(2026, 3, 1), date(2027, 3, 1)),
            id="renewal-day",
        ),
        pytest.param(
            date(2025, 3, 1),
            date(2030, 12, 31),
            (date(2030, 3, 1), date(2031, 3, 1)),
            id="years-on",
        ),
        pytest.param(
            date(2024, 1, 1), date(2024, 12, 31), (date(2024, 1, 1), date(2025, 1, 1)), id="1-jan"
        ),
        pytest.param(
            date(2024, 12, 31),
            date(2025, 1, 1),
            (date(2024, 12, 31), date(2025, 12, 31)),
            id="across-new-year",
        ),
    ],
)
def test_subscription_year_runs_from_the_start_anniversary(start, on, expected):
    assert subscription_year(start, on) == expected


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        pytest.param(
            date(2025, 2, 27), (date(2024, 2, 29), date(2025, 2, 28)), id="day-before-common"
        ),
        pytest.param(
            date(2025, 2, 28), (date(2025, 2, 28), date(2026, 2, 28)), id="renews-28-feb-common"
        ),
        pytest.param(
            date(2028, 2, 28), (date(2027, 2, 28), date(2028, 2, 29)), id="day-before-leap"
        ),
        pytest.param(
            date(2028, 2, 29), (date(2028, 2, 29), date(2029, 2, 28)), id="renews-29-feb-leap"
        ),
        pytest.param(date(2024, 2, 29), (date(2024, 2, 29), date(2025, 2, 28)), id="start==on"),
    ],
)
def test_a_29_february_start_renews_on_28_february_in_common_years(on, expected):
    assert subscription_year(date(2024, 2, 29), on) == expected


def test_a_day_before_the_start_has_no_subscription_year():
    with pytest.raises(ValueError, match="before the HyperCare start"):
        subscription_year(date(2025, 3, 1), date(2025, 2, 28))


def _is_anniversary(day: date, start: date) -> bool:
    if (start.month, start.day) == (2, 29) and not calendar.isleap(day.year):
        return (day.month, day.day) == (2, 28)
    return (day.month, day.day) == (start.month, start.day)


starts = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))


@given(start=starts, offset=st.integers(min_value=0, max_value=50 * 366))
def test_the_subscription_year_contains_the_day_and_starts_on_an_anniversary(start, offset):
    on = start + timedelta(days=offset)
    first_day, renews_on = subscription_year(start, on)
    assert first_day <= on < renews_on
    assert (renews_on - first_day).days in (365, 366)
    assert _is_anniversary(first_day, start)
    assert _is_anniversary(renews_on, start)
    assert first_day >= start


@given(start=starts, offset=st.integers(min_value=0, max_value=50 * 366))
def test_consecutive_subscription_years_meet_without_gap(start, offset):
    first_day, renews_on = subscription_year(start, start + timedelta(days=offset))
    assert subscription_year(start, renews_on)[0] == renews_on
    assert subscription_year(start, renews_on - timedelta(days=1)) == (first_day, renews_on)


# --- allowances ---


FIELD_BY_KIND = {
    Entitlement.MODEL_OPTIMISATION: "model_optimisations_per_year",
    Entitlement.MONITORED_MODELS: "monitored_models_cap",
    Entitlement.WEEKLY_REPORT_MODELS: "weekly_report_models_cap",
    Entitlement.QBR_INPUT: "qbr_inputs_per_year",
    Entitlement.ADOPTION_SURVEY: "adoption_surveys_per_year",
    Entitlement.COE_BENCHMARK: "coe_benchmarks_per_year",
    Entitlement.VIP_EVENTS: "vip_events",
    Entitlement.PRODUCT_PROGRAMMES: "product_programmes",
}


@pytest.mark.parametrize("policy", DEFAULT_POLICIES, ids=lambda p: p.tier)
@pytest.mark.parametrize("kind", list(Entitlement))
def test_allowance_reads_the_policy(policy, kind):
    assert allowance(policy, kind) == int(getattr(policy, FIELD_BY_KIND[kind]))
    assert allowance(policy, kind.value) == allowance(policy, kind)


def test_eligibility_flags_become_one_or_zero():
    basic = POLICIES[Tier.BASIC]
    assert allowance(PRO, Entitlement.VIP_EVENTS) == 1
    assert allowance(basic, Entitlement.PRODUCT_PROGRAMMES) == 0


def test_every_entitlement_has_a_label():
    assert set(ENTITLEMENT_LABELS) == set(Entitlement)


def test_every_kind_is_counted_one_way():
    assert set(Entitlement) == PER_YEAR_KINDS | CAP_KINDS | ELIGIBILITY_KINDS
    assert not PER_YEAR_KINDS & CAP_KINDS
    assert not (PER_YEAR_KINDS | CAP_KINDS) & ELIGIBILITY_KINDS


def test_an_unknown_entitlement_is_refused():
    with pytest.raises(ValueError, match="'free_lunch' is not an entitlement kind"):
        allowance(PRO, "free_lunch")


# --- tier change mid-year ---

START = date(2025, 3, 1)
UPGRADE_ON = date(2025, 9, 1)
HISTORY = [(START, Tier.PROFESSIONAL), (UPGRADE_ON, Tier.ENTERPRISE)]


def test_the_old_tier_applies_until_the_day_of_the_change():
    day_before = UPGRADE_ON - timedelta(days=1)
    assert (
        allowance_on(POLICIES, HISTORY, OPT, day_before, START) == PRO.model_optimisations_per_year
    )


def test_the_new_tier_applies_in_full_from_the_day_of_the_change():
    for on in (UPGRADE_ON, date(2026, 2, 28), date(2027, 6, 1)):
        assert allowance_on(POLICIES, HISTORY, OPT, on, START) == ENT.model_optimisations_per_year


def test_tier_history_need_not_be_sorted():
    shuffled = list(reversed(HISTORY))
    assert allowance_on(POLICIES, shuffled, OPT, UPGRADE_ON, START) == allowance_on(
        POLICIES, HISTORY, OPT, UPGRADE_ON, START
    )


def test_upgrade_mid_year_keeps_what_was_used():
    year = subscription_year(START, UPGRADE_ON)
    used = [
        entry(datetime(2025, 4, 1, tzinfo=UTC), -1) for _ in range(PRO.model_optimisations_per_year)
    ]
    new_allowance = allowance_on(POLICIES, HISTORY, OPT, UPGRADE_ON, START)
    result = balance(allowance=new_allowance, entries=used, year=year)
    assert result.remaining == ENT.model_optimisations_per_year - PRO.model_optimisations_per_year


def test_downgrade_below_what_was_used_leaves_nothing_but_takes_nothing_back():
    downgrade = [(START, Tier.ENTERPRISE), (UPGRADE_ON, Tier.PROFESSIONAL)]
    delivered = ENT.model_optimisations_per_year - 1
    assert delivered > PRO.model_optimisations_per_year
    used = [entry(datetime(2025, 4, 1, tzinfo=UTC), -1) for _ in range(delivered)]
    new_allowance = allowance_on(POLICIES, downgrade, OPT, UPGRADE_ON, START)
    result = balance(
        allowance=new_allowance, entries=used, year=subscription_year(START, UPGRADE_ON)
    )
    assert result.used == delivered
    assert result.remaining == 0
    with pytest.raises(EntitlementExceeded):
        check_can_debit(result, "model optimisations")


def test_allowance_on_needs_a_recorded_tier_and_a_policy():
    with pytest.raises(ValueError, match="No tier is recorded"):
        allowance_on(POLICIES, [(UPGRADE_ON, Tier.PROFESSIONAL)], OPT, START, START)
    with pytest.raises(ValueError, match="no policy for the tier 'platinum'"):
        allowance_on(POLICIES, [(START, "platinum")], OPT, START, START)
    with pytest.raises(ValueError, match="before the HyperCare start"):
        allowance_on(POLICIES, HISTORY, OPT, START - timedelta(days=1), START)


# --- ledger and balance ---

YEAR = (date(2026, 3, 1), date(2027, 3, 1))


def test_balance_counts_debits_and_credits_inside_the_year_only():
    entries = [
        entry(datetime(2026, 2, 28, 23, 59, tzinfo=UTC), -1),  # previous year
        entry(datetime(2026, 3, 1, 0, 0, tzinfo=UTC), -1),
        entry(datetime(2026, 6, 1, tzinfo=UTC), -1),
        entry(datetime(2026, 7, 1, tzinfo=UTC), +1),
        entry(datetime(2027, 3, 1, 0, 0, tzinfo=UTC), -1),  # next year
        entry(datetime(2026, 6, 1, tzinfo=UTC), -1, kind=Entitlement.QBR_INPUT),
    ]
    result = balance(
        allowance=ENT.model_optimisations_per_year, entries=entries, year=YEAR, kind=OPT
    )
    assert result == Balance(
        allowance=ENT.model_optimisations_per_year,
        used=2,
        credited=1,
        remaining=ENT.model_optimisations_per_year - 1,
        year_start=YEAR[0],
        renews_on=YEAR[1],
    )


def test_balance_reads_year_bounds_in_the_given_time_zone():
    # 23:30 UTC on the last day is already the renewal day in Sydney (UTC+11 in summer).
    late = entry(datetime(2027, 2, 28, 23, 30, tzinfo=UTC), -1)
    sydney = timezone(timedelta(hours=11))
    allowed = PRO.model_optimisations_per_year
    assert balance(allowance=allowed, entries=[late], year=YEAR).used == 1
    assert balance(allowance=allowed, entries=[late], year=YEAR, tz=sydney).used == 0


def refund(at: datetime, request_id: int, delta: int) -> LedgerEntry:
    return LedgerEntry(
        at=at, kind=OPT, delta=delta, reason="test", actor="csm@example.com", request_id=request_id
    )


def test_cancelling_last_years_request_gives_nothing_back_this_year():
    debit = refund(datetime(2026, 2, 20, tzinfo=UTC), request_id=7, delta=-1)
    credit = refund(datetime(2026, 3, 2, tzinfo=UTC), request_id=7, delta=+1)
    allowed = PRO.model_optimisations_per_year
    this_year = balance(allowance=allowed, entries=[debit, credit], year=YEAR)
    assert (this_year.used, this_year.credited, this_year.remaining) == (0, 0, allowed)
    last_year = balance(
        allowance=allowed, entries=[credit, debit], year=(date(2025, 3, 1), YEAR[0])
    )
    assert (last_year.used, last_year.credited, last_year.remaining) == (1, 1, allowed)


def test_cancelling_this_years_request_gives_its_debit_back():
    entries = [
        refund(datetime(2026, 4, 1, tzinfo=UTC), request_id=3, delta=-1),
        refund(datetime(2026, 4, 9, tzinfo=UTC), request_id=3, delta=+1),
        refund(datetime(2026, 5, 1, tzinfo=UTC), request_id=4, delta=-1),
    ]
    allowed = PRO.model_optimisations_per_year
    result = balance(allowance=allowed, entries=entries, year=YEAR)
    assert (result.used, result.credited, result.remaining) == (2, 1, allowed - 1)
    assert (result.refunded, result.net_used, result.extra) == (1, 1, 0)


def test_a_request_credit_without_its_debit_counts_in_its_own_year():
    orphan = refund(datetime(2026, 6, 1, tzinfo=UTC), request_id=9, delta=+1)
    spent = [entry(datetime(2026, 4, 1, tzinfo=UTC), -1)]
    allowed = PRO.model_optimisations_per_year
    assert balance(allowance=allowed, entries=[*spent, orphan], year=YEAR).remaining == allowed


def test_an_extra_granted_before_any_use_lifts_remaining_above_the_allowance():
    allowed = PRO.model_optimisations_per_year
    extra = entry(datetime(2026, 3, 2, tzinfo=UTC), +1)
    result = balance(allowance=allowed, entries=[extra], year=YEAR)
    assert result.remaining == allowed + 1
    assert (result.extra, result.refunded, result.net_used) == (1, 0, 0)
    spent = [entry(datetime(2026, 4, 1, tzinfo=UTC), -1) for _ in range(allowed + 1)]
    result = balance(allowance=allowed, entries=[extra, *spent], year=YEAR)
    assert result.remaining == 0
    with pytest.raises(EntitlementExceeded):
        check_can_debit(result, "model optimisations")


def test_an_extra_granted_last_year_does_not_carry_over():
    allowed = PRO.model_optimisations_per_year
    extra = entry(datetime(2026, 2, 28, 12, tzinfo=UTC), +1)
    assert balance(allowance=allowed, entries=[extra], year=YEAR).remaining == allowed


@given(
    debits=st.integers(min_value=0, max_value=8),
    extras=st.integers(min_value=0, max_value=4),
    allowed=st.integers(min_value=0, max_value=6),
)
def test_remaining_is_allowance_minus_debits_plus_credits_never_negative(debits, extras, allowed):
    at = datetime(2026, 6, 1, tzinfo=UTC)
    entries = [entry(at, -1) for _ in range(debits)] + [entry(at, +1) for _ in range(extras)]
    result = balance(allowance=allowed, entries=entries, year=YEAR)
    assert result.remaining == max(allowed - debits + extras, 0)


def test_ledger_entries_are_immutable_and_validated():
    item = entry(datetime(2026, 6, 1, tzinfo=UTC), -1)
    with pytest.raises(AttributeError):
        item.delta = 1
    with pytest.raises(ValueError, match="-1 or \\+1"):
        entry(datetime(2026, 6, 1, tzinfo=UTC), -2)
    with pytest.raises(ValueError, match="time-zone-aware"):
        entry(datetime(2026, 6, 1), -1)


def test_refusal_says_the_balance_and_when_it_renews():
    allowed = PRO.model_optimisations_per_year
    spent = [entry(datetime(2026, 4, 1, tzinfo=UTC), -1) for _ in range(allowed)]
    result = balance(allowance=allowed, entries=spent, year=YEAR)
    with pytest.raises(EntitlementExceeded) as refused:
        check_can_debit(result, "model optimisations")
    assert str(refused.value) == (
        f"No model optimisations left: 0 of {allowed} remaining this subscription year; "
        "it renews on 2027-03-01."
    )


def test_a_debit_is_allowed_while_something_remains():
    result = balance(allowance=ENT.model_optimisations_per_year, entries=[], year=YEAR)
    check_can_debit(result, "model optimisations")


def test_renewal_summary():
    allowed = ENT.model_optimisations_per_year
    result = balance(
        allowance=allowed, entries=[entry(datetime(2026, 4, 1, tzinfo=UTC), -1)], year=YEAR
    )
    assert renewal_summary(result, date(2027, 1, 30)) == (
        f"{allowed - 1} of {allowed} optimisations unused, renews in 30 days"
    )
    assert renewal_summary(result, date(2027, 2, 28)).endswith("renews tomorrow")
    with pytest.raises(ValueError, match="outside this balance's subscription year"):
        renewal_summary(result, date(2027, 3, 1))


# --- optimisation request life cycle ---


@pytest.mark.parametrize(
    ("source", "target", "effect"),
    [
        ("requested", "accepted", LedgerEffect.DEBIT),
        ("accepted", "in_progress", LedgerEffect.NONE),
        ("in_progress", "delivered", LedgerEffect.NONE),
        ("requested", "cancelled", LedgerEffect.NONE),
        ("accepted", "cancelled", LedgerEffect.CREDIT),
        ("in_progress", "cancelled", LedgerEffect.CREDIT),
    ],
)
def test_legal_transitions_and_their_ledger_effect(source, target, effect):
    assert transition(source, target) == effect


def test_ledger_effects_are_the_deltas():
    assert (LedgerEffect.DEBIT, LedgerEffect.NONE, LedgerEffect.CREDIT) == (-1, 0, 1)


@pytest.mark.parametrize(
    ("source", "target", "reason"),
    [
        ("delivered", "cancelled", "A delivered request cannot be cancelled."),
        ("cancelled", "accepted", "A cancelled request is final and cannot become accepted."),
        ("delivered", "in_progress", "A delivered request is final and cannot become in progress."),
        ("requested", "in_progress", "A request must be accepted before work on it starts."),
        ("requested", "delivered", "A request must be in progress before it can be delivered."),
        ("accepted", "delivered", "A request must be in progress before it can be delivered."),
        ("in_progress", "accepted", "A request that is in progress cannot go back to accepted."),
        ("accepted", "requested", "A request that is accepted cannot go back to requested."),
        ("accepted", "accepted", "The request is already accepted."),
        ("cancelled", "cancelled", "The request is already cancelled."),
        ("requested", "archived", "'archived' is not a request state."),
    ],
)
def test_illegal_transitions_say_why(source, target, reason):
    with pytest.raises(IllegalTransition) as refused:
        transition(source, target)
    assert str(refused.value) == reason
    assert isinstance(refused.value, ValueError)


def test_every_pair_of_states_is_either_legal_or_explained():
    for source in RequestState:
        for target in RequestState:
            try:
                transition(source, target)
            except IllegalTransition as refused:
                assert str(refused).endswith(".")


@pytest.mark.parametrize(
    ("state", "target", "expected"),
    [
        ("requested", date(2026, 5, 31), True),
        ("in_progress", date(2026, 5, 31), True),
        ("accepted", date(2026, 6, 1), False),
        ("delivered", date(2026, 5, 1), False),
        ("cancelled", date(2026, 5, 1), False),
    ],
)
def test_only_open_requests_past_their_target_are_overdue(state, target, expected):
    assert is_overdue(state, target, date(2026, 6, 1)) is expected


def test_target_completion_is_at_least_four_weeks_after_the_request():
    requested = date(2026, 3, 1)
    assert earliest_target_completion(requested) == date(2026, 3, 29)
    validate_target(requested, date(2026, 3, 29))
    validate_target(requested, date(2026, 6, 1))
    with pytest.raises(ValueError, match="the earliest allowed is 2026-03-29"):
        validate_target(requested, date(2026, 3, 28))


# --- model caps ---


def test_enrolment_within_the_cap_is_allowed():
    cap = PRO.monitored_models_cap
    check_enrolment(cap, [f"Model {n}" for n in range(cap - 1)], "Sales Plan", True)


def test_enrolment_past_the_cap_lists_the_models_to_choose_from():
    cap = PRO.monitored_models_cap
    enrolled = [f"Model {n}" for n in range(cap)]
    with pytest.raises(CapExceeded) as refused:
        check_enrolment(cap, enrolled, "Sales Plan", True)
    message = str(refused.value)
    assert f"the cap is {cap} models and {cap} are already enrolled" in message
    assert all(name in message for name in enrolled)
    assert isinstance(refused.value, EntitlementExceeded)


def test_the_refusal_names_where_the_model_was_to_be_enrolled():
    cap = PRO.weekly_report_models_cap
    enrolled = [f"Model {n}" for n in range(cap)]
    with pytest.raises(CapExceeded, match="^Cannot enrol 'Sales Plan' in the weekly report: the"):
        check_enrolment(cap, enrolled, "Sales Plan", True, place="the weekly report")


def test_a_tier_without_monitoring_refuses_the_first_model():
    basic_cap = POLICIES[Tier.BASIC].monitored_models_cap
    with pytest.raises(CapExceeded, match=f"the cap is {basic_cap} models and 0 are"):
        check_enrolment(basic_cap, [], "Sales Plan", True)


def test_re_enrolling_a_model_at_the_cap_adds_nothing():
    cap = PRO.monitored_models_cap
    enrolled = [f"Model {n}" for n in range(cap)]
    check_enrolment(cap, enrolled, "Model 0", True)


def test_only_production_models_can_be_enrolled():
    with pytest.raises(ValueError, match="^Only production models can be enrolled"):
        check_enrolment(ENT.monitored_models_cap, [], "Sandbox", False)


def test_models_to_drop_on_downgrade():
    enrolled = [f"Model {n}" for n in range(ENT.monitored_models_cap)]
    expected = ENT.monitored_models_cap - PRO.monitored_models_cap
    assert models_to_drop_on_downgrade(PRO.monitored_models_cap, enrolled) == expected
    assert models_to_drop_on_downgrade(ENT.monitored_models_cap, enrolled) == 0
    assert models_to_drop_on_downgrade(1, ["A", "A"]) == 0
    with pytest.raises(ValueError, match="cannot be negative"):
        models_to_drop_on_downgrade(-1, enrolled)


START_AND_DAY = st.tuples(
    st.dates(min_value=date(1996, 1, 1), max_value=date(2104, 12, 31)),
    st.integers(min_value=0, max_value=3 * 366),
)


@given(st.lists(START_AND_DAY, max_size=40))
def test_many_subscription_year_ends_are_each_ones_own(pairs):
    """Around 29 February in common and leap years, 2100 (not a leap year) included."""
    starts = [start for start, _ in pairs]
    ons = [start + timedelta(days=offset) for start, offset in pairs]
    assert subscription_year_ends(starts, ons) == [
        subscription_year(start, on)[1] for start, on in zip(starts, ons, strict=True)
    ]


def test_subscription_year_ends_of_leap_day_starts_and_a_day_before_the_start():
    starts = [date(2020, 2, 29)] * 4 + [date(2096, 2, 29)] * 2
    ons = [date(2021, 2, 27), date(2021, 2, 28), date(2024, 2, 28), date(2024, 2, 29),
           date(2100, 2, 27), date(2100, 2, 28)]  # fmt: skip
    assert subscription_year_ends(starts, ons) == [
        date(2021, 2, 28), date(2022, 2, 28), date(2024, 2, 29), date(2025, 2, 28),
        date(2100, 2, 28), date(2101, 2, 28),  # 2100 is a common year
    ]  # fmt: skip
    with pytest.raises(ValueError, match="2020-02-28 is before the HyperCare start on 2020-02-29"):
        subscription_year_ends(
            [date(2020, 3, 1), date(2020, 2, 29)], [date(2021, 1, 1), date(2020, 2, 28)]
        )


@given(st.lists(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)), max_size=40))
def test_as_days_reads_dates_iso_text_and_days_alike(days):
    """Dates (PostgreSQL), ISO text (SQLite) and days already give numpy's own days."""
    expected = np.array([day.isoformat() for day in days], dtype="datetime64[D]")
    assert as_days(days).tolist() == expected.tolist() == days
    assert as_days([day.isoformat() for day in days]).tolist() == days
    assert as_days(expected).tolist() == days
    assert as_days(iter(days)).dtype == np.dtype("datetime64[D]")


def test_as_days_of_a_datetime_is_its_own_calendar_day():
    late = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert as_days([late, date(2024, 2, 29)]).tolist() == [date(2026, 12, 31), date(2024, 2, 29)]
