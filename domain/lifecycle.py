"""Case statuses (SPEC: "Case lifecycle")."""

from __future__ import annotations

STATUSES = (
    "new",
    "open",
    "pending_customer",
    "transferred_l2",
    "transferred_l3",
    "solved",
    "closed",
)
OPEN_STATUSES = ("new", "open", "pending_customer", "transferred_l2", "transferred_l3")
STATUS_LABELS = {
    "new": "New",
    "open": "Open",
    "pending_customer": "Pending customer",
    "transferred_l2": "Transferred to L2",
    "transferred_l3": "Transferred to L3",
    "solved": "Solved",
    "closed": "Closed",
}
SEVERITY_LABELS = {1: "Sev 1 – critical", 2: "Sev 2 – high", 3: "Sev 3 – medium", 4: "Sev 4 – low"}
