"""Demo QBR history: a note, the meeting day and agreed actions for each quarter since HyperCare.

QBR inputs are debited when they happen: each meeting held uses one `qbr_input` on its day, as
`data_access.qbr_notes.record_qbr_held` does, never before the customer's HyperCare start, never
past the tier's allowance for the subscription year, and never for Basic (which has none). Older
actions are mostly done; some stay open and are carried forward into later quarters.

A generator of its own (from the demo seed) keeps the rest of the demo data as it was.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from data_access.bulk import bulk_insert
from data_access.models import EntitlementEntry, QbrAction, QbrNote
from domain.entitlements import Entitlement, subscription_year
from domain.quarters import Quarter, quarters_between

NOTE_TEXTS = (
    "Month-end close went smoothly; next step: certify two more model builders.",
    "Import times improved after the optimisation; the customer asked about ALM for the "
    "planning team.",
    "Two severity-2 cases around the data hub; agreed a joint review of the integration schedule.",
    "Adoption is growing in finance; sales planning still relies on spreadsheets.",
    "The customer is preparing its budget cycle and wants the weekly report for two more models.",
)
DRAFT_TEXT = "Agenda draft: case trends, monitoring alerts, the adoption survey and CoE next steps."
ACTION_TEXTS = (
    ("Certify two more model builders", "customer"),
    ("Review the data hub import schedule", "resource"),
    ("Share the weekly report with the finance leads", "csm"),
    ("Plan the ALM rollout for the planning team", "customer"),
    ("Send the model optimisation findings", "resource"),
    ("Book the end-user interviews for the adoption survey", "csm"),
    ("Archive unused workspaces to free space", "customer"),
    ("Confirm the month-end support contacts", "customer"),
)


def _customers(connection: Connection) -> pd.DataFrame:
    return pd.read_sql(
        text(
            "SELECT c.id, c.tier, c.hypercare_start, c.csm_id, r.timezone, "
            "t.qbr_inputs_per_year AS allowance, "
            "u.name AS csm_name, v.name AS resource_name, "
            "(SELECT min(k.name) FROM contact k WHERE k.customer_id = c.id) AS contact_name "
            "FROM customer c JOIN region r ON r.id = c.region_id "
            "JOIN tier_policy t ON t.tier = c.tier "
            "LEFT JOIN app_user u ON u.id = c.csm_id "
            "LEFT JOIN app_user v ON v.id = c.hypercare_resource_id "
            "ORDER BY c.id"
        ),
        connection,
    )


def _meeting_day(
    rng: np.random.Generator, quarter: Quarter, start: date, today: date
) -> date | None:
    """A day in the quarter's last two months, on or after the HyperCare start and before today;
    None when the quarter has no such day (the customer joined too late, or it is too early)."""
    first = max(quarter.first_day + timedelta(days=31), start + timedelta(days=7))
    last = min(quarter.last_day, today - timedelta(days=1))
    if first > last:
        return None
    return first + timedelta(days=int(rng.integers(0, (last - first).days + 1)))


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def qbr_history(connection: Connection, *, seed: int, now: datetime) -> dict[str, int]:
    """Insert every HyperCare customer's QBR notes, actions and QBR-input debits up to `now`."""
    rng = np.random.default_rng((seed, 0x0B12))
    notes: list[dict] = []
    actions: list[dict] = []
    ledger: list[dict] = []
    for customer in _customers(connection).itertuples():
        if int(customer.allowance) <= 0:
            continue
        start = pd.Timestamp(customer.hypercare_start).date()
        today = now.astimezone(ZoneInfo(customer.timezone)).date()
        current = Quarter.containing(today)
        owners = {
            "customer": customer.contact_name or "Customer sponsor",
            "csm": customer.csm_name or "CSM",
            "resource": customer.resource_name or customer.csm_name or "CSM",
        }
        used: dict[date, int] = {}
        for quarter in quarters_between(Quarter.containing(start), current):
            held_on = _meeting_day(rng, quarter, start, today)
            if quarter == current and (held_on is None or rng.random() < 0.5):
                notes.append(_note(customer, quarter, DRAFT_TEXT, None, min(now, _noon(today))))
                continue
            if held_on is None:
                continue
            year = subscription_year(start, held_on)[0]
            if used.get(year, 0) >= int(customer.allowance):
                continue
            used[year] = used.get(year, 0) + 1
            ledger.append(
                {
                    "customer_id": customer.id,
                    "kind": Entitlement.QBR_INPUT.value,
                    "at": _noon(held_on),
                    "delta": -1,
                    "reason": f"QBR for {quarter.label} held on {held_on.isoformat()}",
                    "actor_id": customer.csm_id,
                    "request_id": None,
                }
            )
            written = min(now, _noon(held_on) + timedelta(hours=3))
            text_ = NOTE_TEXTS[int(rng.integers(len(NOTE_TEXTS)))]
            notes.append(_note(customer, quarter, text_, held_on, written))
            actions += _actions(rng, customer, quarter, held_on, owners, now)
    for table, rows in ((QbrNote, notes), (QbrAction, actions), (EntitlementEntry, ledger)):
        frame = pd.DataFrame(rows)
        if frame.empty:
            continue
        for column in ("at", "done_at", "created_at", "updated_at"):
            if column in frame.columns:
                frame[column] = pd.to_datetime(frame[column], utc=True)
        bulk_insert(connection, table.__table__, frame)
    return {"qbr_note": len(notes), "qbr_action": len(actions), "qbr_input_debits": len(ledger)}


def _note(customer, quarter: Quarter, body: str, held_on: date | None, at: datetime) -> dict:
    return {
        "customer_id": customer.id,
        "quarter": quarter.key,
        "author_id": customer.csm_id,
        "at": at,
        "text": body,
        "held_on": None if held_on is None else held_on.isoformat(),
    }


def _actions(
    rng: np.random.Generator,
    customer,
    quarter: Quarter,
    held_on: date,
    owners: dict[str, str],
    now: datetime,
) -> list[dict]:
    """Two to four actions agreed at the meeting; the older the meeting, the likelier done."""
    agreed_at = min(now, _noon(held_on) + timedelta(hours=2))
    age_days = (now.date() - held_on).days
    rows = []
    for index in rng.choice(len(ACTION_TEXTS), size=int(rng.integers(2, 5)), replace=False):
        what, who = ACTION_TEXTS[int(index)]
        due_on = held_on + timedelta(days=int(rng.integers(21, 76)))
        done = rng.random() < min(0.9, 0.25 + age_days / 200)
        done_at = None
        if done:
            latest = min(now, _noon(due_on) + timedelta(days=14))
            span = max((latest - agreed_at).total_seconds(), 3600.0)
            done_at = min(now, agreed_at + timedelta(seconds=float(rng.uniform(3600.0, span))))
        rows.append(
            {
                "customer_id": customer.id,
                "quarter": quarter.key,
                "text": what,
                "owner": owners[who],
                "due_on": due_on.isoformat(),
                "done": bool(done),
                "done_at": done_at,
                "created_by_id": customer.csm_id,
                "created_at": agreed_at,
                "updated_at": done_at or agreed_at,
            }
        )
    return rows
