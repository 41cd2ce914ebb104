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
