"""The demo's vocabulary: regions, staff, company and people's names, case topics, model kinds.

Plain data and two tiny helpers; every random choice among them is made by the caller's
generator, so the same seed picks the same names.
"""

from __future__ import annotations

import numpy as np

REGIONS = (
    ("APAC", "Asia Pacific", "Asia/Singapore", "SG"),
    ("EMEA", "Europe, Middle East and Africa", "Europe/London", "GB"),
    ("NA", "North America", "America/New_York", "US"),
)

STAFF = (
    ("admin", "Ada Admin", "admin", "UTC", None),
    ("manager", "Morgan Manager", "manager", "Europe/London", "EMEA"),
    ("csm.apac", "Priya Raman", "csm", "Asia/Singapore", "APAC"),
    ("csm.emea", "Lukas Weber", "csm", "Europe/London", "EMEA"),
    ("csm.na", "Jordan Lee", "csm", "America/New_York", "NA"),
    ("csm.na2", "Sam Ortiz", "csm", "America/Chicago", "NA"),
    ("resource.apac", "Mei Tanaka", "csm", "Asia/Tokyo", "APAC"),
    ("resource.emea", "Sofia Rossi", "csm", "Europe/Rome", "EMEA"),
    ("resource.na", "Chris Walker", "csm", "America/New_York", "NA"),
    ("surveys", "Noor Haddad", "survey_staff", "Europe/London", "EMEA"),
    ("surveys2", "Tom Becker", "survey_staff", "America/New_York", "NA"),
)

COMPANY_FIRST = (
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Wingtip",
    "Litware",
    "Adatum",
    "Proseware",
    "Lucerne",
    "Margie",
    "Fourth Coffee",
    "Alpine Ski",
    "Blue Yonder",
    "Coho",
    "Humongous",
    "Trey",
    "Wide World",
    "Woodgrove",
    "Graphic",
    "Southridge",
    "Relecloud",
    "Lamna",
    "Bellows",
    "Datum",
    "Consolidated",
    "School of Fine",
    "Tasmanian",
    "Kestrel",
    "Harbour",
    "Summit",
)
COMPANY_SECOND = (
    "Traders",
    "Holdings",
    "Energy",
    "Logistics",
    "Retail",
    "Pharma",
    "Bank",
    "Insurance",
    "Manufacturing",
    "Foods",
    "Airlines",
    "Telecom",
    "Media",
    "Health",
    "Motors",
)
INDUSTRIES = ("Retail", "Financial services", "Manufacturing", "Life sciences", "Energy", "Media")
FIRST_NAMES = (
    "Alex",
    "Bea",
    "Carlos",
    "Dana",
    "Eli",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Uma",
    "Viktor",
    "Wen",
    "Yara",
    "Zoe",
)
LAST_NAMES = (
    "Smith",
    "Nguyen",
    "Garcia",
    "Müller",
    "Okafor",
    "Rossi",
    "Tanaka",
    "Kowalski",
    "Dubois",
    "Singh",
    "Haddad",
    "Johansson",
    "O'Brien",
    "Silva",
    "Kim",
    "Novak",
)
CASE_TOPICS = (
    "Import action fails with timeout",
    "Model opening slowly",
    "Dashboard not refreshing",
    "Export to CSV truncated",
    "User cannot access workspace",
    "Formula returns wrong total",
    "Integration job stuck in queue",
    "SSO login loop",
    "List item missing after import",
    "Process runs twice",
    "ALM sync error",
    "Page builder layout broken",
)
MODEL_KINDS = (
    "Sales Forecast",
    "Workforce Planning",
    "FP&A Consolidation",
    "Supply Plan",
    "Territory & Quota",
    "Opex Budget",
    "Capex Plan",
    "Revenue Planning",
    "Demand Sensing",
    "Incentive Comp",
)


def person(rng: np.random.Generator) -> str:
    """A first and last name drawn from the lists (two draws from `rng`)."""
    first = FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]
    return f"{first} {LAST_NAMES[int(rng.integers(len(LAST_NAMES)))]}"


def slug(text: str) -> str:
    """'Ada Admin' -> 'ada.admin': lower case, dots for spaces, letters and digits only."""
    return "".join(ch for ch in text.lower().replace(" ", ".") if ch.isalnum() or ch == ".")
