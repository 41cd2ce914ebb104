"""Small named formatters pages use instead of inline formatting."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from zoneinfo import ZoneInfo, available_timezones

import pandas as pd

from domain.dates import day_text, moment_text

MISSING = "—"
"""What a page shows for a value that is not there, instead of a literal 'None' or 'nan'."""

DATE_COLUMN_FORMAT = "D MMM YYYY"
DATETIME_COLUMN_FORMAT = "D MMM YYYY HH:mm"
"""One date format everywhere: '1 Oct 2026' in text (`domain.dates`), the same in
`st.column_config` columns."""
DATE_INPUT_FORMAT = "DD/MM/YYYY"
"""Every date picker: day first, like the dates shown (`st.date_input` offers no month names)."""


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    """Every time zone this machine knows, sorted. Reading them walks the zone files on disk
    (about 10 ms), so it is done once per process, not on every run of a page that offers them."""
    return tuple(sorted(available_timezones()))


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def value_text(value, missing: str = MISSING) -> str:
    """A value as text, '—' when it is missing (None, NaN, NaT or an empty string)."""
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return missing
    return str(value)


def datetime_text(
    moment: datetime | pd.Timestamp | None, timezone: str, missing: str = MISSING
) -> str:
    """'28 Nov 2026 14:05' in `timezone`; '—' for a missing time."""
    if _missing(moment):
        return missing
    return moment_text(pd.Timestamp(moment).tz_convert(ZoneInfo(timezone)).to_pydatetime())


def local_time_text(moment: datetime | pd.Timestamp | None, timezone: str) -> str:
    """'28 Nov 2026 14:05' in `timezone`; an empty string for a missing time."""
    return datetime_text(moment, timezone, missing="")


def to_zone(values: pd.Series, timezone: str) -> pd.Series:
    """A column of aware UTC times shown in `timezone` (what a datetime column should display)."""
    return pd.to_datetime(values, utc=True).dt.tz_convert(timezone)


def date_text(value, missing: str = "") -> str:
    """'28 Nov 2026' for a date (or the calendar date of a timestamp); `missing` when absent."""
    if _missing(value):
        return missing
    return day_text(pd.Timestamp(value))


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain_markdown(text: str) -> str:
    """`text` escaped so Markdown shows it literally (names typed by people, not formatting)."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


_MARKUP_ANYWHERE = re.compile(r"([\\`*_\[\]<>~$|]|:(?=//))")
_MARKUP_AT_LINE_START = re.compile(r"^(\s*)(?:([#>+\-=])|(\d+)([.)]))", re.MULTILINE)


def _escape_line_start(match: re.Match) -> str:
    indent, mark, number, after_number = match.groups()
    return f"{indent}\\{mark}" if mark else f"{indent}{number}\\{after_number}"


def sentence_markdown(text: str) -> str:
    """A sentence that may quote people's text, escaped only where Markdown would act on it.

    Links, images, emphasis, code, HTML, maths and strikethrough need `[ ] * _ ` < > $ ~`, a
    bare address needs `://`; headings, quotes and lists need a line start. Full stops,
    hyphens, colons, parentheses and `#` inside a line stay as they are, so a refusal such as
    "case #12 was refused: …" reads as its sentence while a customer named `![x](https://…)`
    shows literally.
    """
    escaped = _MARKUP_ANYWHERE.sub(r"\\\1", text)
    return _MARKUP_AT_LINE_START.sub(_escape_line_start, escaped)


def contact_labels(contacts: pd.DataFrame) -> dict[int, str]:
    """Each contact's name by id; two contacts of the same name are told apart by their e-mail.

    Expects columns `id`, `name` and `email`. A namesake without an e-mail gets its id instead.
    """
    if contacts.empty:
        return {}
    shared = contacts["name"].duplicated(keep=False)
    labels: dict[int, str] = {}
    for row, namesake in zip(contacts.itertuples(), shared, strict=True):
        email = getattr(row, "email", None)
        if not namesake:
            labels[int(row.id)] = str(row.name)
        elif _missing(email) or not str(email).strip():
            labels[int(row.id)] = f"{row.name} (#{int(row.id)})"
        else:
            labels[int(row.id)] = f"{row.name} ({email})"
    return labels
