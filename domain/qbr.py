"""The QBR as data: sections of figures, tables and charts that the page and the PDF both render.

One function (`data_access.qbr.qbr_report`) computes a `QbrReport`; the page draws it with
Streamlit and the document with fpdf2, so the screen and the paper cannot disagree. Every figure
carries the quarter's value and the previous quarter's, already formatted, so both renderers show
the same text. A section with nothing to show carries one sentence (`empty`) instead of zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from domain.quarters import Quarter


@dataclass(frozen=True)
class Figure:
    """One headline number: `text` is the quarter's value as shown, `change` against the previous
    quarter as shown ("+3", "−4.5 pts", "no change", "" when there is nothing to compare)."""

    label: str
    text: str
    change: str = ""
    value: float | None = None
    previous: float | None = None
    help: str = ""


@dataclass(frozen=True)
class Table:
    """A small table: `frame` holds display-ready columns (already formatted text where needed)."""

    title: str
    frame: pd.DataFrame


@dataclass(frozen=True)
class Chart:
    """A chart named by `kind` (built by `reports.qbr_charts.build_chart`) over `data`."""

    kind: str
    title: str
    data: pd.DataFrame


@dataclass(frozen=True)
class Section:
    key: str  # headline, cases, sla, entitlements, monitoring, usage, adoption, coe, events, notes
    title: str
    figures: tuple[Figure, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    notes: tuple[str, ...] = ()  # sentences shown under the figures (exclusions, caveats)
    empty: str | None = None  # one sentence when the section has no data for the quarter

    @property
    def is_empty(self) -> bool:
        return self.empty is not None


@dataclass(frozen=True)
class QbrReport:
    customer_id: int
    customer_name: str
    quarter: Quarter
    previous: Quarter
    to_date: bool  # the quarter is still running: figures are "to date"
    timezone: str  # the customer's region time zone, in which the quarter is counted
    generated_at: datetime
    sections: tuple[Section, ...] = field(default=())

    def section(self, key: str) -> Section:
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)

    @property
    def title(self) -> str:
        suffix = " (to date)" if self.to_date else ""
        return f"{self.customer_name} · {self.quarter.label}{suffix}"


def change_text(current: float | None, previous: float | None, *, unit: str = "") -> str:
    """The change against the previous quarter as shown: "+3", "−2.5 pts", "no change", or ""
    when either side is missing (never a change from or to nothing)."""
    if current is None or previous is None:
        return ""
    delta = current - previous
    if abs(delta) < 1e-9:
        return "no change"
    magnitude = abs(delta)
    number = f"{magnitude:,.0f}" if float(magnitude).is_integer() else f"{magnitude:,.1f}"
    sign = "+" if delta > 0 else "\u2212"
    return f"{sign}{number}{unit} vs previous quarter"


def plural(count: int, noun: str) -> str:
    """A count with its noun: "1 case", "4 cases" (nouns that take an s)."""
    return f"{count:,} {noun if count == 1 else noun + 's'}"


def share_text(part: int, whole: int) -> str:
    """A share as shown: "92% (46 of 50)", or "—" when there is nothing to count (never "0%" of
    nothing)."""
    if not whole:
        return "—"
    return f"{100 * part / whole:.0f}% ({part:,} of {whole:,})"


def days_text(days: float | None) -> str:
    """Business days as shown: "1.5 business days", "—" when unknown."""
    if days is None:
        return "—"
    return f"{days:,.1f} business day{'' if round(days, 1) == 1 else 's'}"
