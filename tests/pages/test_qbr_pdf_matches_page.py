"""The QBR document carries the numbers the QBR page shows: every metric of the page, run under
AppTest as the manager, is in the PDF the page prepares and in the one the export command writes
for the same customer and quarter, and no other customer's name is in either."""

from __future__ import annotations

import io
import os

import pytest
import streamlit as st
from pypdf import PdfReader
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.models import Customer
from data_access.qbr_export import main as export_main
from domain.quarters import Quarter
from domain.tiers import Tier
from tests.pages.conftest import db_engine, page_path, signed_in

PAGE = "qbr.py"
QUARTER = Quarter(2026, 4)  # the small seed's data runs from September to 2 November 2026


def plain(text: str) -> str:
    return " ".join(text.split())


def pdf_text(pdf: bytes) -> str:
    return plain(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


def all_customers() -> list[Customer]:
    with Session(db_engine()) as session:
        return list(session.exec(select(Customer).order_by(Customer.id)).all())


@pytest.fixture
def customer() -> Customer:
    """An Enterprise customer (every section has figures) whose HyperCare started before the
    previous quarter (so both quarters are compared)."""
    return next(
        c
        for c in all_customers()
        if c.tier == Tier.ENTERPRISE and c.hypercare_start < QUARTER.previous().first_day
    )


def open_qbr(customer_id: int) -> AppTest:
    st.cache_data.clear()
    at = signed_in("manager")
    at.run()
    at.switch_page(page_path(PAGE))
    at.query_params["customer"] = str(customer_id)
    at.query_params["quarter"] = QUARTER.code
    at.run()
    assert not at.exception, at.exception
    return at


def shown_figures(at: AppTest) -> list[tuple[str, str, str]]:
    """(label, value, change) of every st.metric on the page, as shown."""
    return [
        (plain(metric.label), plain(str(metric.value)), plain(metric.delta or ""))
        for metric in at.metric
    ]


def assert_carries(text: str, figures: list[tuple[str, str, str]]) -> None:
    missing = [
        figure for figure in figures if plain(" ".join(part for part in figure if part)) not in text
    ]
    assert missing == [], f"figures of the page not in the PDF: {missing}"


def assert_only(text: str, customer: Customer) -> None:
    assert customer.name in text
    rest = text.replace(customer.name, "")
    others = [c.name for c in all_customers() if c.id != customer.id and c.name in rest]
    assert others == []


def test_the_pdf_prepared_on_the_page_has_every_figure_of_the_page(customer):
    at = open_qbr(customer.id)
    figures = shown_figures(at)
    assert len(figures) >= 30  # headline, cases, SLA, entitlements, usage, adoption, CoE …
    assert any(change for _label, _value, change in figures)

    at.button(key="qbr_prepare_pdf").click().run()
    assert not at.exception, at.exception
    _key, pdf = at.session_state["qbr_pdf"]

    text = pdf_text(pdf)
    assert_carries(text, figures)
    assert_only(text, customer)


def test_the_exported_pdf_has_every_figure_of_the_page(customer, tmp_path, capsys):
    figures = shown_figures(open_qbr(customer.id))
    out = tmp_path / "qbr.pdf"

    status = export_main(
        ["--customer-id", str(customer.id), "--quarter", QUARTER.code, "--out", str(out)]
    )

    assert status == 0, capsys.readouterr().err
    assert os.environ["DATABASE_URL"]  # the page's database, read by the command too
    text = pdf_text(out.read_bytes())
    assert_carries(text, figures)
    assert_only(text, customer)
