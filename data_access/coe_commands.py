"""CoE benchmark commands: record or correct a quarter's snapshot, or load a CSV file of them.

Recording the first snapshot of a customer's quarter uses one `coe_benchmark` entitlement in the
same transaction; correcting that quarter later does not use another.

The CSV file: a header naming `customer_id`, `quarter` (2026Q3) and every value column of
`domain.coe.VALUE_FIELDS` (`alm_in_use` and `data_hub` as yes/no), plus an optional
`customer_name` that, when filled in, must match the customer (a guard against shifted ids).
Every problem is reported as "line N: reason" with the file's own line numbers (the header is
line 1), and a file with any problem is refused as a whole: nothing is written (the refusal
rolls back the caller's transaction, as every command's does).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused, record_audit
from data_access.checks import utc_moment
from data_access.coe import not_included
from data_access.entitlement_ledger import debit_entitlement
from data_access.locking import for_update
from data_access.metric_loader import (
    FileRefused,
    LineError,
    csv_text,
    header_errors,
    read_csv,
)
from data_access.models import CoeSnapshot, Customer, Region
from domain.coe import (
    COUNT_FIELDS,
    FLAG_FIELDS,
    GB_FIELDS,
    VALUE_FIELDS,
    CoeValues,
    validation_errors,
)
from domain.quarters import BadQuarter, Quarter
from domain.roles import Role

RECORD_ROLES = (Role.CSM, Role.MANAGER, Role.ADMIN)
UNAWARE_NOW = "The time of a CoE benchmark must be time-zone aware."
CSV_REQUIRED: tuple[str, ...] = ("customer_id", "quarter", *VALUE_FIELDS)
CSV_OPTIONAL: tuple[str, ...] = ("customer_name",)
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0", ""}


# --- Commands ---------------------------------------------------------------------------------


def _today(customer: Customer, session: Session, now: datetime) -> date:
    """Today on the customer's region calendar (quarters are counted there)."""
    zone = session.exec(select(Region.timezone).where(Region.id == customer.region_id)).first()
    return now.astimezone(ZoneInfo(zone or "UTC")).date()


def _store(
    session: Session,
    *,
    actor: Actor,
    customer: Customer,
    quarter: Quarter,
    values: CoeValues,
    at: datetime,
    source: str,
) -> CoeSnapshot:
    """Upsert the quarter's snapshot; the first one of the quarter debits one CoE benchmark."""
    existing = session.exec(
        for_update(
            select(CoeSnapshot).where(
                CoeSnapshot.customer_id == customer.id, CoeSnapshot.quarter == quarter.key
            )
        )
    ).first()
    created = existing is None
    if created:
        debit_entitlement(
            session=session,
            customer_id=customer.id,
            kind="coe_benchmark",
            actor=actor,
            reason=f"CoE benchmark {quarter.label}",
            now=at,
        )
        snapshot = CoeSnapshot(
            customer_id=customer.id, quarter=quarter.key, taken_on=_today(customer, session, at)
        )
    else:
        snapshot = existing
    before = None if created else CoeValues.of(snapshot).as_dict()
    for name, value in values.as_dict().items():
        setattr(snapshot, name, value)
    snapshot.recorded_by_id = actor.id
    snapshot.updated_at = at
    session.add(snapshot)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action="record_coe_snapshot" if created else "correct_coe_snapshot",
        entity="coe_snapshot",
        entity_id=snapshot.id,
        detail={
            "customer_id": customer.id,
            "quarter": quarter.key,
            "source": source,
            "values": values.as_dict(),
            "before": before,
        },
    )
    return snapshot


def record_coe_snapshot(
    *,
    session: Session,
    actor: Actor,
    customer_id: int,
    quarter: Quarter,
    certified_builders: int = 0,
    certified_architects: int = 0,
    master_planners: int = 0,
    production_models: int = 0,
    workspaces: int = 0,
    workspace_size_gb: float = 0.0,
    workspace_allowance_gb: float = 0.0,
    licensed_users: int = 0,
    active_users: int = 0,
    alm_in_use: bool = False,
    data_hub: bool = False,
    maturity_stage: int = 0,
    now: datetime | None = None,
) -> CoeSnapshot:
    """Record or correct a customer's snapshot for a quarter (a CSM for their own customers, a
    manager or an admin for any); the quarter's first snapshot uses one CoE benchmark, a
    correction does not. Refused with one sentence for the first problem found."""
    customer = authorise(session, actor, roles=RECORD_ROLES, customer_id=customer_id)
    at = utc_moment(now, refusal=UNAWARE_NOW)
    values = CoeValues(
        certified_builders=certified_builders,
        certified_architects=certified_architects,
        master_planners=master_planners,
        production_models=production_models,
        workspaces=workspaces,
        workspace_size_gb=float(workspace_size_gb),
        workspace_allowance_gb=float(workspace_allowance_gb),
        licensed_users=licensed_users,
        active_users=active_users,
        alm_in_use=alm_in_use,
        data_hub=data_hub,
        maturity_stage=maturity_stage,
    )
    _check_included(session, customer)
    problems = validation_errors(
        values,
        quarter=quarter,
        hypercare_start=customer.hypercare_start,
        today=_today(customer, session, at),
    )
    if problems:
        raise CommandRefused(problems[0])
    return _store(
        session,
        actor=actor,
        customer=customer,
        quarter=quarter,
        values=values,
        at=at,
        source="form",
    )


def _check_included(session: Session, customer: Customer) -> None:
    refusal = not_included(session=session, tier=customer.tier)
    if refusal is not None:
        raise CommandRefused(refusal)


# --- CSV upload -------------------------------------------------------------------------------


class CoeFileRefused(FileRefused):
    """The file has problems; `errors` lists every one of them with its line number. The message
    names only counts and line numbers, never the file's text, so a page may show it as is."""

    not_done = "nothing was recorded"

    @staticmethod
    def first_text(first: LineError) -> str:
        return f"line {first.line}"


def csv_template() -> pd.DataFrame:
    """An example file: the header and one row whose values a person replaces."""
    example = CoeValues(
        certified_builders=4,
        certified_architects=1,
        master_planners=1,
        production_models=12,
        workspaces=3,
        workspace_size_gb=120.5,
        workspace_allowance_gb=200.0,
        licensed_users=800,
        active_users=610,
        alm_in_use=True,
        data_hub=False,
        maturity_stage=2,
    ).as_dict()
    for name in FLAG_FIELDS:
        example[name] = "yes" if example[name] else "no"
    return pd.DataFrame(
        [{"customer_id": 1, "customer_name": "", "quarter": "2026Q3", **example}],
        columns=["customer_id", "customer_name", "quarter", *VALUE_FIELDS],
    )


def _parse_values(row: dict[str, str]) -> tuple[CoeValues | None, list[str]]:
    """The row's values typed, or the reasons they cannot be read."""
    problems: list[str] = []
    typed: dict[str, object] = {}
    for name in (*COUNT_FIELDS, "maturity_stage"):
        text = row[name]
        try:
            typed[name] = int(text)
        except ValueError:
            problems.append(f"{name} {text!r} is not a whole number")
    for name in GB_FIELDS:
        text = row[name]
        try:
            typed[name] = float(text) if text else 0.0
        except ValueError:
            problems.append(f"{name} {text!r} is not a number")
        else:
            if typed[name] != typed[name]:
                problems.append(f"{name} {text!r} is not a number")
    for name in FLAG_FIELDS:
        text = row[name].lower()
        if text in _YES:
            typed[name] = True
        elif text in _NO:
            typed[name] = False
        else:
            problems.append(f"{name} {row[name]!r} is not yes or no")
    if problems:
        return None, problems
    return CoeValues(**typed), []


def _reason(sentence: str) -> str:
    """A command's sentence as a line's reason (names keep their capitals)."""
    return sentence.rstrip(".")


def load_coe_csv(
    *, session: Session, actor: Actor, source: bytes | str | Path, now: datetime | None = None
) -> int:
    """Record every row of a CoE snapshot file (see the module docstring), or none: a file with
    any problem is refused as a whole with every problem and its line number. Returns the number
    of snapshots recorded or corrected."""
    at = utc_moment(now, refusal=UNAWARE_NOW)
    text = csv_text(source, refused=CoeFileRefused)
    header, rows, lines, errors = read_csv(text, refused=CoeFileRefused, required=CSV_REQUIRED)
    problems = header_errors(header, required=CSV_REQUIRED, optional=CSV_OPTIONAL)
    if problems:
        raise CoeFileRefused(problems)
    authorise(session, actor, roles=RECORD_ROLES)
    parsed: list[tuple[int, Customer, Quarter, CoeValues]] = []
    seen: dict[tuple[int, str], int] = {}
    for line, fields in zip(lines, rows, strict=True):
        row = {name: value.strip() for name, value in zip(header, fields, strict=True)}
        found = _checked_row(session, actor, row, line, at, errors)
        if found is None:
            continue
        customer, quarter, values = found
        key = (customer.id, quarter.key)
        if key in seen:
            errors.append(
                LineError(
                    line,
                    f"customer {customer.id} and {quarter.code} already appear on line {seen[key]}",
                )
            )
            continue
        seen[key] = line
        parsed.append((line, customer, quarter, values))
    if errors:
        raise CoeFileRefused(sorted(errors, key=lambda error: error.line))
    if not parsed:
        raise CoeFileRefused([LineError(2, "the file has no rows below the header")])
    for line, customer, quarter, values in parsed:
        try:
            _store(
                session,
                actor=actor,
                customer=customer,
                quarter=quarter,
                values=values,
                at=at,
                source=f"csv line {line}",
            )
        except CommandRefused as exc:
            errors.append(LineError(line, _reason(str(exc))))
    if errors:
        raise CoeFileRefused(errors)
    return len(parsed)


def _checked_row(
    session: Session,
    actor: Actor,
    row: dict[str, str],
    line: int,
    at: datetime,
    errors: list[LineError],
) -> tuple[Customer, Quarter, CoeValues] | None:
    """The row's customer (in the actor's scope), quarter and values, or None after adding every
    problem with the row to `errors`."""
    problems: list[str] = []
    customer = None
    if not row["customer_id"].isdigit():
        problems.append(f"customer_id {row['customer_id']!r} is not a customer id (a whole number)")
    else:
        try:
            customer = authorise(
                session, actor, roles=RECORD_ROLES, customer_id=int(row["customer_id"])
            )
        except CommandRefused as exc:
            problems.append(_reason(str(exc)))
        else:
            name = row.get("customer_name", "")
            if name and name != customer.name:
                problems.append(
                    f"customer_name {name!r} does not match customer {customer.id} "
                    f"({customer.name!r})"
                )
            try:
                _check_included(session, customer)
            except CommandRefused as exc:
                problems.append(_reason(str(exc)))
    quarter = None
    try:
        quarter = Quarter.parse(row["quarter"])
    except BadQuarter as exc:
        problems.append(_reason(str(exc)))
    values, value_problems = _parse_values(row)
    problems.extend(value_problems)
    if values is not None and customer is not None and quarter is not None:
        problems.extend(
            _reason(sentence)
            for sentence in validation_errors(
                values,
                quarter=quarter,
                hypercare_start=customer.hypercare_start,
                today=_today(customer, session, at),
            )
        )
    errors.extend(LineError(line, problem) for problem in problems)
    if problems or customer is None or quarter is None or values is None:
        return None
    return customer, quarter, values
