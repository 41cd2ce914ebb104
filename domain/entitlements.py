"""Entitlements: subscription years, allowances, the ledger, optimisation requests and model caps.

Pure rules only. The numbers come from tier policy rows (seeded from `domain.tiers`); this module
never repeats them.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import IntEnum, StrEnum
from typing import Any

import numpy as np

TARGET_LEAD_TIME = timedelta(weeks=4)
TARGET_LEAD_TEXT = f"{TARGET_LEAD_TIME.days // 7} weeks"
"""The lead time as people say it ("4 weeks"), for refusals and the page's help text."""
OVER_CAP_WINDOW = timedelta(days=90)
"""How far back the manager's portfolio lists attempts to enrol a model past a cap."""


class EntitlementExceeded(Exception):
    """Raised when a debit would take an entitlement past its allowance."""


class CapExceeded(EntitlementExceeded):
    """Raised when enrolling one more model would go past the tier's model cap."""


class IllegalTransition(ValueError):
    """Raised when an optimisation request is moved along a path the life cycle does not allow."""


# --- Subscription year ---


def _anniversary(start: date, year: int) -> date:
    """The start's anniversary in `year`; a 29 February start is 28 February in common years."""
    if (start.month, start.day) == (2, 29) and not calendar.isleap(year):
        return date(year, 2, 28)
    return start.replace(year=year)


def subscription_year(start: date, on: date) -> tuple[date, date]:
    """The subscription year containing `on`, as [first day, first day of the next year).

    A year runs from one anniversary of the HyperCare start to the next, so on the renewal day
    itself the new year has already begun. Tricky edge: a 29 February start renews on 28 February in
    common years and on 29 February in leap years, so years are 365 or 366 days long.
    """
    if on < start:
        raise ValueError(
            f"{on.isoformat()} is before the HyperCare start on {start.isoformat()}, "
            "so it falls in no subscription year."
        )
    first_day = _anniversary(start, on.year)
    if first_day > on:
        first_day = _anniversary(start, on.year - 1)
    return first_day, _anniversary(start, first_day.year + 1)


def _date_parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of each datetime64[D]."""
    months = days.astype("datetime64[M]")
    return (
        months.astype("datetime64[Y]").astype(np.int64) + 1970,
        months.astype(np.int64) % 12 + 1,
        (days - months.astype("datetime64[D]")).astype(np.int64) + 1,
    )


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def as_days(days: Iterable[date | str] | np.ndarray) -> np.ndarray:
    """Many days at once as numpy `datetime64[D]`: dates (as PostgreSQL's driver and SQLAlchemy
    give them), ISO text (as SQLite's driver gives it) or days already. numpy makes a date
    object into a day at about 3 µs each, a third of reading a thousand campaigns; their
    ordinals take 0.1 µs.

    Tricky edge: a datetime counts as its own calendar day, with no time-zone conversion."""
    if isinstance(days, np.ndarray) and days.dtype.kind == "M":
        return days.astype("datetime64[D]").reshape(-1)
    days = list(days)
    if days and all(isinstance(day, date) for day in days):
        ordinals = np.fromiter((day.toordinal() for day in days), dtype=np.int64, count=len(days))
        return (ordinals - _EPOCH_ORDINAL).astype("datetime64[D]")
    return np.array(days, dtype="datetime64[D]").reshape(-1)


def subscription_year_ends(starts: Sequence[date], ons: Sequence[date]) -> list[date]:
    """`subscription_year(start, on)[1]` of each pair of `starts` and `ons` at once: the first
    day of the next subscription year, by the same rule (a 29 February start renews on
    28 February in common years), for a thousand campaigns without a thousand calls.

    Tricky edge: a day before its start raises the ValueError `subscription_year` raises."""
    start, on = as_days(starts), as_days(ons)
    early = np.flatnonzero(on < start)
    if len(early):
        first = int(early[0])
        subscription_year(start[first].item(), on[first].item())  # raises, naming the days
    _, start_month, start_day = _date_parts(start)
    on_year = _date_parts(on)[0]
    leap_day = (start_month == 2) & (start_day == 29)

    def anniversary(years: np.ndarray) -> np.ndarray:
        leap = (years % 4 == 0) & ((years % 100 != 0) | (years % 400 == 0))
        day = np.where(leap_day & ~leap, 28, start_day)
        month = (years - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (start_month - 1)
        return month.astype("datetime64[D]") + (day - 1)

    first_year = np.where(anniversary(on_year) > on, on_year - 1, on_year)
    return anniversary(first_year + 1).tolist()


# --- Entitlement kinds and allowances ---


class Entitlement(StrEnum):
    MODEL_OPTIMISATION = "model_optimisation"
    MONITORED_MODELS = "monitored_models"
    WEEKLY_REPORT_MODELS = "weekly_report_models"
    QBR_INPUT = "qbr_input"
    ADOPTION_SURVEY = "adoption_survey"
    COE_BENCHMARK = "coe_benchmark"
    VIP_EVENTS = "vip_events"
    PRODUCT_PROGRAMMES = "product_programmes"


ENTITLEMENT_LABELS: dict[str, str] = {
    Entitlement.MODEL_OPTIMISATION: "model optimisations",
    Entitlement.MONITORED_MODELS: "models in daily monitoring",
    Entitlement.WEEKLY_REPORT_MODELS: "models in the weekly report",
    Entitlement.QBR_INPUT: "QBR inputs",
    Entitlement.ADOPTION_SURVEY: "adoption surveys with end-user interview",
    Entitlement.COE_BENCHMARK: "CoE benchmarks",
    Entitlement.VIP_EVENTS: "VIP event offers",
    Entitlement.PRODUCT_PROGRAMMES: "preferred product-programme eligibility",
}


def sentence_case(label: str) -> str:
    """Upper-case the first letter only, keeping acronyms ("QBR inputs", "CoE benchmarks")."""
    return label[:1].upper() + label[1:]


PER_YEAR_KINDS: frozenset[Entitlement] = frozenset(
    {
        Entitlement.MODEL_OPTIMISATION,
        Entitlement.QBR_INPUT,
        Entitlement.ADOPTION_SURVEY,
        Entitlement.COE_BENCHMARK,
    }
)
"""Counted per subscription year through the ledger."""

CAP_KINDS: frozenset[Entitlement] = frozenset(
    {Entitlement.MONITORED_MODELS, Entitlement.WEEKLY_REPORT_MODELS}
)
"""Counted at a time: how many production models are enrolled now, never through the ledger."""

ELIGIBILITY_KINDS: frozenset[Entitlement] = frozenset(
    {Entitlement.VIP_EVENTS, Entitlement.PRODUCT_PROGRAMMES}
)
"""Yes/no: the tier either offers it or not."""

_POLICY_FIELDS: dict[Entitlement, str] = {
    Entitlement.MODEL_OPTIMISATION: "model_optimisations_per_year",
    Entitlement.MONITORED_MODELS: "monitored_models_cap",
    Entitlement.WEEKLY_REPORT_MODELS: "weekly_report_models_cap",
    Entitlement.QBR_INPUT: "qbr_inputs_per_year",
    Entitlement.ADOPTION_SURVEY: "adoption_surveys_per_year",
    Entitlement.COE_BENCHMARK: "coe_benchmarks_per_year",
    Entitlement.VIP_EVENTS: "vip_events",
    Entitlement.PRODUCT_PROGRAMMES: "product_programmes",
}


def _entitlement(kind: str) -> Entitlement:
    try:
        return Entitlement(kind)
    except ValueError:
        raise ValueError(f"'{kind}' is not an entitlement kind.") from None


def allowance(policy: Any, kind: str) -> int:
    """How many of `kind` the policy grants: a count per year, a cap at a time, or 1/0 if eligible.

    Tricky edge: VIP events and product programmes are yes/no in the policy; they map to 1 or 0 so
    every kind answers with a number.
    """
    return int(getattr(policy, _POLICY_FIELDS[_entitlement(kind)]))


def allowance_on(
    policies_by_tier: Mapping[str, Any],
    tier_history: Sequence[tuple[date, str]],
    kind: str,
    on: date,
    start: date,
) -> int:
    """The allowance of `kind` on `on`: the allowance of the tier in force that day.

    From the day of a tier change the new tier's full allowance applies to the rest of that
    subscription year (no pro rata), and what was already used that year still counts against it, so
    a downgrade can leave nothing available; the ledger is never rewritten to take back what was
    delivered. Tricky edge: several changes on one day; the last one listed wins.
    """
    subscription_year(start, on)  # rejects a day before the HyperCare start
    in_force = [
        tier for changed_on, tier in sorted(tier_history, key=lambda c: c[0]) if changed_on <= on
    ]
    if not in_force:
        raise ValueError(f"No tier is recorded on or before {on.isoformat()}.")
    tier = in_force[-1]
    if tier not in policies_by_tier:
        raise ValueError(f"There is no policy for the tier '{tier}'.")
    return allowance(policies_by_tier[tier], kind)


# --- Ledger and balance ---


@dataclass(frozen=True)
class LedgerEntry:
    """One append-only ledger line: -1 debits an entitlement, +1 credits it.

    A credit that carries a `request_id` gives back that request's debit (a cancelled request);
    a credit without one adds to the year (a manager's extra grant or a correction).
    """

    at: datetime
    kind: str
    delta: int
    reason: str
    actor: str
    request_id: int | None = None

    def __post_init__(self) -> None:
        if self.delta not in (-1, 1):
            raise ValueError(f"A ledger entry moves the balance by -1 or +1, not {self.delta}.")
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("A ledger entry needs a time-zone-aware timestamp.")


@dataclass(frozen=True)
class Balance:
    """An allowance against the ledger for one subscription year [year_start, renews_on)."""

    allowance: int
    used: int
    credited: int
    remaining: int
    year_start: date
    renews_on: date
    refunded: int = 0

    @property
    def net_used(self) -> int:
        """Debits not given back: what the customer has actually consumed this year."""
        return self.used - self.refunded

    @property
    def extra(self) -> int:
        """Credits that are not give-backs (a manager's extra, a correction): added to the year."""
        return self.credited - self.refunded


def balance(
    *,
    allowance: int,
    entries: Iterable[LedgerEntry],
    year: tuple[date, date],
    tz: tzinfo = UTC,
    kind: str | None = None,
) -> Balance:
    """Allowance minus debits plus credits, counting only entries inside the subscription year.

    An entry belongs to the year when its timestamp, read as a calendar date in `tz` (UTC unless
    given), lies in [year_start, renews_on); pass `kind` to ignore entries of other kinds. A credit
    that gives back a request's debit belongs to the year of that debit (its own year when the
    debit is not among `entries`), so cancelling last year's request does not add to this year;
    any other credit (a manager's extra) counts in its own year and may lift remaining above the
    allowance. Tricky edge: after a downgrade `used` can exceed the allowance, which leaves 0
    remaining (never negative, nothing is taken back).
    """
    year_start, renews_on = year
    if renews_on <= year_start:
        raise ValueError("A subscription year must end after it starts.")
    chosen = [entry for entry in entries if kind is None or entry.kind == kind]
    debited_on = {
        (entry.kind, entry.request_id): entry.at
        for entry in sorted(chosen, key=lambda e: e.at)
        if entry.delta < 0 and entry.request_id is not None
    }

    def counts_on(entry: LedgerEntry) -> datetime:
        if entry.delta > 0 and entry.request_id is not None:
            return debited_on.get((entry.kind, entry.request_id), entry.at)
        return entry.at

    used = credited = refunded = 0
    for entry in chosen:
        if not year_start <= counts_on(entry).astimezone(tz).date() < renews_on:
            continue
        if entry.delta < 0:
            used += 1
        else:
            credited += 1
            refunded += (entry.kind, entry.request_id) in debited_on
    return Balance(
        allowance=allowance,
        used=used,
        credited=credited,
        remaining=max(allowance - used + credited, 0),
        year_start=year_start,
        renews_on=renews_on,
        refunded=refunded,
    )


def check_can_debit(balance: Balance, kind_label: str) -> None:
    """Refuse a debit when nothing is left, saying the balance and when it renews.

    Tricky edge: a tier with no allowance at all (0 of 0) is refused the same way, so the user still
    learns the renewal date.
    """
    if balance.remaining < 1:
        raise EntitlementExceeded(
            f"No {kind_label} left: {balance.remaining} of {balance.allowance} remaining this "
            f"subscription year; it renews on {balance.renews_on.isoformat()}."
        )


def renewal_summary(balance: Balance, today: date, noun: str = "optimisations") -> str:
    """A one-line summary such as "3 of 4 optimisations unused, renews in 30 days".

    Tricky edge: the renewal day belongs to the next year, so the last day of a year says
    "renews tomorrow", and a `today` outside the balance's year is refused rather than miscounted.
    """
    if not balance.year_start <= today < balance.renews_on:
        raise ValueError(
            f"{today.isoformat()} is outside this balance's subscription year "
            f"({balance.year_start.isoformat()} to {balance.renews_on.isoformat()})."
        )
    days = (balance.renews_on - today).days
    when = "renews tomorrow" if days == 1 else f"renews in {days} days"
    return f"{balance.remaining} of {balance.allowance} {noun} unused, {when}"


# --- Optimisation request life cycle ---


class RequestState(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class LedgerEffect(IntEnum):
    """What a request transition does to the ledger: the delta to append, or nothing."""

    DEBIT = -1
    NONE = 0
    CREDIT = 1


_NEXT_STATES: dict[RequestState, RequestState] = {
    RequestState.REQUESTED: RequestState.ACCEPTED,
    RequestState.ACCEPTED: RequestState.IN_PROGRESS,
    RequestState.IN_PROGRESS: RequestState.DELIVERED,
}
_FINAL_STATES = frozenset({RequestState.DELIVERED, RequestState.CANCELLED})
OPEN_REQUEST_STATES: frozenset[RequestState] = frozenset(RequestState) - _FINAL_STATES
_DEBITED_STATES = frozenset({RequestState.ACCEPTED, RequestState.IN_PROGRESS})


def _state(value: str) -> RequestState:
    try:
        return RequestState(value)
    except ValueError:
        raise IllegalTransition(f"'{value}' is not a request state.") from None


def _label(state: RequestState) -> str:
    return state.value.replace("_", " ")


def _why_illegal(source: RequestState, target: RequestState) -> str:
    if source == target:
        return f"The request is already {_label(source)}."
    if source == RequestState.DELIVERED and target == RequestState.CANCELLED:
        return "A delivered request cannot be cancelled."
    if source in _FINAL_STATES:
        return f"A {_label(source)} request is final and cannot become {_label(target)}."
    if target == RequestState.DELIVERED:
        return "A request must be in progress before it can be delivered."
    if target == RequestState.IN_PROGRESS:
        return "A request must be accepted before work on it starts."
    return f"A request that is {_label(source)} cannot go back to {_label(target)}."


def transition(from_state: str, to_state: str) -> LedgerEffect:
    """The ledger effect of moving an optimisation request, or IllegalTransition saying why not.

    Requests go requested → accepted → in_progress → delivered, or to cancelled from any state
    before delivery. Accepting debits the allowance. Tricky edge: cancelling credits it back only if
    the request had been accepted (a request cancelled before acceptance was never debited).
    """
    source, target = _state(from_state), _state(to_state)
    if target == RequestState.CANCELLED and source not in _FINAL_STATES:
        return LedgerEffect.CREDIT if source in _DEBITED_STATES else LedgerEffect.NONE
    if _NEXT_STATES.get(source) != target:
        raise IllegalTransition(_why_illegal(source, target))
    return LedgerEffect.DEBIT if target == RequestState.ACCEPTED else LedgerEffect.NONE


def earliest_target_completion(requested_on: date) -> date:
    """The earliest target completion date: four weeks (28 days) after the written request."""
    return requested_on + TARGET_LEAD_TIME


def is_overdue(state: str, target: date, today: date) -> bool:
    """A request is overdue when it is still open (not delivered or cancelled) after its target.

    Tricky edge: on the target date itself it is due, not yet overdue.
    """
    return _state(state) in OPEN_REQUEST_STATES and target < today


def validate_target(requested_on: date, target: date) -> None:
    """Refuse a target completion date earlier than four weeks after the request.

    Tricky edge: exactly 28 days after the request is allowed; 27 days is not.
    """
    earliest = earliest_target_completion(requested_on)
    if target < earliest:
        raise ValueError(
            f"The target completion date {target.isoformat()} is less than {TARGET_LEAD_TEXT} after the "
            f"request on {requested_on.isoformat()}; "
            f"the earliest allowed is {earliest.isoformat()}."
        )


# --- Model caps ---


def check_enrolment(
    cap: int,
    enrolled: Sequence[str],
    model_name: str,
    is_production: bool,
    place: str | None = None,
) -> None:
    """Refuse to enrol a model that is not in production or that would take the count past the cap.

    Caps count models at a time, not per year; `place` names the enrolment in the refusal
    ("daily monitoring"). Tricky edge: re-enrolling a model that is already enrolled adds nothing,
    so it is accepted even at the cap.
    """
    if not is_production:
        raise ValueError(
            f"Only production models can be enrolled; '{model_name}' is not a production model."
        )
    current = list(dict.fromkeys(enrolled))
    if model_name in current or len(current) < cap:
        return
    choices = f" Remove one of these first: {', '.join(current)}." if current else ""
    where = f" in {place}" if place else ""
    raise CapExceeded(
        f"Cannot enrol '{model_name}'{where}: the cap is {cap} models and {len(current)} are "
        f"already enrolled.{choices}"
    )


def models_to_drop_on_downgrade(cap: int, enrolled: Sequence[str]) -> int:
    """How many enrolled models the customer must choose to drop to fit a (new, lower) cap.

    Tricky edge: a model listed twice is one model, so duplicates do not inflate the count.
    """
    if cap < 0:
        raise ValueError(f"A model cap cannot be negative, got {cap}.")
    return max(len(set(enrolled)) - cap, 0)
