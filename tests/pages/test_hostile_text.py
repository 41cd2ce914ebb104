"""Text typed by customers and staff is data: never a spreadsheet formula, never Markdown.

One database whose customer names, contact names, case subjects and descriptions, notes, reasons
and comments are hostile (a formula, a tracking pixel, a `javascript:` link, bold) is opened on
every page. Each CSV a page offers must quote formula cells, and no element that renders Markdown
(titles, captions, markdown, alerts, labels, metrics, expanders, tabs) may carry the hostile
Markdown unescaped.
"""

from __future__ import annotations

import ast
import csv
import io
import re
from pathlib import Path

import pytest
import streamlit as st
from google.protobuf.message import Message
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from data_access.db import make_engine
from data_access.migrate import upgrade
from domain.csv_safe import FORMULA_PREFIXES
from tests.conftest import small_seed
from tests.pages.conftest import ROOT, page_path, signed_in

FORMULA = '=HYPERLINK("https://evil.example/x","open")'
# Other columns start with the other characters a spreadsheet runs.
OTHER_FORMULAS = {
    ("contact", "name"): "+cmd|' /C calc'!A0",
    ("entitlement_ledger", "reason"): "@SUM(1+1)",
    ("survey_response", "comments"): "-2+3",
    ("feedback_session", "findings"): "\t=1+1",
}
PIXEL = "![x](https://evil.example/b.png)"
LINK = "[link](javascript:alert(1))"
HOSTILE = f"{PIXEL} **bold** <img src=x> {LINK}"
UNESCAPED = ("![x](https://evil.example", "](javascript:", "**bold**")

# (table, text column, id column): every free text a person types that pages show.
HOSTILE_COLUMNS = (
    ("customer", "name"),
    ("contact", "name"),
    ("support_case", "subject"),
    ("support_case", "description"),
    ("case_event", "note"),
    ("entitlement_ledger", "reason"),
    ("optimisation_request", "request_text"),
    ("feedback_session", "request_text"),
    ("feedback_session", "findings"),
    ("survey_response", "comments"),
    ("qbr_note", "text"),
    ("qbr_action", "text"),
    ("alert_contact_log", "note"),
    ("planning_model", "name"),
    ("app_user", "name"),
)


@pytest.fixture(scope="module")
def hostile_database(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'app.db'}"
    engine = make_engine(url)
    upgrade(engine)
    small_seed(engine)
    with engine.begin() as connection:
        columns = {
            table: {row[1] for row in connection.execute(text(f"PRAGMA table_info({table})"))}
            for table, _ in HOSTILE_COLUMNS
        }
        # The ledger is append-only (a trigger): the hostile text is planted with it set aside.
        triggers = connection.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        ).all()
        for name, _ in triggers:
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        for table, column in HOSTILE_COLUMNS:
            if column not in columns[table]:
                continue
            # The formula first (a spreadsheet runs the cell), the Markdown after; the id keeps
            # unique names unique.
            connection.execute(
                text(
                    f"UPDATE {table} SET {column} = :formula || ' ' || id || ' {HOSTILE} ' "
                    f"|| substr(COALESCE({column}, ''), 1, 40)"
                ),
                {"formula": OTHER_FORMULAS.get((table, column), FORMULA)},
            )
        for _, sql in triggers:
            connection.execute(text(sql))
        # The seed has no feedback session; one hostile request makes that page's CSV.
        connection.execute(
            text(
                "INSERT INTO feedback_session (customer_id, requested_by_contact_id, requested_at, "
                "request_text, state, findings) SELECT customer_id, id, '2026-11-20 10:00:00', "
                ":hostile, 'done', :findings FROM contact ORDER BY id LIMIT 1"
            ),
            {
                "hostile": f"{FORMULA} {HOSTILE}",
                "findings": f"{OTHER_FORMULAS['feedback_session', 'findings']} {HOSTILE}",
            },
        )
    engine.dispose()
    return url


@pytest.fixture(autouse=True)
def hostile_environment(app_environment, hostile_database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", hostile_database)
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def open_page(username: str, page: str, **query: str) -> AppTest:
    at = signed_in(username)
    at.run()
    at.switch_page(page_path(page))
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def first_customer_with_cases() -> int:
    engine = make_engine()
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT c.id FROM customer c JOIN support_case s ON s.customer_id = c.id "
                        "JOIN tier_change t ON t.customer_id = c.id "
                        "GROUP BY c.id ORDER BY count(*) DESC LIMIT 1"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def customer_with(query: str) -> int:
    """The customer `query` (customer ids, one row each) names most often."""
    engine = make_engine()
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(f"SELECT id FROM ({query}) GROUP BY id ORDER BY count(*) DESC LIMIT 1")
                ).scalar_one()
            )
    finally:
        engine.dispose()


WITH_METRICS = (
    "SELECT w.customer_id AS id FROM model_metric_daily d "
    "JOIN planning_model m ON m.id = d.model_id JOIN workspace w ON w.id = m.workspace_id"
)
WITH_COE = "SELECT customer_id AS id FROM coe_snapshot"


def first_case() -> int:
    engine = make_engine()
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT min(id) FROM support_case")).scalar_one())
    finally:
        engine.dispose()


# --- CSV ---------------------------------------------------------------------------------------

CSV_PAGES = (
    ("manager", "case_queue.py", {}),
    ("manager", "portfolio.py", {}),
    ("manager", "monitoring.py", {"tab": "Model charts"}),
    ("manager", "weekly_report.py", {"customer": "{metrics}", "week": "2026-10-26"}),
    ("manager", "entitlements.py", {"customer": "{customer}"}),
    ("manager", "entitlement_portfolio.py", {}),
    ("manager", "feedback_sessions.py", {}),
    ("manager", "survey_results.py", {}),
    ("manager", "qbr.py", {"customer": "{customer}"}),
    ("manager", "events.py", {}),
    ("manager", "coe_benchmark.py", {"customer": "{coe}"}),
    ("admin", "coe_benchmark.py", {"customer": "{coe}"}),
    ("admin", "metric_upload.py", {}),
)


def formula_cells(data: bytes) -> list[str]:
    """Cells a spreadsheet would run: text starting with a formula character (numbers are data)."""
    cells = []
    for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))):
        for cell in row:
            if not cell.startswith(FORMULA_PREFIXES):
                continue
            try:
                float(cell)
            except ValueError:
                cells.append(cell)
    return cells


@pytest.mark.parametrize(
    ("username", "page", "query"), CSV_PAGES, ids=[f"{u}-{p}" for u, p, _ in CSV_PAGES]
)
def test_every_csv_download_quotes_formulas(username, page, query, downloads):
    values = {"customer": first_customer_with_cases()}
    if "{metrics}" in query.values():
        values["metrics"] = customer_with(WITH_METRICS)
    if "{coe}" in query.values():
        values["coe"] = customer_with(WITH_COE)
    at = open_page(username, page, **{k: v.format(**values) for k, v in query.items()})
    csvs = [(name, data) for data, mime, name in downloads if mime == "text/csv"]
    assert csvs, f"{page} offered no CSV"
    for name, data in csvs:
        assert formula_cells(data) == [], name
    assert at.get("download_button")


def test_hostile_text_reaches_the_downloads_quoted(downloads):
    open_page("manager", "case_queue.py")
    queues = [data.decode("utf-8-sig") for data, mime, _ in downloads if mime == "text/csv"]
    assert queues
    assert all("'" + FORMULA in queue.replace('""', '"') for queue in queues)


def calls_in(path: Path) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]


def callee(call: ast.Call) -> str:
    return ast.unparse(call.func)


def test_no_page_writes_csv_except_through_csv_download():
    offenders = []
    for path in [*sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]:
        if path.name == "downloads.py":
            continue
        for call in calls_in(path):
            name = callee(call)
            if name.endswith(".to_csv"):
                offenders.append(f"{path.name}:{call.lineno} {name}")
            if name.endswith("download_button"):
                mime = next((k.value for k in call.keywords if k.arg == "mime"), None)
                if not (isinstance(mime, ast.Constant) and mime.value == "application/pdf"):
                    offenders.append(f"{path.name}:{call.lineno} {name} (not a PDF)")
    assert offenders == []


@pytest.mark.parametrize("module", ["survey_campaigns", "survey_results", "feedback_sessions"])
def test_surveys_have_no_formula_quoting_of_their_own(module):
    source = (ROOT / "data_access" / f"{module}.py").read_text()
    assert "_csv_safe" not in source and "FORMULA_PREFIXES" not in source


# --- Markdown ----------------------------------------------------------------------------------

# Elements whose text Streamlit shows literally: user text belongs here.
LITERAL = {
    "text",
    "code",
    "arrow_data_frame",
    "arrow_table",
    "json",
    "vega_lite_chart",
    "arrow_vega_lite_chart",
    "selectbox",
    "multiselect",
    "text_input",
    "text_area",
    "number_input",
    "date_input",
    "time_input",
    "empty",
    "imgs",
    "html",
}


def strings(message: Message) -> list[str]:
    found = []
    for _field, value in message.ListFields():
        single = isinstance(value, str | bytes | Message) or not hasattr(value, "__iter__")
        values = [value] if single else value
        for item in values:
            if isinstance(item, str):
                found.append(item)
            elif isinstance(item, Message):
                found.extend(strings(item))
    return found


def rendered_markdown(at: AppTest) -> list[tuple[str, str]]:
    """(element type, text) for every string an element renders as Markdown."""
    shown = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        kind = getattr(node, "type", None)
        if proto is not None and kind not in LITERAL and isinstance(proto, Message):
            if kind == "html":
                return
            if kind == "metric":  # a metric's value and delta are plain text; its label is not
                shown.extend(("metric", s) for s in (proto.label, proto.help) if s)
            else:
                shown.extend((str(kind), s) for s in strings(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return shown


def unescaped(marker: str, text: str) -> bool:
    """`marker` occurs in `text` without a backslash before it."""
    return re.search(r"(?<!\\)" + re.escape(marker), text) is not None


def hostile_markdown(at: AppTest) -> list[tuple[str, str]]:
    return [
        (kind, s) for kind, s in rendered_markdown(at) if any(unescaped(u, s) for u in UNESCAPED)
    ]


MARKDOWN_PAGES = (
    ("manager", "portfolio.py", {}),
    ("manager", "customer.py", {"customer": "{customer}"}),
    ("manager", "case_queue.py", {}),
    ("manager", "case.py", {"id": "{case}"}),
    ("manager", "new_case.py", {"customer": "{customer}"}),
    ("manager", "entitlements.py", {"customer": "{customer}"}),
    ("manager", "entitlement_portfolio.py", {}),
    ("manager", "monitoring.py", {}),
    ("manager", "weekly_report.py", {"customer": "{customer}"}),
    ("manager", "qbr.py", {"customer": "{customer}"}),
    ("manager", "survey_results.py", {}),
    ("manager", "survey_form.py", {}),
    ("manager", "feedback_sessions.py", {}),
    ("manager", "coe_benchmark.py", {"customer": "{customer}"}),
    ("manager", "events.py", {}),
    ("admin", "admin.py", {}),
    ("admin", "calendars.py", {}),
    ("admin", "metric_upload.py", {}),
)


@pytest.mark.parametrize(
    ("username", "page", "query"), MARKDOWN_PAGES, ids=[p for _, p, _ in MARKDOWN_PAGES]
)
def test_user_text_is_never_rendered_as_markdown(username, page, query):
    values = {"customer": str(first_customer_with_cases()), "case": str(first_case())}
    at = open_page(username, page, **{k: v.format(**values) for k, v in query.items()})
    assert hostile_markdown(at) == []


def test_the_check_sees_markdown_it_should_refuse():
    """The check itself: raw hostile text in a caption is caught, escaped text is not."""
    script = (
        "import streamlit as st\n"
        "from ui.format import plain_markdown\n"
        f"st.caption({HOSTILE!r})\n"
        f"st.title(plain_markdown({HOSTILE!r}))\n"
    )
    at = AppTest.from_string(script).run()
    assert [kind for kind, _ in hostile_markdown(at)] == ["caption"]
