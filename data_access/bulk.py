"""Fast bulk loading of DataFrames: executemany on SQLite, COPY on PostgreSQL.

Used by the seeder and the metric loader, where one ORM object per row would take minutes.
Values are written in the same representation SQLAlchemy uses, so the ORM reads them back as
aware UTC datetimes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table


def _sqlite_column(values: pd.Series) -> np.ndarray | list:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        utc = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        text = np.char.replace(np.datetime_as_string(utc, unit="us"), "T", " ").astype(object)
        text[pd.isna(values).to_numpy()] = None
        return text
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        raise ValueError(f"column {values.name!r} holds naive datetimes; localise them to UTC")
    if values.dtype == bool:
        return values.astype(int).tolist()
    return values.astype(object).where(values.notna(), None).tolist()


def _copy_text(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        text = values.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d %H:%M:%S.%f+00")
    elif values.dtype == bool:
        text = values.map({True: "t", False: "f"})
    else:
        text = values.astype(object).map(_escape_copy)
    return text.where(values.notna(), r"\N")


def _escape_copy(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return r"\N"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def bulk_insert(connection: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Insert every row of `frame` (columns named as the table's) inside the caller's transaction."""
    if frame.empty:
        return 0
    columns = list(frame.columns)
    missing = [name for name in columns if name not in table.columns]
    if missing:
        raise ValueError(f"{table.name} has no column {missing[0]!r}")
    quoted = ", ".join(f'"{name}"' for name in columns)
    if connection.dialect.name == "postgresql":
        text_columns = [_copy_text(frame[name]).tolist() for name in columns]
        payload = "".join("\t".join(row) + "\n" for row in zip(*text_columns, strict=True))
        raw = connection.connection.driver_connection
        with (
            raw.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy,
        ):
            copy.write(payload)
        return len(frame)
    placeholders = ", ".join("?" for _ in columns)
    data = list(zip(*(_sqlite_column(frame[name]) for name in columns), strict=True))
    connection.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({quoted}) VALUES ({placeholders})', data
    )
    return len(frame)


def reset_sequences(connection: Connection, tables: list[Table]) -> None:
    """After COPY with explicit ids, move PostgreSQL's id sequences past the largest id."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        if "id" not in table.columns:
            continue
        connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
            f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
        )
