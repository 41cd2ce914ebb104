"""Load daily model metrics from a CSV file: every row checked, then all rows or none.

Run: `python -m data_access.metric_loader FILE.csv [--database-url URL]`; the admin page
"Metric upload" calls the same `load_metric_csv`.

The file: a header line naming `model_id`, `day` (YYYY-MM-DD) and the seven metrics of
`domain.monitoring.METRICS` (durations in seconds, counts as whole numbers), plus an optional
`model_name` that, when filled in, must match the model (a guard against shifted ids). A blank
metric is a missing value. Each row replaces the stored figures of its model and day, so loading
a file twice changes nothing and a corrected file replaces the old values. Every problem is
reported as "line N: reason" with the file's own line numbers (the header is line 1), and a file
with any problem is refused as a whole.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused, record_audit
from data_access.models import ModelMetricDaily, PlanningModel
from domain.monitoring import COUNT_METRICS, METRICS
from domain.roles import Role

REQUIRED_COLUMNS: tuple[str, ...] = ("model_id", "day", *METRICS)
OPTIONAL_COLUMNS: tuple[str, ...] = ("model_name",)
WRITE_BATCH = 5_000
_LOOKUP_BATCH = 5_000

Progress = Callable[[float, str], None]

EARLIEST_DAY = date(2000, 1, 1)
"""No planning model has figures before this day; an earlier day is a typing error."""
MAX_COUNT = 2**31 - 1
"""The largest count a day can hold (a 32-bit integer column on PostgreSQL)."""
MAX_SECONDS = 10**12
"""No duration in a day's figures comes near this; larger values would overflow sums."""


def _iso_day(text: object) -> date | None:
    """`YYYY-MM-DD` as a date (any year 1–9999), None when it is no calendar day."""
    if not isinstance(text, str):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _no_progress(_fraction: float, _what: str) -> None:
    return None


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class FileRefused(CommandRefused):
    """A CSV refused as a whole: `errors` lists every problem with its line number, and the
    message counts them. Subclasses say what was not done and how the first problem reads."""

    not_done = "nothing was loaded"

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        rows = len({error.line for error in errors})
        super().__init__(
            f"The file was refused and {self.not_done}: {len(errors)} problem"
            f"{'' if len(errors) == 1 else 's'} on {rows} line{'' if rows == 1 else 's'}, "
            f"the first on {self.first_text(errors[0])}."
        )

    @staticmethod
    def first_text(first: LineError) -> str:
        return str(first)


class MetricFileRefused(FileRefused):
    """The metric file has problems; the message quotes the first one."""


@dataclass(frozen=True)
class LoadReport:
    """What a load did: rows read, and how many were new, changed or already stored."""

    rows: int
    inserted: int
    updated: int
    unchanged: int
    models: int
    first_day: date
    last_day: date


def csv_text(source: bytes | str | Path, *, refused: type[FileRefused]) -> str:
    """An uploaded CSV as text: UTF-8 with or without a byte-order mark, else `refused` naming the
    line where the first undecodable byte stands."""
    if isinstance(source, Path):
        source = source.read_bytes()
    if isinstance(source, bytes):
        try:
            return source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = source[: exc.start].count(b"\n") + 1
            raise refused([LineError(line, "the file is not UTF-8 text")]) from exc
    return source.removeprefix("\ufeff")


def read_csv(
    text: str,
    *,
    refused: type[FileRefused],
    required: Sequence[str],
    progress: Progress = _no_progress,
) -> tuple[list[str], list[list[str]], list[int], list[LineError]]:
    """An uploaded CSV's header (names stripped), its well-formed rows with their line numbers,
    and the problems of the other rows (unreadable, or the wrong field count); blank lines are
    not rows. `refused` when there is no header or it cannot be read."""
    reader = csv.reader(io.StringIO(text, newline=""))
    total_lines = max(text.count("\n"), 1)
    try:
        header = next(reader)
    except StopIteration:
        raise refused(
            [LineError(1, f"the file is empty; expected a header with {', '.join(required)}")]
        ) from None
    except csv.Error as exc:
        raise refused([LineError(1, f"the header cannot be read ({exc})")]) from None
    header = [name.strip() for name in header]
    rows, lines, errors = [], [], []
    start, read = reader.line_num + 1, 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(LineError(start, f"the row cannot be read ({exc})"))
            start = reader.line_num + 1
            continue
        if not row or all(not field.strip() for field in row):
            start = reader.line_num + 1
            continue  # blank lines (e.g. a trailing newline) are not rows
        if len(row) != len(header):
            errors.append(
                LineError(
                    start, f"expected {len(header)} fields as in the header, found {len(row)}"
                )
            )
        else:
            rows.append(row)
            lines.append(start)
        start, read = reader.line_num + 1, read + 1
        if read % 10_000 == 0:
            progress(0.3 * min(reader.line_num / total_lines, 1.0), "Reading the file")
    return header, rows, lines, errors


def header_errors(
    header: list[str], *, required: Iterable[str], optional: Iterable[str]
) -> list[LineError]:
    """The header's problems, all on line 1: required columns missing, columns neither required
    nor optional, and columns named more than once."""
    required = list(required)
    known = {*required, *optional}
    errors = []
    missing = [name for name in required if name not in header]
    if missing:
        errors.append(
            LineError(1, f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        )
    unknown = [name for name in header if name not in known]
    if unknown:
        errors.append(
            LineError(1, f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        errors.append(LineError(1, f"column {', '.join(repeated)} appears more than once"))
    return errors


def _models(session: Session, ids: list[int]) -> pd.DataFrame:
    frames = []
    for first in range(0, len(ids), _LOOKUP_BATCH):
        statement = select(PlanningModel.id, PlanningModel.name, PlanningModel.is_production).where(
            PlanningModel.id.in_(ids[first : first + _LOOKUP_BATCH])
        )
        frames.append(pd.read_sql(statement, session.connection()))
    if not frames:
        return pd.DataFrame({"name": [], "is_production": []}, index=pd.Index([], name="id"))
    return pd.concat(frames).set_index("id")


def _validated(
    session: Session, header: list[str], rows: list[list[str]], lines: list[int], today: date
) -> tuple[pd.DataFrame, list[LineError]]:
    """The rows as typed values, and every problem found in them."""
    raw = pd.DataFrame(rows, columns=header, dtype=object).apply(lambda c: c.str.strip())
    line = np.asarray(lines)
    errors: list[LineError] = []

    def refuse(mask: pd.Series | np.ndarray, reason: Callable[[int], str]) -> None:
        for position in np.flatnonzero(np.asarray(mask)):
            errors.append(LineError(int(line[position]), reason(position)))

    typed = pd.DataFrame(index=raw.index)
    ids = raw["model_id"]
    id_ok = ids.str.fullmatch(r"\d{1,18}")
    refuse(~id_ok, lambda p: f"model_id {ids.iat[p]!r} is not a model id (a whole number)")
    typed["model_id"] = pd.to_numeric(ids.where(id_ok), errors="coerce").astype("Int64")
    known = _models(session, sorted(typed["model_id"].dropna().astype(int).unique().tolist()))
    found = typed["model_id"].isin(known.index)
    refuse(id_ok & ~found, lambda p: f"there is no model with id {ids.iat[p]}")
    model_ids = typed["model_id"].where(found)
    production = (
        model_ids.map(known["is_production"].astype(bool)).astype("boolean").fillna(False)
    ).to_numpy(dtype=bool)
    names = model_ids.map(known["name"])
    refuse(
        found & ~production,
        lambda p: f"model {ids.iat[p]} ({names.iat[p]}) is not a production model",
    )
    if "model_name" in raw:
        given = raw["model_name"]
        mismatch = found & (given != "") & (given != names.fillna(""))
        refuse(
            mismatch,
            lambda p: f"model {ids.iat[p]} is named {names.iat[p]!r}, not {given.iat[p]!r}",
        )

    days = raw["day"]
    calendar_days = days.where(days.str.fullmatch(r"\d{4}-\d{2}-\d{2}")).map(_iso_day)
    not_date = calendar_days.isna().to_numpy()
    refuse(not_date, lambda p: f"day {days.iat[p]!r} is not a date written YYYY-MM-DD")
    too_early = ~not_date & (calendar_days.fillna(EARLIEST_DAY) < EARLIEST_DAY).to_numpy()
    refuse(
        too_early,
        lambda p: f"day {days.iat[p]} is before {EARLIEST_DAY}, earlier than any product history",
    )
    future = ~not_date & (calendar_days.fillna(today) > today).to_numpy()
    refuse(future, lambda p: f"day {days.iat[p]} is in the future")
    typed["day"] = calendar_days

    for metric in METRICS:
        text = raw[metric]
        blank = text == ""
        numbers = pd.to_numeric(text.where(~blank), errors="coerce")
        finite = np.isfinite(numbers.to_numpy(dtype=float, na_value=np.nan))
        not_number = ~blank & ~finite
        refuse(not_number, lambda p, m=metric, t=text: f"{m} {t.iat[p]!r} is not a number")
        negative = finite & (numbers < 0)
        refuse(negative, lambda p, m=metric, t=text: f"{m} {t.iat[p]} is negative")
        limit = MAX_COUNT if metric in COUNT_METRICS else MAX_SECONDS
        too_large = finite & ~negative & (numbers > limit)
        refuse(
            too_large,
            lambda p, m=metric, t=text, most=limit: (
                f"{m} {t.iat[p]} is more than {most:,} "
                f"({'a count' if m in COUNT_METRICS else 'seconds'} no day can reach)"
            ),
        )
        if metric in COUNT_METRICS:
            fractional = finite & ~negative & ~too_large & (numbers % 1 != 0)
            refuse(fractional, lambda p, m=metric, t=text: f"{m} {t.iat[p]} is not a whole number")
        typed[metric] = numbers.where(finite & ~too_large)

    keyed = typed["model_id"].notna() & typed["day"].notna()
    keys = typed.loc[keyed, ["model_id", "day"]]
    repeated = keys.duplicated(keep="first")
    if repeated.any():
        first_line = (
            pd.Series(line[keyed.to_numpy()], index=keys.index)
            .groupby([keys["model_id"], keys["day"]])
            .transform("first")
        )
        for position in np.flatnonzero(repeated.to_numpy()):
            index = keys.index[position]
            errors.append(
                LineError(
                    int(line[index]),
                    f"model {keys.at[index, 'model_id']} on {keys.at[index, 'day']} already "
                    f"appears on line {int(first_line.at[index])}",
                )
            )
    errors.sort(key=lambda error: error.line)
    return typed, errors


def _stored(session: Session, typed: pd.DataFrame) -> pd.DataFrame:
    """The stored rows for the file's models and days, indexed by (model_id, day)."""
    table = ModelMetricDaily.__table__
    frames = []
    ids = sorted(typed["model_id"].astype(int).unique().tolist())
    first_day, last_day = min(typed["day"]), max(typed["day"])
    for first in range(0, len(ids), _LOOKUP_BATCH):
        statement = select(table.c.model_id, table.c.day, *(table.c[m] for m in METRICS)).where(
            table.c.model_id.in_(ids[first : first + _LOOKUP_BATCH]),
            table.c.day >= first_day,
            table.c.day <= last_day,
        )
        frames.append(pd.read_sql(statement, session.connection()))
    stored = pd.concat(frames, ignore_index=True)
    stored["day"] = pd.to_datetime(stored["day"].astype(str), format="%Y-%m-%d").dt.date
    return stored.set_index(["model_id", "day"])


def _same(left: pd.DataFrame, right: pd.DataFrame) -> np.ndarray:
    """Row by row: every metric equal, missing on both sides counting as equal."""
    a = left.to_numpy(dtype=float, na_value=np.nan)
    b = right.to_numpy(dtype=float, na_value=np.nan)
    return ((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1)


def _upsert(session: Session, table: Table, rows: list[dict], progress: Progress) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.model_id, table.c.day],
        set_={metric: statement.excluded[metric] for metric in METRICS},
    )
    for first in range(0, len(rows), WRITE_BATCH):
        session.execute(statement, rows[first : first + WRITE_BATCH])
        progress(0.5 + 0.5 * min(first + WRITE_BATCH, len(rows)) / len(rows), "Writing")


def _python(value: object, metric: str) -> float | int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return int(value) if metric in COUNT_METRICS else float(value)


def load_metric_csv(
    *,
    session: Session,
    actor: Actor,
    source: bytes | str | Path,
    file_name: str = "",
    today: date | None = None,
    progress: Progress = _no_progress,
) -> LoadReport:
    """Check every row of a metrics CSV and store them all, or raise `MetricFileRefused`.

    Writes in the caller's transaction (does not commit) and appends one audit row. Rows equal
    to what is stored are not rewritten, so a re-load writes nothing but the audit row. An admin
    only (the shell command acts as `Actor.system("metric_loader")`).
    """
    authorise(session, actor, roles=(Role.ADMIN,))
    today = today or datetime.now(UTC).date()
    text = csv_text(source, refused=MetricFileRefused)
    header, rows, lines, errors = read_csv(
        text, refused=MetricFileRefused, required=REQUIRED_COLUMNS, progress=progress
    )
    header_problems = header_errors(header, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS)
    if header_problems:
        raise MetricFileRefused(header_problems)
    if not rows and not errors:
        raise MetricFileRefused([LineError(2, "the file has a header but no rows")])
    progress(0.3, "Checking the rows")
    typed, row_errors = _validated(session, header, rows, lines, today) if rows else (None, [])
    errors = sorted(errors + row_errors, key=lambda error: error.line)
    if errors:
        raise MetricFileRefused(errors)
    progress(0.5, "Comparing with the stored figures")
    stored = _stored(session, typed)
    keys = pd.MultiIndex.from_frame(typed[["model_id", "day"]].astype({"model_id": int}))
    exists = keys.isin(stored.index)
    same = np.zeros(len(typed), dtype=bool)
    if exists.any():
        same[exists] = _same(
            typed.loc[exists, list(METRICS)], stored.loc[keys[exists], list(METRICS)]
        )
    changed = typed[~same]
    records = [
        {
            "model_id": int(row.model_id),
            "day": row.day,
            **{metric: _python(getattr(row, metric), metric) for metric in METRICS},
        }
        for row in changed.itertuples(index=False)
    ]
    if records:
        _upsert(session, ModelMetricDaily.__table__, records, progress)
    progress(1.0, "Done")
    report = LoadReport(
        rows=len(typed),
        inserted=int((~exists).sum()),
        updated=int((exists & ~same).sum()),
        unchanged=int(same.sum()),
        models=int(typed["model_id"].nunique()),
        first_day=min(typed["day"]),
        last_day=max(typed["day"]),
    )
    record_audit(
        session=session,
        actor=actor.username,
        action="load_metrics",
        entity="model_metric_daily",
        entity_id=None,
        detail=asdict(report) | {"file": file_name},
    )
    return report


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from data_access.db import DatabaseUnavailable, connected_engine, session_scope

    parser = argparse.ArgumentParser(
        prog="python -m data_access.metric_loader",
        description="Load daily model metrics from a CSV file (all rows or none; idempotent).",
    )
    parser.add_argument("file", type=Path, help="CSV file with model_id, day and the seven metrics")
    parser.add_argument(
        "--database-url", default=None, help="database address (default: DATABASE_URL or SQLite)"
    )
    args = parser.parse_args(argv)
    if not args.file.is_file():
        print(f"{args.file} is not a file.", file=sys.stderr)
        return 2
    try:
        engine = connected_engine(args.database_url)
    except DatabaseUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        with (
            tqdm(total=100, unit="%", desc="Loading", disable=None) as bar,
            session_scope(engine) as session,
        ):

            def advance(fraction: float, what: str) -> None:
                bar.set_description(what)
                bar.update(round(100 * fraction) - bar.n)

            report = load_metric_csv(
                session=session,
                actor=Actor.system("metric_loader"),
                source=args.file,
                file_name=args.file.name,
                progress=advance,
            )
    except MetricFileRefused as exc:
        print(exc, file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(
        f"Loaded {report.rows} rows for {report.models} models, {report.first_day} to "
        f"{report.last_day}: {report.inserted} new, {report.updated} changed, "
        f"{report.unchanged} unchanged."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
