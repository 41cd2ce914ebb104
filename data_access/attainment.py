"""SLA attainment over a period: first-response targets met, resolution time against guidelines.

The period selects cases by when they were OPENED, in [start, end). Each case is measured with
`domain.clocks.compute_clocks` (so pending time, reopening and L2/L3 transfers follow the same
rules as the live queue) against the tier the customer had on the day the case opened: a customer
who upgraded last month is not judged on older cases by the new tier's tighter targets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import and_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from data_access.calendars import region_calendars
from data_access.cases import cases_where, events_where, with_clocks
from data_access.models import Case, TierChange
from data_access.policies import tier_labels, tier_policies
from data_access.scope import Scope
from domain.lifecycle import RESOLVED_STATUSES

SEVERITIES = (1, 2, 3, 4)
DECIDED = ("met", "breached")
_FLOATS = ("_pct", "_days")


@dataclass(frozen=True)
class Attainment:
    """SLA results for the cases opened in [start, end); percentages are 0-100, None if no data.

    First response (severity 2-4): `first_response_measured` cases whose clock has stopped or run
    out (met or breached); cases still inside their target are `first_response_pending`.
    Severity 1 has no target and is measured against the internal goal (`sev1_*`).
    Resolution: solved or closed cases, less those ever transferred to L2/L3, in business days of
    the customer's region calendar with pending-customer time left out. `resolution_guideline_days`
    is the tiers' guideline when all measured cases share one, else None.
    """

    start: datetime
    end: datetime
    cases_opened: int
    cases_by_severity: dict[int, int] = field(hash=False)
    first_response_measured: int
    first_response_met: int
    first_response_pending: int
    first_response_met_pct: float | None
    sev1_measured: int
    sev1_goal_met: int
    sev1_goal_met_pct: float | None
    resolved: int
    resolution_excluded_transferred: int
    resolution_measured: int
    resolution_median_days: float | None
    resolution_p90_days: float | None
    resolution_within_guideline: int
    resolution_within_guideline_pct: float | None
    resolution_guideline_days: float | None


def attainment(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    customer_id: int | None = None,
    tier: str | None = None,
    scope: Scope | None = None,
    now: datetime | None = None,
) -> Attainment:
    """Attainment of the cases opened in [start, end), optionally for one customer or one tier.

    `scope` limits the customers to a viewer's portfolio (None: every customer). Clocks still
    running are measured at `now` (default: the current time).
    """
    outcomes = case_outcomes(
        session=session, start=start, end=end, customer_id=customer_id, scope=scope, now=now
    )
    if tier is not None:
        outcomes = outcomes[outcomes["tier"] == tier]
    return _summarise(outcomes, start, end)


def attainment_by_tier(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    customer_id: int | None = None,
    scope: Scope | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """One row per tier (every tier policy, even without cases): tier, tier_label, the tier's
    first-response target and resolution guideline, then the `Attainment` fields."""
    outcomes = case_outcomes(
        session=session, start=start, end=end, customer_id=customer_id, scope=scope, now=now
    )
    policies = tier_policies(session=session)
    labels = tier_labels(session=session)
    order = sorted(policies, key=lambda name: -policies[name].first_response_minutes)
    rows = []
    for name in order:
        summary = asdict(_summarise(outcomes[outcomes["tier"] == name], start, end))
        by_severity = summary.pop("cases_by_severity")
        rows.append(
            {
                "tier": name,
                "tier_label": labels.get(name, name),
                "first_response_target_minutes": policies[name].first_response_minutes,
                "sev1_goal_minutes": policies[name].sev1_goal_minutes,
                **summary,
                "resolution_guideline_days": policies[name].resolution_business_days,
                **{f"sev{level}": by_severity[level] for level in SEVERITIES},
            }
        )
    frame = pd.DataFrame(rows).drop(columns=["start", "end"])
    return frame.astype({column: float for column in frame.columns if column.endswith(_FLOATS)})


def case_outcomes(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    customer_id: int | None = None,
    scope: Scope | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """One row per case opened in [start, end): case_id, customer_id, tier (at opening),
    severity, status, region, opened_at, the clock columns of `compute_clocks`, plus
    business_days (resolution business minutes / the region's working minutes per day) and
    guideline_days (the tier's resolution guideline)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("`start` and `end` must be time-zone-aware datetimes.")
    if not start < end:
        raise ValueError("The period must start before it ends.")
    now = datetime.now(UTC) if now is None else now
    where = _case_filter(start, end, customer_id, scope)
    cases = cases_where(session=session, where=where)
    # Each case is judged against the tier in force on the day it opened.
    cases["tier"] = _tier_at_opening(session, cases.rename(columns={"tier": "current_tier"}))
    events = events_where(session=session, where=where)
    policies = tier_policies(session=session)
    calendars = region_calendars(session=session, today=now.date())
    outcomes = with_clocks(session=session, cases=cases, events=events, now=now)
    minutes_per_day = outcomes["region"].map(
        {code: calendar.working_minutes_per_day for code, calendar in calendars.items()}
    )
    outcomes["business_days"] = outcomes["res_business_minutes"] / minutes_per_day.astype(float)
    outcomes["guideline_days"] = outcomes["tier"].map(
        {name: float(policy.resolution_business_days) for name, policy in policies.items()}
    )
    return outcomes


# --- building blocks ---------------------------------------------------------------------------


def _case_filter(
    start: datetime, end: datetime, customer_id: int | None, scope: Scope | None
) -> ColumnElement[bool]:
    conditions = [Case.opened_at >= start, Case.opened_at < end]
    if customer_id is not None:
        conditions.append(Case.customer_id == customer_id)
    if scope is not None:
        conditions.append(scope.customer_filter())
    return and_(*conditions)


def _tier_at_opening(session: Session, cases: pd.DataFrame) -> pd.Series:
    """The tier in force on each case's opening day (UTC), from the customer's tier history.

    Edge case: a case older than the customer's first recorded change takes that change's
    `from_tier` (or its `to_tier` for the creation row); no history at all means the current tier.
    """
    if cases.empty:
        return pd.Series([], index=cases.index, dtype=object)
    changes = pd.read_sql(
        select(
            TierChange.customer_id,
            TierChange.effective_on,
            TierChange.from_tier,
            TierChange.to_tier,
        )
        .where(TierChange.customer_id.in_(cases["customer_id"].unique().tolist()))
        .order_by(TierChange.effective_on, TierChange.id),
        session.connection(),
    )
    if changes.empty:
        return cases["current_tier"]
    changes["effective_on"] = pd.to_datetime(changes["effective_on"]).astype("datetime64[us]")
    keyed = cases[["customer_id"]].assign(
        opened_on=cases["opened_at"]
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
        .dt.normalize()
        .astype("datetime64[us]"),
        position=np.arange(len(cases)),
    )
    keyed = keyed.sort_values("opened_on")
    changes = changes.sort_values("effective_on", kind="stable")
    before = pd.merge_asof(
        keyed, changes, left_on="opened_on", right_on="effective_on", by="customer_id"
    )
    after = pd.merge_asof(
        keyed,
        changes,
        left_on="opened_on",
        right_on="effective_on",
        by="customer_id",
        direction="forward",
    )
    tier = before["to_tier"].fillna(after["from_tier"]).fillna(after["to_tier"])
    tier.index = before["position"].to_numpy()
    tier = tier.sort_index()
    tier.index = cases.index
    return tier.fillna(cases["current_tier"])


def _summarise(outcomes: pd.DataFrame, start: datetime, end: datetime) -> Attainment:
    severity_1 = outcomes["severity"] == 1
    fr_decided = outcomes["fr_state"].isin(DECIDED)
    fr_met = outcomes["fr_state"] == "met"
    targeted = ~severity_1
    resolved = outcomes["status"].isin(RESOLVED_STATUSES)
    excluded = resolved & (outcomes["res_state"] == "excluded")
    measured = resolved & ~excluded
    days = outcomes.loc[measured, "business_days"].to_numpy(dtype=float)
    within = measured & (outcomes["res_state"] == "met")
    guidelines = outcomes.loc[measured, "guideline_days"].unique()
    return Attainment(
        start=start,
        end=end,
        cases_opened=len(outcomes),
        cases_by_severity={
            level: int((outcomes["severity"] == level).sum()) for level in SEVERITIES
        },
        first_response_measured=int((targeted & fr_decided).sum()),
        first_response_met=int((targeted & fr_met).sum()),
        first_response_pending=int((targeted & ~fr_decided).sum()),
        first_response_met_pct=_percent((targeted & fr_met).sum(), (targeted & fr_decided).sum()),
        sev1_measured=int((severity_1 & fr_decided).sum()),
        sev1_goal_met=int((severity_1 & fr_met).sum()),
        sev1_goal_met_pct=_percent((severity_1 & fr_met).sum(), (severity_1 & fr_decided).sum()),
        resolved=int(resolved.sum()),
        resolution_excluded_transferred=int(excluded.sum()),
        resolution_measured=int(measured.sum()),
        resolution_median_days=float(np.median(days)) if days.size else None,
        resolution_p90_days=float(np.percentile(days, 90)) if days.size else None,
        resolution_within_guideline=int(within.sum()),
        resolution_within_guideline_pct=_percent(within.sum(), measured.sum()),
        resolution_guideline_days=float(guidelines[0]) if len(guidelines) == 1 else None,
    )


def _percent(part: int, whole: int) -> float | None:
    return 100.0 * float(part) / float(whole) if whole else None
