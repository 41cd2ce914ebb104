"""The QBR as a PDF document: the same `QbrReport` the page shows, drawn with fpdf2.

`qbr_pdf(report)` draws a cover page (the customer's name, the quarter, when it was generated in
the customer's region time zone), then every section on a new page: its figures as a label /
value / change grid, its tables, its charts as images and its sentences. The charts are the very
Altair specifications the page shows (`reports.qbr_charts.build_chart`), rendered to PNG without a
browser by vl-convert. Only what the report holds is drawn, so no other customer's data can
appear, and text typed by people is drawn as plain text, never read as markup.

The edge case: fpdf2 writes the total page count by replacing an alias (`{nb}`) in the text,
which would also rewrite a customer named "{nb}"; the alias is switched on only while the footer
draws "Page N of M".
"""

from __future__ import annotations

import math
import struct
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import vl_convert
from fpdf import FPDF, XPos, YPos
from fpdf.fonts import FontFace

from domain.dates import day_text, moment_text
from domain.qbr import Chart, Figure, QbrReport, Section, Table
from reports.qbr_charts import build_chart

PREPARED_BY = "Prepared by HyperCare Desk"
FONT_FAMILY = "DejaVu"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FONT_FOLDERS = (
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian, Ubuntu (fonts-dejavu-core)
    Path("/usr/share/fonts/dejavu-sans-fonts"),  # Fedora
    Path("/usr/share/fonts/TTF"),  # Arch
    Path("/usr/local/share/fonts/dejavu"),
)
CHART_WIDTH_PX = 620
CHART_SCALE = 2
PX_TO_MM = 25.4 / 96
MISSING = "—"
_PAGE_ALIAS = "{nb}"
_GREY = (90, 90, 90)
_RULE = (200, 200, 200)
_HEADINGS = FontFace(emphasis="BOLD", fill_color=(235, 238, 242))


class DocumentFontMissing(RuntimeError):
    """The TrueType font the PDF needs is not installed; the message is one sentence."""


def font_files() -> dict[str, Path]:
    """DejaVu Sans (regular and bold): fpdf2's built-in fonts are Latin-1 only, and
    customer names carry accents and the figures carry "−" and "·"."""
    for folder in FONT_FOLDERS:
        files = {style: folder / name for style, name in FONT_FILES.items()}
        if all(path.is_file() for path in files.values()):
            return files
    raise DocumentFontMissing(
        "The PDF needs the DejaVu Sans font, which is not installed; install it with "
        "`apt-get install fonts-dejavu-core` (or your system's DejaVu fonts package)."
    )


def generated_text(report: QbrReport) -> str:
    """'Generated 30 Nov 2026 14:05 AEDT (Australia/Sydney)': in the customer's region time zone."""
    local = report.generated_at.astimezone(ZoneInfo(report.timezone))
    return f"Generated {moment_text(local)} {local.tzname()} ({report.timezone})"


def quarter_text(report: QbrReport) -> str:
    """'Q3 2026', or 'Q4 2026 to date' while the quarter is running."""
    return f"{report.quarter.label} to date" if report.to_date else report.quarter.label


def cell_text(value: Any) -> str:
    """A table cell as text: '—' for a missing value, whole numbers without decimals."""
    if value is None or isinstance(value, str):
        return value if value else MISSING
    if isinstance(value, bool):
        return "Yes" if value else "No"
    try:
        if pd.isna(value):
            return MISSING
    except (TypeError, ValueError):
        pass
    if isinstance(value, (pd.Timestamp, datetime)):
        return moment_text(pd.Timestamp(value).to_pydatetime())
    if isinstance(value, date):
        return day_text(value)
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def chart_png(chart: Chart) -> tuple[bytes, float]:
    """The chart's Altair specification rendered to PNG, and its drawn width in millimetres.

    The title is drawn as text above the image (so it can be searched and read aloud), so it
    is taken out of the specification; a width that follows the screen ("container") is fixed,
    since there is no container on paper.
    """
    spec = build_chart(chart).to_dict()
    spec.pop("title", None)
    composed = any(key in spec for key in ("hconcat", "vconcat", "concat", "facet", "repeat"))
    if spec.get("width", "container") == "container" and not composed:
        spec["width"] = CHART_WIDTH_PX
    png = vl_convert.vegalite_to_png(spec, scale=CHART_SCALE)
    width_px, _height_px = png_size(png)
    return png, width_px / CHART_SCALE * PX_TO_MM


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, read from the PNG header."""
    width, height = struct.unpack(">II", png[16:24])
    return width, height


class _QbrPdf(FPDF):
    """A4 pages with the customer's name in the header (after the cover) and page numbers."""

    def __init__(self, report: QbrReport) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report = report
        self.closing = False
        for style, path in font_files().items():
            self.add_font(FONT_FAMILY, style, str(path))
        self.alias_nb_pages(None)
        self.set_margins(18, 20, 18)
        self.set_auto_page_break(True, margin=18)
        self.set_title(report.title)
        self.set_author("HyperCare Desk")
        self.set_creator("HyperCare Desk")

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font(FONT_FAMILY, "", 8)
        self.set_text_color(*_GREY)
        right = f"QBR {quarter_text(self.report)}"
        room = self.epw - self.get_string_width(right) - 6
        self.set_xy(self.l_margin, 10)
        self.cell(room, 5, fitted(self, self.report.customer_name, room))
        self.set_xy(self.l_margin, 10)
        self.cell(self.epw, 5, right, align="R")
        self.set_draw_color(*_RULE)
        self.line(self.l_margin, 15.5, self.w - self.r_margin, 15.5)
        self.set_text_color(0, 0, 0)
        self.set_y(self.t_margin)

    def footer(self) -> None:
        self.alias_nb_pages(_PAGE_ALIAS)
        self.set_y(-12)
        self.set_font(FONT_FAMILY, "", 8)
        self.set_text_color(*_GREY)
        self.cell(self.epw / 2, 5, PREPARED_BY)
        self.cell(self.epw / 2, 5, f"Page {self.page_no()} of {_PAGE_ALIAS}", align="R")
        self.set_text_color(0, 0, 0)
        # Off again for the next page's text; on for good once the document is closing, since
        # fpdf2 replaces the alias only if it is set when the last footer has been drawn.
        self.alias_nb_pages(_PAGE_ALIAS if self.closing else None)


def fitted(pdf: FPDF, text: str, width: float) -> str:
    """`text` shortened with '…' to fit `width` on one line (the header only; the cover and the
    sections show names in full)."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _cover(pdf: _QbrPdf, report: QbrReport) -> None:
    pdf.add_page()
    pdf.set_y(70)
    pdf.set_font(FONT_FAMILY, "", 12)
    pdf.set_text_color(*_GREY)
    pdf.multi_cell(
        0, 7, "Quarterly Business Review", align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.set_text_color(0, 0, 0)
    pdf.ln(4)
    pdf.set_font(FONT_FAMILY, "B", 26)
    pdf.multi_cell(0, 12, report.customer_name, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font(FONT_FAMILY, "", 18)
    pdf.multi_cell(0, 9, quarter_text(report), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font(FONT_FAMILY, "", 11)
    pdf.set_text_color(*_GREY)
    pdf.multi_cell(
        0, 6, f"Compared with {report.previous.label}", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.multi_cell(
        0, 6, f"Quarter counted in {report.timezone} time", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.ln(10)
    pdf.set_text_color(0, 0, 0)
    pdf.multi_cell(0, 6, generated_text(report), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.multi_cell(0, 6, PREPARED_BY, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _heading(pdf: _QbrPdf, text: str, size: float, space: float) -> None:
    """A heading kept together with at least `space` mm of what follows it."""
    if pdf.will_page_break(space):
        pdf.add_page()
    pdf.set_font(FONT_FAMILY, "B", size)
    pdf.multi_cell(0, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)


def _sentences(pdf: _QbrPdf, sentences: tuple[str, ...], *, quiet: bool = False) -> None:
    """Sentences as paragraphs; `quiet` (grey) for a sentence standing in for missing data."""
    pdf.set_font(FONT_FAMILY, "", 9.5)
    if quiet:
        pdf.set_text_color(*_GREY)
    for sentence in sentences:
        pdf.multi_cell(0, 5, sentence, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)
    pdf.set_text_color(0, 0, 0)


def _figures(pdf: _QbrPdf, figures: tuple[Figure, ...]) -> None:
    pdf.set_font(FONT_FAMILY, "", 9.5)
    rows = [("Figure", "Value", "Change")]
    rows += [(figure.label, figure.text or MISSING, figure.change or "") for figure in figures]
    with pdf.table(
        rows,
        col_widths=(0.38, 0.32, 0.30),
        text_align=("LEFT", "RIGHT", "LEFT"),
        headings_style=_HEADINGS,
        borders_layout="HORIZONTAL_LINES",
        line_height=6,
        padding=(1, 2),
    ):
        pass
    pdf.ln(4)


def _table(pdf: _QbrPdf, table: Table) -> None:
    _heading(pdf, table.title, 11, 20)
    frame = table.frame
    columns = [str(column) for column in frame.columns]
    if not columns:
        return
    if frame.empty:
        _sentences(pdf, ("No rows.",), quiet=True)
        return
    size = 9 if len(columns) <= 5 else 8 if len(columns) <= 8 else 7
    pdf.set_font(FONT_FAMILY, "", size)
    rows = [columns]
    rows += [[cell_text(value) for value in record] for record in frame.itertuples(index=False)]
    numeric = [pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes]
    with pdf.table(
        rows,
        text_align=tuple("RIGHT" if flag else "LEFT" for flag in numeric),
        headings_style=_HEADINGS,
        borders_layout="HORIZONTAL_LINES",
        line_height=size * 0.55,
        padding=(1, 1.5),
    ):
        pass
    pdf.ln(4)


def _chart(pdf: _QbrPdf, chart: Chart) -> None:
    png, width = chart_png(chart)
    width = min(width, pdf.epw)
    width_px, height_px = png_size(png)
    height = width * height_px / width_px
    _heading(pdf, chart.title, 11, height + 8)
    pdf.image(png, x=pdf.l_margin, w=width, h=height)
    pdf.ln(4)


def _section(pdf: _QbrPdf, section: Section) -> None:
    pdf.add_page()
    _heading(pdf, section.title, 16, 30)
    pdf.ln(2)
    if section.empty:
        _sentences(pdf, (section.empty,), quiet=True)
    if section.figures:
        _figures(pdf, section.figures)
    if section.notes:
        _sentences(pdf, section.notes)
        pdf.ln(2)
    for chart in section.charts:
        _chart(pdf, chart)
    for table in section.tables:
        _table(pdf, table)


def qbr_pdf(report: QbrReport) -> bytes:
    """The QBR document for `report`: a cover page, then each section from a new page, with the
    customer's name in the header and "Page N of M" in the footer."""
    pdf = _QbrPdf(report)
    _cover(pdf, report)
    for section in report.sections:
        _section(pdf, section)
    pdf.closing = True
    return bytes(pdf.output())
