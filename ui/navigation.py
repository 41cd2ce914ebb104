"""The page registry: which screens exist and which roles may open each (one fact, one place).

`app.py` builds `st.navigation` from it for the signed-in roles, and every page's guard looks
up its own allowed roles here by file name.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from domain.roles import Role

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"


@dataclass(frozen=True)
class PageSpec:
    file: str
    title: str
    icon: str
    group: str
    roles: frozenset[str]
    url_path: str  # the file's stem: Streamlit serves a pages/ file there before app.py has run
    default: bool = False


_CS = frozenset({Role.CSM, Role.MANAGER, Role.ADMIN})
_EVERYONE = frozenset(Role)

PAGES: tuple[PageSpec, ...] = (
    PageSpec(
        "portfolio.py", "Portfolio", ":material/dashboard:", "Customers", _CS, "portfolio", True
    ),
    PageSpec("customer.py", "Customer", ":material/apartment:", "Customers", _CS, "customer"),
    PageSpec("case_queue.py", "Case queue", ":material/support_agent:", "Cases", _CS, "case_queue"),
    PageSpec("case.py", "Case", ":material/confirmation_number:", "Cases", _CS, "case"),
    PageSpec("new_case.py", "New case", ":material/add_circle:", "Cases", _CS, "new_case"),
    PageSpec(
        "survey_form.py",
        "Adoption survey",
        ":material/assignment:",
        "Surveys",
        frozenset({Role.SURVEY_STAFF, Role.MANAGER, Role.ADMIN}),
        "survey_form",
    ),
    PageSpec(
        "survey_results.py",
        "Survey results",
        ":material/insights:",
        "Surveys",
        _CS,
        "survey_results",
    ),
    PageSpec(
        "feedback_sessions.py",
        "Feedback sessions",
        ":material/record_voice_over:",
        "Surveys",
        _CS,
        "feedback_sessions",
    ),
    PageSpec(
        "entitlements.py",
        "Entitlements",
        ":material/card_membership:",
        "Customers",
        frozenset({Role.CSM, Role.MANAGER, Role.ADMIN}),
        "entitlements",
    ),
    PageSpec(
        "entitlement_portfolio.py",
        "Entitlement portfolio",
        ":material/autorenew:",
        "Customers",
        frozenset({Role.MANAGER, Role.ADMIN}),
        "entitlement_portfolio",
    ),
    PageSpec(
        "monitoring.py",
        "Monitoring",
        ":material/monitoring:",
        "Monitoring",
        frozenset({Role.CSM, Role.MANAGER, Role.ADMIN}),
        "monitoring",
    ),
    PageSpec(
        "weekly_report.py",
        "Weekly report",
        ":material/summarize:",
        "Monitoring",
        frozenset({Role.CSM, Role.MANAGER, Role.ADMIN}),
        "weekly_report",
    ),
    PageSpec(
        "qbr.py",
        "QBR",
        ":material/co_present:",
        "Customers",
        frozenset({Role.CSM, Role.MANAGER, Role.ADMIN}),
        "qbr",
    ),
    PageSpec(
        "coe_benchmark.py",
        "CoE benchmark",
        ":material/leaderboard:",
        "Customers",
        frozenset({Role.CSM, Role.MANAGER, Role.ADMIN}),
        "coe_benchmark",
    ),
    PageSpec(
        "events.py",
        "Events and programmes",
        ":material/celebration:",
        "Customers",
        frozenset({Role.CSM, Role.MANAGER, Role.ADMIN}),
        "events",
    ),
    PageSpec(
        "admin.py",
        "Admin",
        ":material/admin_panel_settings:",
        "Administration",
        frozenset({Role.ADMIN}),
        "admin",
    ),
    PageSpec(
        "calendars.py",
        "Calendars",
        ":material/calendar_month:",
        "Administration",
        frozenset({Role.ADMIN}),
        "calendars",
    ),
    PageSpec(
        "metric_upload.py",
        "Metric upload",
        ":material/upload_file:",
        "Administration",
        frozenset({Role.ADMIN}),
        "metric_upload",
    ),
    PageSpec("account.py", "My account", ":material/person:", "Account", _EVERYONE, "account"),
)


def spec_for(file: str) -> PageSpec:
    name = Path(file).name
    for spec in PAGES:
        if spec.file == name:
            return spec
    raise KeyError(f"{name} is not in the page registry")


def pages_for(roles: tuple[str, ...] | list[str]) -> list[PageSpec]:
    """The pages any of `roles` may open, in registry order."""
    return [spec for spec in PAGES if spec.roles.intersection(roles)]


@functools.cache
def _page_made_once(spec: PageSpec) -> st.Page:
    return st.Page(
        PAGES_DIR / spec.file,
        title=spec.title,
        icon=spec.icon,
        url_path=spec.url_path,
        default=spec.default,
    )


def streamlit_page(spec: PageSpec) -> st.Page:
    """`st.Page` for `spec`, for `app.py`'s navigation: a copy of one made once per process.
    Making one resolves the file's real path on disk, which cost a twentieth of every run under
    load (bench/README.md); the copy is this run's own, as `st.navigation` marks the page it
    returns as runnable once."""
    return copy.copy(_page_made_once(spec))
