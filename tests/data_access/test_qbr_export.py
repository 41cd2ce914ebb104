"""The QBR export command on a seeded database: the PDF carries the report's figures and only its
customer's name; bad input is one sentence, exit status 2 and no file."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from data_access import qbr_export
from data_access.db import make_engine
from data_access.migrate import upgrade
from data_access.models import Customer
from data_access.qbr import qbr_report
from data_access.qbr_export import OPERATOR, file_name, main, slug, write_atomically
from domain.quarters import Quarter
from tests.conftest import small_seed

QUARTER = Quarter(2026, 4)


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory) -> str:
    """One seeded SQLite file for the module: the command only reads it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'export.db'}"
    engine = make_engine(url)
    upgrade(engine)
    small_seed(engine)
    engine.dispose()
    return url


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def customers(url: str) -> list[Customer]:
    engine = make_engine(url)
    with Session(engine) as session:
        rows = session.exec(select(Customer).order_by(Customer.id)).all()
    engine.dispose()
    return list(rows)


def reviewed_customer(url: str) -> Customer:
    """A customer whose HyperCare started before QUARTER's previous quarter."""
    return next(c for c in customers(url) if c.hypercare_start < QUARTER.previous().first_day)


def pdf_text(path: Path) -> str:
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def one_sentence(text: str) -> bool:
    stripped = text.strip()
    return "\n" not in stripped and stripped.endswith(".") and len(stripped) > 10


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_one_customer_pdf_holds_its_figures_and_no_other_customers_name(
    seeded: Engine, tmp_path, capsys
):
    url = url_of(seeded)
    customer = reviewed_customer(url)
    out = tmp_path / "qbr.pdf"

    status, printed, errors = run(
        capsys,
        "--customer-id",
        str(customer.id),
        "--quarter",
        QUARTER.code,
        "--out",
        str(out),
        "--database-url",
        url,
    )

    assert status == 0, errors
    assert customer.name in printed
    text = pdf_text(out)
    assert customer.name in text
    with Session(seeded) as session:
        report = qbr_report(
            session=session, customer_id=customer.id, quarter=QUARTER, scope=OPERATOR
        )
    figures = [figure for section in report.sections for figure in section.figures]
    assert figures
    for figure in figures:
        assert " ".join(figure.label.split()) in text
        assert " ".join(figure.text.split()) in text
    for section in report.sections:
        assert section.title in text
    others = [c.name for c in customers(url) if c.id != customer.id]
    assert [name for name in others if name in text.replace(customer.name, "")] == []
    assert list(tmp_path.iterdir()) == [out]


def test_the_database_comes_from_database_url(seeded_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", seeded_file)
    customer = reviewed_customer(seeded_file)
    out = tmp_path / "qbr.pdf"

    status, _printed, errors = run(
        capsys, "--customer-id", str(customer.id), "--quarter", "2026-q4", "--out", str(out)
    )

    assert status == 0, errors
    assert customer.name in pdf_text(out)


def refused(capsys, out: Path, *argv: str) -> str:
    status, printed, errors = run(capsys, *argv)
    assert status == 2
    assert printed == ""
    assert one_sentence(errors), errors
    assert not out.exists()
    assert list(out.parent.iterdir()) == []
    return errors


def test_an_unknown_customer_is_refused_without_a_file(seeded_file, tmp_path, capsys):
    unknown = max(c.id for c in customers(seeded_file)) + 1000
    out = tmp_path / "qbr.pdf"

    refused(
        capsys,
        out,
        *("--customer-id", str(unknown), "--quarter", QUARTER.code, "--out", str(out)),
        *("--database-url", seeded_file),
    )


@pytest.mark.parametrize("quarter", ["2026Q5", "Q3", "2026-13", "next quarter"])
def test_a_malformed_quarter_is_refused_without_a_file(seeded_file, tmp_path, capsys, quarter):
    customer = reviewed_customer(seeded_file)
    out = tmp_path / "qbr.pdf"

    errors = refused(
        capsys,
        out,
        *("--customer-id", str(customer.id), "--quarter", quarter, "--out", str(out)),
        *("--database-url", seeded_file),
    )
    assert "2026Q3" in errors  # says how to write one


def test_a_quarter_before_the_hypercare_start_is_refused_without_a_file(
    seeded_file, tmp_path, capsys
):
    customer = reviewed_customer(seeded_file)
    before = Quarter.containing(customer.hypercare_start).previous()
    out = tmp_path / "qbr.pdf"

    errors = refused(
        capsys,
        out,
        *("--customer-id", str(customer.id), "--quarter", before.code, "--out", str(out)),
        *("--database-url", seeded_file),
    )
    assert customer.hypercare_start.isoformat() in errors


def test_a_future_quarter_is_refused_without_a_file(seeded_file, tmp_path, capsys):
    customer = reviewed_customer(seeded_file)
    out = tmp_path / "qbr.pdf"

    refused(
        capsys,
        out,
        *("--customer-id", str(customer.id), "--quarter", "2099Q1", "--out", str(out)),
        *("--database-url", seeded_file),
    )


def test_all_with_a_future_quarter_creates_no_folder(seeded_file, tmp_path, capsys):
    out_dir = tmp_path / "qbrs"

    status, _printed, errors = run(
        capsys, "--all", "--quarter", "2099Q1", "--out-dir", str(out_dir),
        "--database-url", seeded_file,
    )  # fmt: skip

    assert status == 2
    assert one_sentence(errors), errors
    assert not out_dir.exists()


def test_all_writes_one_pdf_per_reviewable_customer(seeded_file, tmp_path, capsys):
    out_dir = tmp_path / "qbrs" / "2026Q4"
    active = [c for c in customers(seeded_file) if c.is_active]
    assert active

    status, printed, errors = run(
        capsys, "--all", "--quarter", QUARTER.code, "--out-dir", str(out_dir),
        "--database-url", seeded_file,
    )  # fmt: skip

    assert status == 0, errors
    written = sorted(path.name for path in out_dir.iterdir())
    skipped = re.findall(r"^Skipped (\d+) ", printed + errors, flags=re.MULTILINE)
    expected = sorted(
        file_name(c.id, c.name, QUARTER)
        for c in active
        if c.hypercare_start < QUARTER.end_day and str(c.id) not in skipped
    )
    assert written == expected
    assert f"Wrote {len(written)} QBR document" in printed
    for customer in active:
        target = out_dir / file_name(customer.id, customer.name, QUARTER)
        if target.exists():
            text = pdf_text(target)
            assert customer.name in text
            others = [c.name for c in active if c.id != customer.id]
            assert [name for name in others if name in text.replace(customer.name, "")] == []


def test_the_out_file_needs_an_existing_folder(seeded_file, tmp_path, capsys):
    customer = reviewed_customer(seeded_file)
    out = tmp_path / "missing" / "qbr.pdf"

    status, _printed, errors = run(
        capsys, "--customer-id", str(customer.id), "--quarter", QUARTER.code, "--out", str(out),
        "--database-url", seeded_file,
    )  # fmt: skip

    assert status == 2
    assert one_sentence(errors), errors
    assert not out.parent.exists()


def test_a_failed_write_leaves_neither_a_partial_file_nor_the_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "qbr.pdf"

    def interrupted(_source, _target):
        raise KeyboardInterrupt

    monkeypatch.setattr(qbr_export.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, b"%PDF-1.7 complete")

    assert list(tmp_path.iterdir()) == []


def test_file_names_are_id_slug_and_quarter():
    assert slug("Zoë & Co. GmbH") == "zoe-co-gmbh"
    assert slug("東京") == "customer"
    assert file_name(12, "Acme Planning", Quarter(2026, 3)) == "12-acme-planning-2026Q3.pdf"


def test_a_written_file_has_the_content_and_normal_permissions(tmp_path):
    target = tmp_path / "qbr.pdf"
    target.write_bytes(b"old")

    write_atomically(target, b"%PDF-1.7 new")

    assert target.read_bytes() == b"%PDF-1.7 new"
    assert list(tmp_path.iterdir()) == [target]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as any new file, not 0600


def test_without_the_pdf_font_nothing_is_written(seeded_file, tmp_path, capsys, monkeypatch):
    from reports import qbr_document

    monkeypatch.setattr(qbr_document, "FONT_FOLDERS", (tmp_path / "no-fonts",))
    out_dir = tmp_path / "qbrs"

    status, _printed, errors = run(
        capsys, "--all", "--quarter", QUARTER.code, "--out-dir", str(out_dir),
        "--database-url", seeded_file,
    )  # fmt: skip

    assert status == 1
    assert one_sentence(errors) and "fonts-dejavu-core" in errors
    assert not out_dir.exists()
