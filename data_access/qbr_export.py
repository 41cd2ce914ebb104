"""Write QBR documents (PDF) from the command line: one customer's, or a whole quarter's at once.

Run:
    python -m data_access.qbr_export --customer-id ID --quarter 2026Q3 --out FILE.pdf
    python -m data_access.qbr_export --all --quarter 2026Q3 --out-dir DIR

The database is `DATABASE_URL` (or `--database-url`), as for every other command. Whoever has
shell access here is an operator and sees every customer. The numbers come from the same
`qbr_report` the QBR page shows, drawn by `reports.qbr_document.qbr_pdf`.

Bad input (an unknown customer, a malformed quarter, a quarter before the customer's HyperCare
start or in the future) is refused with one sentence and exit status 2, and no file is written.
A PDF is written to a temporary file beside its target and renamed into place when complete, so
an interrupted run never leaves half a document under the real name. `--all` writes one PDF per
active customer whose HyperCare started before the quarter ended, named
`<id>-<name-as-slug>-<quarter>.pdf`; a customer whose quarter cannot be reviewed is skipped
with a line saying why.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from data_access.audit import CommandRefused
from data_access.models import Customer, Region
from data_access.scope import Scope
from domain.quarters import BadQuarter, Quarter, check_reviewable

OPERATOR = Scope(user_id=0, all_customers=True)
"""The person at the shell: no portfolio of their own, every customer in view."""

BAD_INPUT = 2
FAILED = 1


class ExportRefused(Exception):
    """Input that cannot be exported; the message is one sentence."""


@dataclass(frozen=True)
class ExportCustomer:
    id: int
    name: str
    hypercare_start: date
    timezone: str


def slug(name: str) -> str:
    """A file-name-safe form of a customer's name: 'Zoë & Co. GmbH' becomes 'zoe-co-gmbh'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return words[:60].rstrip("-") or "customer"


def file_name(customer_id: int, name: str, quarter: Quarter) -> str:
    """`12-acme-planning-2026Q3.pdf`: the id keeps two customers with similar names apart."""
    return f"{customer_id}-{slug(name)}-{quarter.code}.pdf"


def write_atomically(target: Path, content: bytes) -> None:
    """Write `content` to `target` through a temporary file in the same folder and a rename, so
    the target is either the old file, absent, or the complete new one."""
    descriptor, name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    partial = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        partial.chmod(0o666 & ~umask)  # as any new file (mkstemp makes it private)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def customer_pdf(*, session: Session, customer_id: int, quarter: Quarter) -> tuple[str, bytes]:
    """The customer's name and their QBR document for `quarter`, as the operator sees it.

    Raises `ExportRefused` for an unknown customer or a quarter that cannot be reviewed.
    """
    from data_access.qbr import qbr_report
    from reports.qbr_document import qbr_pdf

    try:
        report = qbr_report(
            session=session, customer_id=customer_id, quarter=quarter, scope=OPERATOR
        )
    except (CommandRefused, BadQuarter) as exc:
        raise ExportRefused(str(exc)) from exc
    return report.customer_name, qbr_pdf(report)


def reviewable_customers(*, session: Session, quarter: Quarter) -> list[ExportCustomer]:
    """Active customers whose HyperCare started before `quarter` ended, by id."""
    rows = session.exec(
        select(Customer.id, Customer.name, Customer.hypercare_start, Region.timezone)
        .join(Region, Region.id == Customer.region_id)
        .where(Customer.is_active, Customer.hypercare_start < quarter.end_day)
        .order_by(Customer.id)
    ).all()
    return [ExportCustomer(*row) for row in rows]


def check_started_somewhere(quarter: Quarter, timezones: list[str], now: datetime) -> None:
    """Refuse a quarter that has not started in any of the customers' time zones."""
    zones = timezones or ["UTC"]
    today = max(now.astimezone(ZoneInfo(zone)).date() for zone in zones)
    check_reviewable(quarter, hypercare_start=quarter.first_day, today=today)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m data_access.qbr_export",
        description="Write QBR documents (PDF) for one customer or every customer.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--customer-id", type=int, help="the customer's id")
    which.add_argument("--all", action="store_true", help="every active customer, one PDF each")
    parser.add_argument("--quarter", required=True, help="the quarter, e.g. 2026Q3")
    parser.add_argument("--out", type=Path, help="the PDF to write (with --customer-id)")
    parser.add_argument("--out-dir", type=Path, help="the folder to write into (with --all)")
    parser.add_argument(
        "--database-url", default=None, help="database address (default: DATABASE_URL or SQLite)"
    )
    args = parser.parse_args(argv)
    if args.all and (args.out_dir is None or args.out is not None):
        parser.error("--all writes one file per customer: give --out-dir DIR, not --out")
    if not args.all and (args.out is None or args.out_dir is not None):
        parser.error("--customer-id writes one file: give --out FILE.pdf, not --out-dir")
    return args


def _check_out_file(out: Path) -> None:
    if out.is_dir():
        raise ExportRefused(f"{out} is a folder; give the PDF's file name, e.g. {out}/qbr.pdf.")
    if not out.parent.is_dir():
        raise ExportRefused(f"The folder {out.parent} does not exist; create it first.")


def _export_one(engine, customer_id: int, quarter: Quarter, out: Path) -> int:
    _check_out_file(out)
    with Session(engine) as session:
        name, pdf = customer_pdf(session=session, customer_id=customer_id, quarter=quarter)
    write_atomically(out, pdf)
    print(f"Wrote the {quarter.label} QBR for {name} to {out}.")
    return 0


def _export_all(engine, quarter: Quarter, out_dir: Path) -> int:
    from tqdm import tqdm

    if out_dir.exists() and not out_dir.is_dir():
        raise ExportRefused(f"{out_dir} is a file, not a folder; give a folder for the PDFs.")
    with Session(engine) as session:
        customers = reviewable_customers(session=session, quarter=quarter)
        check_started_somewhere(quarter, [c.timezone for c in customers], datetime.now(UTC))
        if not customers:
            raise ExportRefused(
                f"No active customer's HyperCare had started by the end of {quarter.label}; "
                "choose a later quarter."
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        written, skipped = 0, 0
        for customer in tqdm(customers, unit="customer", desc=f"QBR {quarter.code}", disable=None):
            try:
                _name, pdf = customer_pdf(session=session, customer_id=customer.id, quarter=quarter)
            except ExportRefused as exc:
                tqdm.write(f"Skipped {customer.id} {customer.name}: {exc}")
                skipped += 1
                continue
            write_atomically(out_dir / file_name(customer.id, customer.name, quarter), pdf)
            written += 1
    print(
        f"Wrote {written} QBR document{'' if written == 1 else 's'} for {quarter.label} "
        f"to {out_dir}; skipped {skipped}."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    from data_access.db import DatabaseUnavailable, connected_engine
    from reports.qbr_document import DocumentFontMissing, font_files

    args = _parse_args(argv)
    try:
        font_files()
    except DocumentFontMissing as exc:
        print(exc, file=sys.stderr)
        return FAILED
    try:
        quarter = Quarter.parse(args.quarter)
        engine = connected_engine(args.database_url)
    except (BadQuarter, DatabaseUnavailable) as exc:
        print(exc, file=sys.stderr)
        return BAD_INPUT
    try:
        if args.all:
            return _export_all(engine, quarter, args.out_dir)
        return _export_one(engine, args.customer_id, quarter, args.out)
    except (ExportRefused, BadQuarter) as exc:
        print(exc, file=sys.stderr)
        return BAD_INPUT
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
