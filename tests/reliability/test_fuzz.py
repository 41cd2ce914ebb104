"""Hostile input, fuzzed with Hypothesis: every page's forms and query parameters under AppTest,
and both CSV loaders (metric CSV, CoE CSV) with random bytes and hostile cells.

Every run shows one sentence or succeeds: never a traceback or `st.exception`, and never a
half-write (when any table's row count changes, the audit log gained its row in the same
transaction; a refused CSV changes no count at all).

Budget: `HYPERCARE_FUZZ_EXAMPLES` examples per test (default 2, the fixed budget `make test`
runs); `make fuzz` runs the same tests with a larger budget.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text
from streamlit.testing.v1 import AppTest

from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.coe_commands import CSV_REQUIRED as COE_COLUMNS
from data_access.coe_commands import load_coe_csv
from data_access.db import make_engine, session_scope
from data_access.metric_loader import REQUIRED_COLUMNS as METRIC_COLUMNS
from data_access.metric_loader import load_metric_csv
from data_access.migrate import upgrade
from tests.conftest import small_seed
from ui.navigation import PAGES

EXAMPLES = int(os.environ.get("HYPERCARE_FUZZ_EXAMPLES", "2"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 2,  # the fixed budget in `make test` is the same every run
    suppress_health_check=list(HealthCheck),
    database=None,
)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APP_USERS = {"admin": "admin", "manager": "manager", "csm": "csm.emea", "survey_staff": "surveys"}

NASTY = [
    "",
    " ",
    "=1+1",
    "+SUM(A1:A9)",
    "-2+3",
    "@cmd|' /C calc'!A0",
    "<script>alert(1)</script>",
    "<b>bold</b><img src=x onerror=alert(1)>",
    "**bold** _it_ [link](javascript:alert(1)) `code`",
    "# Heading\n\n- list",
    "a\x00b",
    "\x00",
    "\u202eevil\u200b",
    "😀" * 300,
    "x" * 20_000,
    "NaN",
    "-1",
    "1e309",
    "2026-02-30",
    "Robert'); DROP TABLE customer;--",
    "%s%n{0}{}",
    "\r\n\r\n",
    "null",
]
hostile_text = st.one_of(st.sampled_from(NASTY), st.text(max_size=80))


@pytest.fixture(scope="module")
def fuzz_database(tmp_path_factory) -> str:
    """A seeded SQLite database of this module's own (the fuzzer may change anything in it)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    engine = make_engine(url)
    upgrade(engine)
    small_seed(engine)
    engine.dispose()
    return url


@pytest.fixture
def app_env(fuzz_database, monkeypatch) -> str:
    monkeypatch.setenv("DATABASE_URL", fuzz_database)
    monkeypatch.setenv("HYPERCARE_COOKIE_KEY", "test-only-cookie-key-" + "k" * 40)
    return fuzz_database


def row_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {
                name: connection.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()
                for name in inspect(connection).get_table_names()
            }
    finally:
        engine.dispose()


def assert_no_half_write(before: dict[str, int], after: dict[str, int]) -> None:
    changed = {name for name in before if before[name] != after.get(name)}
    if changed - {"audit_log"}:
        assert after["audit_log"] > before["audit_log"], f"rows changed without audit: {changed}"


def user_for(spec) -> str:
    for role, username in APP_USERS.items():
        if role in spec.roles:
            return username
    raise AssertionError(f"no demo user may open {spec.file}")


def signed_in(username: str, page_file: str, query: dict[str, str] | None = None) -> AppTest:
    """The app signed in as `username`, navigated to `page_file` as the sidebar would."""
    from tests.pages.conftest import session_version_of

    at = AppTest.from_file(os.path.join(ROOT, "app.py"), default_timeout=90)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    at.session_state["name"] = username
    at.session_state["roles"] = []
    at.session_state["session_version"] = session_version_of(username)
    at.run()
    at.switch_page(os.path.join(ROOT, "pages", page_file))
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at


def assert_calm(at: AppTest) -> None:
    """No exception element, no traceback anywhere, every error one sentence."""
    assert not at.exception, [(e.value, e.stack_trace) for e in at.exception]
    shown = [e.value for e in (*at.markdown, *at.text, *at.error, *at.warning, *at.info)]
    assert not any("Traceback (most recent call last)" in str(value) for value in shown)
    for error in at.error:
        assert "\n" not in str(error.value).strip(), error.value


PAGE_IDS = [spec.file for spec in PAGES]
PARAM_KEYS = [
    "customer", "quarter", "week", "q", "id", "alert", "case", "severity", "state", "status",
    "view", "tab", "year", "campaign", "sort", "page", "tier", "region", "owner", "filter",
]  # fmt: skip


@pytest.mark.parametrize("page_file", PAGE_IDS)
@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(PARAM_KEYS) | st.text(max_size=8), hostile_text, max_size=4
    )
)
def test_query_parameters_are_fuzzed_on_every_page(app_env, page_file, params):
    spec = next(spec for spec in PAGES if spec.file == page_file)
    before = row_counts(app_env)
    # A URL cannot carry NUL; everything else goes in as typed.
    query = {key: value.replace("\x00", "") for key, value in params.items()}
    at = signed_in(user_for(spec), page_file, query)
    at.run()
    assert_calm(at)
    assert_no_half_write(before, row_counts(app_env))


def _skippable(button) -> bool:
    label = str(button.label).lower()
    return any(word in label for word in ("sign out", "log out", "present"))


@pytest.mark.parametrize("page_file", PAGE_IDS)
@FUZZ
@given(data=st.data())
def test_every_form_on_every_page_takes_hostile_text(app_env, page_file, data):
    spec = next(spec for spec in PAGES if spec.file == page_file)
    at = signed_in(user_for(spec), page_file)
    at.run()
    assert_calm(at)
    buttons = [button for button in at.button if not _skippable(button)]
    if not buttons:
        return
    button = buttons[data.draw(st.integers(0, len(buttons) - 1), label="button")]
    for widget in (*at.text_input, *at.text_area):
        if not widget.disabled:
            widget.set_value(data.draw(hostile_text, label=str(widget.label)))
    before = row_counts(app_env)
    button.click().run()
    assert_calm(at)
    assert_no_half_write(before, row_counts(app_env))


# --- CSV loaders --------------------------------------------------------------------------------


def _csv(header: list[str], rows: list[list[str]]) -> str:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"'

    return "\n".join(",".join(cell(value) for value in row) for row in [header, *rows]) + "\n"


csv_texts = lambda columns: st.builds(  # noqa: E731
    _csv,
    st.permutations(list(columns)),
    st.lists(st.lists(hostile_text, min_size=len(columns), max_size=len(columns)), max_size=5),
)
csv_sources = lambda columns: st.one_of(  # noqa: E731
    st.binary(max_size=400),
    csv_texts(columns),
    csv_texts(columns).map(lambda text_: text_.encode("utf-16")),
    csv_texts(columns).map(lambda text_: text_.encode("latin-1", errors="replace")),
    st.just(b"\xff\xfe\x00\x00"),
    st.just(""),
)


def _load(url: str, loader, source) -> None:
    engine = make_engine(url)
    before = row_counts(url)
    try:
        with session_scope(engine) as session:
            loader(session=session, actor=Actor.system("fuzz"), source=source)
    except CommandRefused as refused:
        message = str(refused)
        assert message and "Traceback" not in message
        assert row_counts(url) == before, "a refused file wrote something"
    else:
        assert_no_half_write(before, row_counts(url))
    finally:
        engine.dispose()


@FUZZ
@given(source=csv_sources(METRIC_COLUMNS))
def test_metric_csv_loader_takes_hostile_files(fuzz_database, source):
    _load(fuzz_database, load_metric_csv, source)


@FUZZ
@given(source=csv_sources(COE_COLUMNS))
def test_coe_csv_loader_takes_hostile_files(fuzz_database, source):
    _load(
        fuzz_database,
        lambda **kw: load_coe_csv(**kw, now=datetime(2026, 11, 2, 12, tzinfo=UTC)),
        source,
    )
