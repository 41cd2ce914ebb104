"""Actions agreed in QBRs: which ones a quarter's QBR carries forward, and its action counts.

Pure rules over small rows; `data_access.qbr_notes` reads the rows and builds the section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from domain.quarters import Quarter

TEXT_MAX_CHARS = 500
OWNER_MAX_CHARS = 120
NOTE_MAX_CHARS = 10_000


@dataclass(frozen=True)
class ActionRow:
    """One agreed action as the rules need it: the quarter whose QBR agreed it and when it was done."""

    id: int
    quarter: Quarter
    text: str
    owner: str
    due_on: date | None
    done_at: datetime | None  # None while open


def is_carried_into(action: ActionRow, quarter: Quarter, quarter_start: datetime) -> bool:
    """An action is carried forward into `quarter` when an earlier quarter's QBR agreed it and it
    was not done before `quarter` started (UTC instant of its first local midnight).

    Tricky edge: an action done during the quarter is still carried into it (it was open when the
    quarter began, and the QBR reports that it got done).
    """
    return action.quarter < quarter and (action.done_at is None or action.done_at >= quarter_start)


def done_by(action: ActionRow, moment: datetime) -> bool:
    """Whether the action had been done before `moment`."""
    return action.done_at is not None and action.done_at < moment


@dataclass(frozen=True)
class ActionCounts:
    """A quarter's actions: agreed at its QBR, done during it, and open at its end (or now)."""

    agreed: int
    done: int
    open: int


def action_counts(
    actions: list[ActionRow], quarter: Quarter, start: datetime, horizon: datetime
) -> ActionCounts:
    """Count the quarter's actions (carried in plus agreed in it) up to `horizon`, the quarter's
    end or now when it is still running: done means done in [start, horizon), open means not done
    by the horizon. Actions agreed in later quarters never count."""
    relevant = [a for a in actions if a.quarter == quarter or is_carried_into(a, quarter, start)]
    done = sum(1 for a in relevant if a.done_at is not None and start <= a.done_at < horizon)
    still_open = sum(1 for a in relevant if not done_by(a, horizon))
    return ActionCounts(
        agreed=sum(1 for a in relevant if a.quarter == quarter), done=done, open=still_open
    )


@dataclass(frozen=True)
class ActionEdit:
    """One change made to a saved action in the page's table: new wording/owner/due, or done."""

    action_id: int
    text: str | None = None  # set (with owner and due_on) when the wording, owner or due changed
    owner: str | None = None
    due_on: date | None = None
    done: bool | None = None  # set when ticked or unticked


def action_edits(before: list[dict], after: list[dict]) -> list[ActionEdit]:
    """The changes between the saved actions and the edited table, row by row (same order, same
    ids; rows are neither added nor removed there). A row whose wording, owner or due date changed
    gives one edit with all three; a row ticked or unticked gives one with `done`.

    Tricky edge: surrounding spaces do not count as a change, so a row nobody touched never
    produces an edit (the table hands back what it was given)."""
    edits = []
    for old, new in zip(before, after, strict=True):
        if old["id"] != new["id"]:
            raise ValueError("The edited actions are not in the order they were given.")
        fields = (str(new["text"] or "").strip(), str(new["owner"] or "").strip(), new["due_on"])
        if fields != (str(old["text"]).strip(), str(old["owner"]).strip(), old["due_on"]):
            edits.append(
                ActionEdit(action_id=old["id"], text=fields[0], owner=fields[1], due_on=fields[2])
            )
        if bool(new["done"]) != bool(old["done"]):
            edits.append(ActionEdit(action_id=old["id"], done=bool(new["done"])))
    return edits
