"""CSV that a spreadsheet opens as data: cells that would run as formulas are quoted as text.

Case subjects, names and comments come from customers; a cell starting with `=`, `+`, `-`, `@`, a
tab or a carriage return is a formula to Excel and LibreOffice. Every CSV the product writes goes
through `csv_bytes`, which prefixes such text cells with an apostrophe. Numbers are left alone: a
negative number is data, not a formula.
"""

from __future__ import annotations

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Text that a spreadsheet would run as a formula, quoted so it stays text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV (with a byte-order mark, so Excel reads accents), formula-safe."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise)
    safe.columns = [str(neutralise(str(name))) for name in safe.columns]
    return safe.to_csv(index=False).encode("utf-8-sig")
