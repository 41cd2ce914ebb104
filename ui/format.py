"""Small named formatters pages use instead of inline formatting."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd


def local_time_text(moment: datetime | pd.Timestamp | None, timezone: str) -> str:
    """'28 Nov 2026 14:05' in `timezone`; an empty string for a missing time."""
    if moment is None or pd.isna(moment):
        return ""
    return pd.Timestamp(moment).tz_convert(ZoneInfo(timezone)).strftime("%d %b %Y %H:%M")


def to_zone(values: pd.Series, timezone: str) -> pd.Series:
    """A column of aware UTC times shown in `timezone` (what a datetime column should display)."""
    return pd.to_datetime(values, utc=True).dt.tz_convert(timezone)


def date_text(value) -> str:
    if value is None or pd.isna(value):
        return ""
    return pd.Timestamp(value).strftime("%d %b %Y")


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain_markdown(text: str) -> str:
    """`text` escaped so Markdown shows it literally (names typed by people, not formatting)."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)
