"""The QBR PDF from hand-built reports: cover, sections, figures, tables, page numbers, text
drawn literally, read back with pypdf."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pandas as pd
import pytest
from pypdf import PdfReader

from domain.qbr import Chart, Figure, QbrReport, Section, Table
from domain.quarters import Quarter
from reports import qbr_document
from reports.qbr_charts import build_chart
from reports.qbr_document import DocumentFontMissing, chart_png, png_size, qbr_pdf

# 13:05 UTC on 30 November is already 1 December in Sydney: the cover must say the local date.
GENERATED = datetime(2026, 11, 30, 13, 5, tzinfo=UTC)
RUNNING = Quarter(2026, 4)
UNICODE_NAME = "Zoë Øresund — Łódź {nb} **Holdings** <b>AG</b>"


def report(
    *,
    name: str = "Acme Planning Ltd",
    quarter: Quarter = RUNNING,
    to_date: bool = True,
    sections: tuple[Section, ...] = (),
) -> QbrReport:
    return QbrReport(
        customer_id=7,
        customer_name=name,
        quarter=quarter,
        previous=quarter.previous(),
        to_date=to_date,
        timezone="Australia/Sydney",
        generated_at=GENERATED,
        sections=sections,
    )


def headline() -> Section:
    return Section(
        key="headline",
        title="Headline",
        figures=(
            Figure("Cases opened", "42", "+3 vs previous quarter", value=42, previous=39),
            Figure("First response met", "93.5 %", "\u22122.5 pts vs previous quarter"),
            Figure("Open alerts", "0", "no change"),
        ),
        notes=("Cases transferred to L2 or L3 are left out of resolution times.",),
    )


def cases() -> Section:
    frame = pd.DataFrame(
        {
            "Severity": ["Severity 1", "Severity 2", "Severity 3"],
            "This quarter": [2, 17, 23],
            "Median hours": [1.5, None, 12.25],
        }
    )
    return Section(key="cases", title="Case volume", tables=(Table("Cases by severity", frame),))


def adoption() -> Section:
    return Section(key="adoption", title="Adoption survey", empty="No survey in this quarter.")


def pages_text(pdf: bytes) -> list[str]:
    """Each page's text with runs of whitespace made single spaces."""
    reader = PdfReader(io.BytesIO(pdf))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def test_it_is_a_pdf_with_a_cover_and_one_page_per_section():
    pdf = qbr_pdf(report(sections=(headline(), cases(), adoption())))

    assert pdf.startswith(b"%PDF-")
    pages = pages_text(pdf)
    assert len(pages) == 4
    assert "Headline" in pages[1]
    assert "Case volume" in pages[2]
    assert "Adoption survey" in pages[3]


def test_the_cover_names_customer_quarter_generation_time_and_author():
    cover = pages_text(qbr_pdf(report(sections=(headline(),))))[0]

    assert "Quarterly Business Review" in cover
    assert "Acme Planning Ltd" in cover
    assert "Q4 2026 to date" in cover
    assert "Compared with Q3 2026" in cover
    assert "Generated 1 Dec 2026 00:05 AEDT (Australia/Sydney)" in cover
    assert "Prepared by HyperCare Desk" in cover


def test_a_finished_quarter_is_not_to_date():
    cover = pages_text(qbr_pdf(report(quarter=Quarter(2026, 3), to_date=False)))[0]

    assert "Q3 2026" in cover
    assert "to date" not in cover


def test_figures_are_a_label_value_change_grid():
    page = pages_text(qbr_pdf(report(sections=(headline(),))))[1]

    assert "Figure Value Change" in page
    assert "Cases opened 42 +3 vs previous quarter" in page
    assert "First response met 93.5 % \u22122.5 pts vs previous quarter" in page
    assert "Open alerts 0 no change" in page
    assert "Cases transferred to L2 or L3 are left out of resolution times." in page


def test_tables_show_their_title_header_and_cells_with_missing_values_as_a_dash():
    page = pages_text(qbr_pdf(report(sections=(cases(),))))[1]

    assert "Cases by severity" in page
    assert "Severity This quarter Median hours" in page
    assert "Severity 1 2 1.5" in page
    assert "Severity 2 17 \u2014" in page
    assert "Severity 3 23 12.25" in page
    assert "nan" not in page and "None" not in page


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "—"), (float("nan"), "—"), ("", "—"), (3.0, "3"), (1.5, "1.5"),
     (1.001, "1"), (12345.678, "12,345.68"), (1200, "1,200"), (True, "Yes"), ("a *b*", "a *b*")],
)  # fmt: skip
def test_table_cells_as_text(value, text):
    assert qbr_document.cell_text(value) == text


def test_an_empty_section_shows_its_sentence_and_no_figures():
    page = pages_text(qbr_pdf(report(sections=(adoption(),))))[1]

    assert "No survey in this quarter." in page
    assert "Figure Value Change" not in page


def weekly_cases() -> Chart:
    weeks = pd.date_range("2026-10-05", periods=4, freq="W-MON")
    data = pd.DataFrame(
        {
            "week_start": list(weeks) * 2,
            "severity": ["Sev 2 – high"] * 4 + ["Sev 3 – medium"] * 4,
            "cases": [1, 0, 2, 3, 4, 5, 1, 2],
        }
    )
    return Chart(kind="cases_weekly", title="Cases opened per week", data=data)


def test_charts_are_the_screen_specification_drawn_as_an_image_under_their_title():
    chart = weekly_cases()
    section = Section(key="cases", title="Case volume", charts=(chart,))
    pdf = qbr_pdf(report(sections=(section,)))

    reader = PdfReader(io.BytesIO(pdf))
    assert "Cases opened per week" in reader.pages[1].extract_text()
    assert len(reader.pages[1].images) == 1
    assert len(reader.pages[0].images) == 0
    png, width_mm = chart_png(chart)
    width_px, height_px = png_size(png)
    spec = build_chart(chart).to_dict()
    assert width_px >= spec["width"] * 2  # the screen's width, at twice the resolution
    assert height_px > 0 and 0 < width_mm <= 210


def test_every_page_is_numbered_page_n_of_m():
    many = tuple(
        Section(key=f"s{n}", title=f"Section {n}", figures=headline().figures) for n in range(5)
    )
    pages = pages_text(qbr_pdf(report(sections=many)))

    assert len(pages) == 6
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of 6" in text


def test_a_long_table_runs_onto_more_pages_and_the_count_follows():
    frame = pd.DataFrame({"Model": [f"Model {n:03d}" for n in range(120)], "Alerts": range(120)})
    section = Section(key="monitoring", title="Monitoring", tables=(Table("Alerts", frame),))
    pages = pages_text(qbr_pdf(report(sections=(section,))))

    assert len(pages) > 2
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]
    assert "Model 000 0" in pages[1] and "Model 119 119" in pages[-1]


def test_a_unicode_name_with_markup_characters_is_drawn_literally_on_every_page():
    pages = pages_text(qbr_pdf(report(name=UNICODE_NAME, sections=(headline(), adoption()))))

    assert UNICODE_NAME in pages[0]
    for text in pages[1:]:
        assert UNICODE_NAME in text  # the header
    # "{nb}" in the name is text, not fpdf2's page-count alias.
    assert "Zoë Øresund — Łódź 3 " not in " ".join(pages)


def test_a_long_name_is_shortened_in_the_header_only():
    name = "The Very Long Name of an International Planning and Forecasting Company " * 2
    name = name.strip()
    pages = pages_text(qbr_pdf(report(name=name, sections=(adoption(),))))

    assert name in pages[0]
    assert name not in pages[1]
    assert "…" in pages[1]


def test_without_the_font_it_refuses_with_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setattr(qbr_document, "FONT_FOLDERS", (tmp_path,))

    with pytest.raises(DocumentFontMissing) as refused:
        qbr_pdf(report())

    message = str(refused.value)
    assert "fonts-dejavu-core" in message
    assert message.count(". ") == 0 and message.endswith(".")
