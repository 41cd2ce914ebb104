"""QBR notes and agreed actions: the QBR's last section, its reads and its commands.

A quarter's QBR has one note (free text and the day the meeting was held) and a list of agreed
actions (owner, due date, done). Open actions from earlier quarters are carried forward and shown
first. Recording a quarter's QBR as held for the first time uses one QBR input from the customer's
yearly allowance, in the same transaction. Every command is audited.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pandas as pd
from sqlmodel import Session, select

from data_access.actor import Actor, authorise, authorise_row
from data_access.audit import CommandRefused, record_audit
from data_access.calendars import region_timezone
from data_access.checks import required_text, utc_moment
from data_access.entitlement_ledger import debit_entitlement
from data_access.locking import for_update
from data_access.models import Customer, QbrAction, QbrNote
from domain.dates import day_text
from domain.entitlements import Entitlement
from domain.qbr import Figure, Section, Table, change_text
from domain.qbr_actions import (
    NOTE_MAX_CHARS,
    OWNER_MAX_CHARS,
    TEXT_MAX_CHARS,
    ActionRow,
    action_counts,
    done_by,
    is_carried_into,
)
from domain.quarters import BadQuarter, Quarter, check_reviewable
from domain.roles import Role

SECTION_KEY = "notes"
SECTION_TITLE = "Notes and agreed actions"
QBR_ROLES = (Role.CSM, Role.MANAGER, Role.ADMIN)
UNAWARE_NOW = "The time of a QBR change must be time-zone aware."
ACTION_COLUMNS = ["Action", "Owner", "Due", "Status", "Agreed"]
EDITOR_COLUMNS = ["id", "agreed", "carried", "text", "owner", "due_on", "done", "done_at"]


# --- Reads ------------------------------------------------------------------------------------


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _action_rows(session: Session, customer_id: int, up_to: Quarter) -> list[ActionRow]:
    """Every action agreed up to and including `up_to`, oldest quarter first."""
    rows = session.exec(
        select(QbrAction)
        .where(QbrAction.customer_id == customer_id, QbrAction.quarter <= up_to.key)
        .order_by(QbrAction.quarter, QbrAction.id)
    ).all()
    return [
        ActionRow(
            id=row.id,
            quarter=Quarter.parse(row.quarter),
            text=row.text,
            owner=row.owner,
            due_on=row.due_on,
            done_at=_aware(row.done_at) if row.done else None,
        )
        for row in rows
    ]


def qbr_note(*, session: Session, customer_id: int, quarter: Quarter) -> QbrNote | None:
    """The quarter's note, or None when nothing has been written or recorded yet."""
    return session.exec(
        select(QbrNote).where(QbrNote.customer_id == customer_id, QbrNote.quarter == quarter.key)
    ).first()


def _shown_actions(rows: list[ActionRow], quarter: Quarter, start: datetime) -> list[ActionRow]:
    """Carried-forward actions first (oldest quarter first), then the quarter's own."""
    carried = [row for row in rows if is_carried_into(row, quarter, start)]
    own = [row for row in rows if row.quarter == quarter]
    return carried + own


def qbr_actions(
    *, session: Session, customer_id: int, quarter: Quarter, timezone: str
) -> pd.DataFrame:
    """The actions the quarter's QBR shows, as they stand now, for the page's editor:
    carried-forward ones first, then the quarter's own (columns `EDITOR_COLUMNS`)."""
    start, _ = quarter.bounds(timezone)
    rows = _shown_actions(_action_rows(session, customer_id, quarter), quarter, start)
    return pd.DataFrame(
        [
            {
                "id": row.id,
                "agreed": row.quarter.label,
                "carried": row.quarter != quarter,
                "text": row.text,
                "owner": row.owner,
                "due_on": row.due_on,
                "done": row.done_at is not None,
                "done_at": row.done_at,
            }
            for row in rows
        ],
        columns=EDITOR_COLUMNS,
    )


def _date_text(day: date | None) -> str:
    return "" if day is None else day_text(day)


def _status(row: ActionRow, horizon: datetime, as_of: date) -> str:
    """The action's state at the horizon: overdue when its due day had passed by then."""
    if done_by(row, horizon):
        return f"Done {_date_text(row.done_at.date())}"
    if row.due_on is not None and row.due_on < as_of:
        return "Open, overdue"
    return "Open"


def _action_table(
    rows: list[ActionRow], quarter: Quarter, horizon: datetime, as_of: date
) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Action": row.text,
                "Owner": row.owner,
                "Due": _date_text(row.due_on),
                "Status": _status(row, horizon, as_of),
                "Agreed": "this quarter"
                if row.quarter == quarter
                else f"carried from {row.quarter.label}",
            }
            for row in rows
        ],
        columns=ACTION_COLUMNS,
    )


def notes_section(
    *, session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> Section:
    """The "Notes and agreed actions" section: the note as written, the actions (carried-forward
    open ones first, marked with the quarter that agreed them) with their state at the quarter's
    end (now while it runs), and how many were agreed, done and left open against the previous
    quarter. A quarter with no note and no actions says so in one sentence."""
    timezone = region_timezone(session=session, customer=customer)
    start, end = quarter.bounds(timezone)
    horizon = min(end, now)
    as_of = _local_today(timezone, horizon)
    all_rows = _action_rows(session, customer.id, quarter)
    rows = _shown_actions(all_rows, quarter, start)
    note = qbr_note(session=session, customer_id=customer.id, quarter=quarter)
    note_text = (note.text or "").strip() if note is not None else ""
    held_on = note.held_on if note is not None else None
    if not rows and not note_text and held_on is None:
        return Section(
            key=SECTION_KEY,
            title=SECTION_TITLE,
            empty=f"No notes or agreed actions for {quarter.label}.",
        )
    notes: list[str] = []
    if held_on is not None:
        notes.append(f"QBR held on {_date_text(held_on)}.")
    if note_text:
        notes.append(note_text)
    if not rows:  # a sentence, not three zeros
        notes.append(f"No actions agreed or carried into {quarter.label}.")
        return Section(key=SECTION_KEY, title=SECTION_TITLE, notes=tuple(notes))
    current = action_counts(all_rows, quarter, start, horizon)
    previous_quarter = quarter.previous()
    previous_start, previous_end = previous_quarter.bounds(timezone)
    before = action_counts(all_rows, previous_quarter, previous_start, previous_end)
    has_previous = previous_quarter.end_day > customer.hypercare_start
    figures = tuple(
        Figure(
            label=label,
            text=str(value),
            change=change_text(value, prior if has_previous else None),
            value=float(value),
            previous=float(prior) if has_previous else None,
            help=help_text,
        )
        for label, value, prior, help_text in (
            (
                "Actions agreed",
                current.agreed,
                before.agreed,
                "Actions agreed at this quarter's QBR.",
            ),
            (
                "Actions done",
                current.done,
                before.done,
                "Actions (carried forward or agreed this quarter) done during the quarter.",
            ),
            (
                "Actions open",
                current.open,
                before.open,
                "Actions not done by the end of the quarter (by now while it runs).",
            ),
        )
    )
    table = Table(title="Agreed actions", frame=_action_table(rows, quarter, horizon, as_of))
    return Section(
        key=SECTION_KEY,
        title=SECTION_TITLE,
        figures=figures,
        tables=(table,),
        notes=tuple(notes),
    )


# --- Commands ---------------------------------------------------------------------------------


def _local_today(timezone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def _reviewable(
    session: Session, customer: Customer, quarter: Quarter, now: datetime
) -> tuple[str, date]:
    """The customer's time zone and today there; refuses a quarter outside HyperCare or ahead."""
    timezone = region_timezone(session=session, customer=customer)
    today = _local_today(timezone, now)
    try:
        check_reviewable(quarter, hypercare_start=customer.hypercare_start, today=today)
    except BadQuarter as exc:
        raise CommandRefused(str(exc)) from None
    return timezone, today


def _locked_note(session: Session, customer_id: int, quarter: Quarter) -> QbrNote | None:
    return session.exec(
        for_update(
            select(QbrNote).where(
                QbrNote.customer_id == customer_id, QbrNote.quarter == quarter.key
            )
        )
    ).first()


def save_qbr_note(
    *,
    session: Session,
    actor: Actor,
    customer_id: int,
    quarter: Quarter,
    text: str,
    now: datetime | None = None,
) -> QbrNote:
    """Write the quarter's note (one per customer and quarter, edited in place); an existing note
    may be emptied, a new one needs text."""
    customer = authorise(session, actor, roles=QBR_ROLES, customer_id=customer_id)
    moment = utc_moment(now, refusal=UNAWARE_NOW)
    _reviewable(session, customer, quarter, moment)
    note = _locked_note(session, customer_id, quarter)
    cleaned = required_text(text, what="note", limit=NOTE_MAX_CHARS, required=note is None)
    previous_length = None if note is None else len(note.text or "")
    if note is None:
        note = QbrNote(
            customer_id=customer_id,
            quarter=quarter.key,
            author_id=actor.id,
            at=moment,
            text=cleaned,
        )
    else:
        note.text, note.author_id, note.at = cleaned, actor.id, moment
    session.add(note)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action="save_qbr_note",
        entity="qbr_note",
        entity_id=note.id,
        detail={
            "customer_id": customer_id,
            "quarter": quarter.key,
            "chars": len(cleaned),
            "previous_chars": previous_length,
        },
    )
    return note


def record_qbr_held(
    *,
    session: Session,
    actor: Actor,
    customer_id: int,
    quarter: Quarter,
    held_on: date,
    now: datetime | None = None,
) -> QbrNote:
    """Record the day the quarter's QBR was held. The first time, this uses one QBR input from the
    allowance of the subscription year the meeting fell in (refused when none is left, which is
    always the case on Basic); correcting the day later uses nothing more.

    Tricky edge: the debit is dated the meeting day, not the day it was typed in, so a QBR held on
    the last day of a subscription year counts in that year.
    """
    customer = authorise(session, actor, roles=QBR_ROLES, customer_id=customer_id)
    moment = utc_moment(now, refusal=UNAWARE_NOW)
    _, today = _reviewable(session, customer, quarter, moment)
    if not quarter.contains(held_on):
        raise CommandRefused(
            f"{_date_text(held_on)} is not in {quarter.label}; choose a day from "
            f"{_date_text(quarter.first_day)} to {_date_text(quarter.last_day)}."
        )
    if held_on > today:
        raise CommandRefused("A QBR cannot be recorded as held on a day still to come.")
    if held_on < customer.hypercare_start:
        raise CommandRefused(
            f"{_date_text(held_on)} is before the HyperCare start on "
            f"{_date_text(customer.hypercare_start)}."
        )
    note = _locked_note(session, customer_id, quarter)
    first_time = note is None or note.held_on is None
    previous = None if note is None else note.held_on
    if note is None:
        note = QbrNote(
            customer_id=customer_id,
            quarter=quarter.key,
            author_id=actor.id,
            at=moment,
            text="",
        )
    if not first_time and previous == held_on:
        raise CommandRefused(f"The {quarter.label} QBR is already recorded as held on that day.")
    note.held_on = held_on
    session.add(note)
    session.flush()
    if first_time:
        debit_entitlement(
            session=session,
            customer_id=customer_id,
            kind=Entitlement.QBR_INPUT.value,
            actor=actor,
            reason=f"QBR for {quarter.label} held on {held_on.isoformat()}",
            now=datetime.combine(held_on, time(12), tzinfo=UTC),
        )
    record_audit(
        session=session,
        actor=actor.username,
        action="record_qbr_held",
        entity="qbr_note",
        entity_id=note.id,
        detail={
            "customer_id": customer_id,
            "quarter": quarter.key,
            "held_on": held_on,
            "previous_held_on": previous,
            "debited": first_time,
        },
    )
    return note


def _action_fields(
    text: str, owner: str, due_on: date | None, quarter: Quarter
) -> tuple[str, str, date | None]:
    """An action's text and owner, cleaned, and its due date, refused when before the quarter
    whose QBR agreed it began."""
    cleaned_text = required_text(text, what="action", limit=TEXT_MAX_CHARS)
    cleaned_owner = required_text(owner, what="owner", limit=OWNER_MAX_CHARS)
    if due_on is not None and due_on < quarter.first_day:
        raise CommandRefused(
            f"The due date {_date_text(due_on)} is before {quarter.label} began; "
            "choose a later day."
        )
    return cleaned_text, cleaned_owner, due_on


def add_qbr_action(
    *,
    session: Session,
    actor: Actor,
    customer_id: int,
    quarter: Quarter,
    text: str,
    owner: str,
    due_on: date | None,
    now: datetime | None = None,
) -> QbrAction:
    """Add an action agreed at the quarter's QBR (what, who owns it, by when)."""
    customer = authorise(session, actor, roles=QBR_ROLES, customer_id=customer_id)
    moment = utc_moment(now, refusal=UNAWARE_NOW)
    _reviewable(session, customer, quarter, moment)
    cleaned_text, cleaned_owner, due = _action_fields(text, owner, due_on, quarter)
    action = QbrAction(
        customer_id=customer_id,
        quarter=quarter.key,
        text=cleaned_text,
        owner=cleaned_owner,
        due_on=due,
        created_by_id=actor.id,
        created_at=moment,
        updated_at=moment,
    )
    session.add(action)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action="add_qbr_action",
        entity="qbr_action",
        entity_id=action.id,
        detail={
            "customer_id": customer_id,
            "quarter": quarter.key,
            "owner": cleaned_owner,
            "due_on": due,
        },
    )
    return action


def _locked_action(session: Session, actor: Actor, action_id: int) -> QbrAction:
    """The action, locked, after checking the actor may act on its customer."""
    action, _ = authorise_row(
        session,
        actor,
        QbrAction,
        action_id,
        roles=QBR_ROLES,
        missing=f"There is no QBR action #{action_id}.",
    )
    return action


def set_qbr_action_done(
    *,
    session: Session,
    actor: Actor,
    action_id: int,
    done: bool,
    now: datetime | None = None,
) -> QbrAction:
    """Tick an action done (stamped now) or open it again."""
    action = _locked_action(session, actor, action_id)
    moment = utc_moment(now, refusal=UNAWARE_NOW)
    if action.done == done:
        state = "done" if done else "open"
        raise CommandRefused(f"That action is already {state}.")
    action.done = done
    action.done_at = moment if done else None
    action.updated_at = moment
    session.add(action)
    record_audit(
        session=session,
        actor=actor.username,
        action="set_qbr_action_done",
        entity="qbr_action",
        entity_id=action.id,
        detail={"customer_id": action.customer_id, "quarter": action.quarter, "done": done},
    )
    return action


def edit_qbr_action(
    *,
    session: Session,
    actor: Actor,
    action_id: int,
    text: str,
    owner: str,
    due_on: date | None,
    now: datetime | None = None,
) -> QbrAction:
    """Change an action's wording, owner or due date."""
    action = _locked_action(session, actor, action_id)
    moment = utc_moment(now, refusal=UNAWARE_NOW)
    cleaned_text, cleaned_owner, due = _action_fields(
        text, owner, due_on, Quarter.parse(action.quarter)
    )
    before = {"text": action.text, "owner": action.owner, "due_on": action.due_on}
    action.text, action.owner, action.due_on = cleaned_text, cleaned_owner, due
    action.updated_at = moment
    session.add(action)
    record_audit(
        session=session,
        actor=actor.username,
        action="edit_qbr_action",
        entity="qbr_action",
        entity_id=action.id,
        detail={
            "customer_id": action.customer_id,
            "quarter": action.quarter,
            "before": before,
            "after": {"text": cleaned_text, "owner": cleaned_owner, "due_on": due},
        },
    )
    return action
