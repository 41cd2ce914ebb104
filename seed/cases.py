"""The demo's cases: a history of closed ones and a live queue of open ones, with their events.

Cases are drawn as whole arrays per chunk (a million in a few chunks) from one generator and
bulk-inserted with their event rows, which the SLA clocks replay. A case's life is a timeline of
minute offsets from its opening (reply, pending, transfer to L2/L3, solve, reopen, close); an
open case is placed part-way along it, so the queue shows on-track, at-risk and late cases.
Edge case: the order of the generator's draws is the seed's contract (same seed, same cases),
so each piece below draws in the order the whole once did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from data_access.bulk import bulk_insert
from data_access.models import Case, CaseEvent
from domain.contacts import CASE_CHANNELS
from domain.lifecycle import OPEN_STATUSES
from domain.tiers import DEFAULT_POLICIES
from seed.names import CASE_TOPICS

FIRST_RESPONSE_MINUTES = {p.tier: p.first_response_minutes for p in DEFAULT_POLICIES}
RESOLUTION_DAYS = {p.tier: p.resolution_business_days for p in DEFAULT_POLICIES}
CHUNK = 200_000
TIER_WEIGHTS = {"basic": 1.0, "professional": 1.6, "enterprise": 2.2}
"""How many more cases a customer of each tier opens than a basic one."""
SEVERITY_SHARES = {1: 0.03, 2: 0.17, 3: 0.45, 4: 0.35}
CHANNEL_SHARES = (0.4, 0.2, 0.2, 0.2)  # in the order of CASE_CHANNELS
OPEN_STATUS_SHARES = {
    "new": 0.12,
    "open": 0.5,
    "pending_customer": 0.23,
    "transferred_l2": 0.11,
    "transferred_l3": 0.04,
}
TRANSFERRED = ("transferred_l2", "transferred_l3")
EVENT_COLUMNS = ["row", "at", "actor_id", "kind", "from_status", "to_status", "note"]

Progress = Callable[[str, float], None]


def per_tier(tiers: np.ndarray, values: dict[str, float]) -> np.ndarray:
    """Each row's tier mapped through `values`, as floats."""
    return pd.Series(tiers).map(values).to_numpy(dtype=float)


def seed_cases(
    engine: Engine,
    rng: np.random.Generator,
    *,
    total: int,
    open_total: int,
    days: int,
    customers: pd.DataFrame,
    csm_ids: Sequence[int],
    now: datetime,
    progress: Progress,
) -> int:
    """`total` cases (`open_total` of them open) over the last `days`, written in chunks."""
    next_case_id, next_event_id = 1, 1
    open_left = open_total
    weights = customers["tier"].map(TIER_WEIGHTS).to_numpy()
    weights = weights / weights.sum()
    for start in range(0, total, CHUNK):
        n = min(CHUNK, total - start)
        n_open = min(open_left, round(open_total * n / total)) if start + n < total else open_left
        open_left -= n_open
        frame, events = case_chunk(
            rng,
            n=n,
            n_open=n_open,
            customers=customers,
            weights=weights,
            csm_ids=csm_ids,
            now=now,
            days=days,
        )
        frame.insert(0, "id", np.arange(next_case_id, next_case_id + n))
        events["case_id"] = frame["id"].to_numpy()[events.pop("row")]
        events.insert(0, "id", np.arange(next_event_id, next_event_id + len(events)))
        next_case_id += n
        next_event_id += len(events)
        with engine.begin() as connection:
            bulk_insert(connection, Case.__table__, frame)
            bulk_insert(connection, CaseEvent.__table__, events)
        progress(f"Cases {start + n:,}/{total:,}", 0.1 + 0.7 * (start + n) / total)
    return total


def case_timelines(
    rng: np.random.Generator, n: int, tier: np.ndarray, severity: np.ndarray
) -> dict[str, np.ndarray]:
    """Minute offsets from opening of every milestone a case may pass through."""
    target = per_tier(tier, FIRST_RESPONSE_MINUTES)
    late = rng.random(n) < 0.08
    reply = np.where(
        severity == 1,
        rng.uniform(2, 25, n),
        np.where(late, target * rng.uniform(1.05, 2.5, n), target * rng.uniform(0.1, 0.95, n)),
    )
    has_pending = rng.random(n) < 0.35
    pending_start = reply + rng.exponential(600, n)
    pending_end = pending_start + rng.exponential(1_500, n)
    transfer_level = rng.choice(
        np.array(["", "transferred_l2", "transferred_l3"]), n, p=[0.9, 0.075, 0.025]
    )
    transfer_start = np.maximum(reply, np.where(has_pending, pending_end, reply)) + rng.exponential(
        300, n
    )
    transfer_end = transfer_start + rng.exponential(4_000, n)
    work_from = np.where(
        transfer_level != "", transfer_end, np.where(has_pending, pending_end, reply)
    )
    solve = work_from + rng.gamma(2.0, 900, n) * np.select(
        [severity == 1, severity == 2], [0.2, 0.6], 1.0
    )
    reopened = rng.random(n) < 0.03
    reopen_at = solve + rng.exponential(1_200, n)
    resolve = reopen_at + rng.exponential(600, n)
    final_solve = np.where(reopened, resolve, solve)
    close = final_solve + 3 * 24 * 60
    return {
        "reply": reply,
        "has_pending": has_pending,
        "pending_start": pending_start,
        "pending_end": pending_end,
        "transfer_level": transfer_level,
        "transfer_start": transfer_start,
        "transfer_end": transfer_end,
        "solve": solve,
        "reopened": reopened,
        "reopen_at": reopen_at,
        "final_solve": final_solve,
        "close": close,
    }


@dataclass(frozen=True)
class DrawnCases:
    """One chunk's cases as arrays, one entry per case, before they become rows."""

    customer_row: np.ndarray  # index into the customers frame
    severity: np.ndarray
    timeline: dict[str, np.ndarray]  # `case_timelines`
    is_open: np.ndarray
    status: np.ndarray
    age_open: np.ndarray  # minutes since opening an open case has reached
    opened: np.ndarray  # datetime64[us], UTC without a zone

    def at(self, offset: np.ndarray) -> np.ndarray:
        """The instants `offset` minutes after each case opened."""
        return self.opened + (offset * 60e6).astype("timedelta64[us]")


@dataclass(frozen=True)
class CasePaths:
    """Which milestones each case passed through, as boolean masks (and its transfer level)."""

    replied: np.ndarray
    went_pending: np.ndarray
    transferred: np.ndarray
    level: np.ndarray  # "transferred_l2" or "transferred_l3"
    done: np.ndarray
    reopened: np.ndarray


def case_chunk(
    rng: np.random.Generator,
    *,
    n: int,
    n_open: int,
    customers: pd.DataFrame,
    weights: np.ndarray,
    csm_ids: Sequence[int],
    now: datetime,
    days: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`n` cases (`n_open` open) of the `customers` (chosen by `weights`) as of `now`, and
    their events; each event's `row` is its case's position in the frame."""
    now64 = np.datetime64(now.replace(tzinfo=None), "us")
    drawn = _draw_cases(rng, n, n_open, customers, weights, now64, days)
    paths = _case_paths(drawn)
    events = _case_events(rng, drawn, paths, csm_ids)
    frame = _case_rows(rng, drawn, paths, customers)
    # A case was last written by its latest event, not when the seed ran: otherwise every case
    # of a fresh database counts as just changed for the live queue's poll.
    frame["updated_at"] = events.groupby("row")["at"].max().reindex(frame.index)
    return frame, events


def _draw_cases(
    rng: np.random.Generator,
    n: int,
    n_open: int,
    customers: pd.DataFrame,
    weights: np.ndarray,
    now64: np.datetime64,
    days: int,
) -> DrawnCases:
    customer_row = rng.choice(len(customers), n, p=weights)
    tier = customers["tier"].to_numpy()[customer_row]
    severity = rng.choice(np.array(list(SEVERITY_SHARES)), n, p=list(SEVERITY_SHARES.values()))
    t = case_timelines(rng, n, tier, severity)
    is_open, status = _statuses(rng, n, n_open)
    age_open, age = _ages(rng, n, tier, status, is_open, t, days)
    opened = now64 - (age * 60e6).astype("timedelta64[us]")
    return DrawnCases(customer_row, severity, t, is_open, status, age_open, opened)


def _statuses(rng: np.random.Generator, n: int, n_open: int) -> tuple[np.ndarray, np.ndarray]:
    """Which cases are open (`n_open` of them) and each case's status."""
    is_open = np.zeros(n, dtype=bool)
    is_open[rng.choice(n, n_open, replace=False)] = True
    open_status = rng.choice(
        np.array(list(OPEN_STATUS_SHARES)), n, p=list(OPEN_STATUS_SHARES.values())
    )
    closed_status = np.where(rng.random(n) < 0.85, "closed", "solved")
    # Every open state appears at least once, however few cases are open.
    first_open = np.flatnonzero(is_open)[: len(OPEN_STATUSES)]
    open_status[first_open] = np.array(OPEN_STATUSES)[: len(first_open)]
    return is_open, np.where(is_open, open_status, closed_status)


def _ages(
    rng: np.random.Generator,
    n: int,
    tier: np.ndarray,
    status: np.ndarray,
    is_open: np.ndarray,
    t: dict[str, np.ndarray],
    days: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Minutes since opening: how far into its life an open case is (spread over its targets,
    so the queue shows on-track, at-risk and late ones), and for every case its age."""
    first_response = per_tier(tier, FIRST_RESPONSE_MINUTES)
    resolution_calendar = per_tier(tier, RESOLUTION_DAYS) * 24 * 60 * 7 / 5
    age_open = np.select(
        [status == "new", status == "open", status == "pending_customer"],
        [
            first_response * rng.uniform(0.05, 1.3, n),
            t["reply"] + resolution_calendar * rng.uniform(0.02, 1.2, n),
            t["pending_start"] + rng.uniform(1, 600, n),
        ],
        t["transfer_start"] + rng.uniform(1, 900, n),
    )
    last = np.where(status == "closed", t["close"], t["final_solve"])
    horizon = days * 24 * 60
    age_closed = last + rng.uniform(0, 1, n) * np.maximum(horizon - last, 60)
    return age_open, np.where(is_open, age_open, age_closed)


def _case_paths(drawn: DrawnCases) -> CasePaths:
    t, status, is_open = drawn.timeline, drawn.status, drawn.is_open
    replied = status != "new"
    went_pending = (
        replied
        & t["has_pending"]
        & ((~is_open) | (status != "open") | (drawn.age_open > t["pending_end"]))
    )
    went_pending |= status == "pending_customer"
    transferred = replied & (t["transfer_level"] != "") & ~is_open
    transferred |= np.isin(status, TRANSFERRED)
    level = np.where(np.isin(status, TRANSFERRED), status, t["transfer_level"])
    level = np.where(level == "", "transferred_l2", level)
    done = ~is_open
    return CasePaths(
        replied=replied,
        went_pending=went_pending,
        transferred=transferred,
        level=level,
        done=done,
        reopened=done & t["reopened"],
    )


def _case_events(
    rng: np.random.Generator, drawn: DrawnCases, paths: CasePaths, csm_ids: Sequence[int]
) -> pd.DataFrame:
    """Every case's event rows in time order: status changes and the first public reply (by a
    CSM drawn at random)."""
    t, status, is_open = drawn.timeline, drawn.status, drawn.is_open
    pending = status == "pending_customer"
    # (which cases, when, kind, from status, to status), in the order ties at one instant keep.
    steps = [
        (np.ones(len(status), dtype=bool), drawn.opened, "status", None, "new"),
        (paths.replied, drawn.at(t["reply"]), "public_reply", None, None),
        (paths.replied, drawn.at(t["reply"]), "status", "new", "open"),
        (paths.went_pending, drawn.at(t["pending_start"]), "status", "open", "pending_customer"),
        (
            paths.went_pending & ~pending,
            drawn.at(t["pending_end"]),
            "status",
            "pending_customer",
            "open",
        ),
        (paths.transferred, drawn.at(t["transfer_start"]), "status", "open", paths.level),
        (paths.transferred & ~is_open, drawn.at(t["transfer_end"]), "status", paths.level, "open"),
        (paths.done, drawn.at(t["solve"]), "status", "open", "solved"),
        (paths.reopened, drawn.at(t["reopen_at"]), "status", "solved", "open"),
        (paths.reopened, drawn.at(t["final_solve"]), "status", "open", "solved"),
        (status == "closed", drawn.at(t["close"]), "status", "solved", "closed"),
    ]
    parts = [_event_part(*step) for step in steps if step[0].any()]
    events = pd.concat(parts, ignore_index=True).sort_values(["row", "at"], kind="stable")
    events["at"] = pd.to_datetime(events["at"]).dt.tz_localize("UTC")
    events["note"] = ""
    events["actor_id"] = pd.array(
        np.where(
            events["kind"] == "public_reply",
            np.asarray(csm_ids)[rng.integers(len(csm_ids), size=len(events))],
            0,
        ),
        dtype="Int64",
    )
    events.loc[events["actor_id"] == 0, "actor_id"] = pd.NA
    return events[EVENT_COLUMNS]


def _event_part(
    mask: np.ndarray,
    when: np.ndarray,
    kind: str,
    from_status: str | np.ndarray | None,
    to_status: str | np.ndarray | None,
) -> pd.DataFrame:
    rows = np.flatnonzero(mask)

    def of_rows(value: str | np.ndarray | None) -> str | np.ndarray | None:
        return value[rows] if isinstance(value, np.ndarray) else value

    return pd.DataFrame(
        {
            "row": rows,
            "at": when[rows],
            "kind": kind,
            "from_status": of_rows(from_status),
            "to_status": of_rows(to_status),
        }
    )


def _case_rows(
    rng: np.random.Generator,
    drawn: DrawnCases,
    paths: CasePaths,
    customers: pd.DataFrame,
) -> pd.DataFrame:
    """The case table's rows: subject, owner, channel and the instants mirrored from events
    (`updated_at` is set by the caller)."""
    n, row, t, status = len(drawn.status), drawn.customer_row, drawn.timeline, drawn.status
    topics = np.array(CASE_TOPICS)[rng.integers(len(CASE_TOPICS), size=n)]
    # A case is worked by its customer's CSM or, for HyperCare customers, often its resource.
    owner = customers["csm_id"].to_numpy()[row]
    resource = customers["resource_id"].to_numpy()[row]
    assignee = np.where((resource > 0) & (rng.random(n) < 0.4), resource, owner)
    is_outage = (drawn.severity == 1) & (rng.random(n) < 0.3)
    channel = rng.choice(np.array(CASE_CHANNELS), n, p=list(CHANNEL_SHARES))
    frame = pd.DataFrame(
        {
            "customer_id": customers["id"].to_numpy()[row],
            "subject": topics,
            "description": "",
            "severity": drawn.severity,
            "is_outage": is_outage,
            "channel": channel,
            "status": status,
            "assignee_id": pd.array(np.where(status == "new", 0, assignee), dtype="Int64"),
            "opened_at": _utc(drawn.opened),
            "first_response_at": _utc_where(paths.replied, drawn.at(t["reply"])),
            "solved_at": _utc_where(paths.done, drawn.at(t["final_solve"])),
            "closed_at": _utc_where(status == "closed", drawn.at(t["close"])),
            "escalated_to": np.where(
                paths.transferred, np.where(paths.level == "transferred_l3", "L3", "L2"), None
            ),
            "version": 1,
        }
    )
    frame.loc[frame["assignee_id"] == 0, "assignee_id"] = pd.NA
    return frame


def _utc(instants: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(instants).tz_localize("UTC")


def _utc_where(mask: np.ndarray, instants: np.ndarray) -> pd.DatetimeIndex:
    """`instants` where `mask` holds, else missing (NaT)."""
    return _utc(np.where(mask, instants, np.datetime64("NaT")))
