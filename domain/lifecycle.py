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

# --- Transitions (SPEC: new → open → pending_customer ⇄ open → transferred_l2/l3 → open → solved →
# closed, reopen from solved) ----------------------------------------------------------------------

RESOLVED_STATUSES = ("solved", "closed")
TRANSFER_STATUSES = ("transferred_l2", "transferred_l3")
ESCALATION_LEVELS = {"transferred_l2": "L2", "transferred_l3": "L3"}

ACTIONS: dict[str, str | None] = {
    "assign": None,
    "public_reply": None,
    "set_pending": "pending_customer",
    "resume": "open",
    "transfer_l2": "transferred_l2",
    "transfer_l3": "transferred_l3",
    "solve": "solved",
    "reopen": "open",
    "close": "closed",
}
"""Each action a person can take on a case, and the status it moves the case to (None: the
status stays, except that the first public reply on a new case opens it)."""

ACTION_LABELS = {
    "assign": "Assign",
    "public_reply": "Public reply",
    "set_pending": "Set pending customer",
    "resume": "Back to open",
    "transfer_l2": "Transfer to L2",
    "transfer_l3": "Transfer to L3",
    "solve": "Solve",
    "reopen": "Reopen",
    "close": "Close",
}

# Where each action may start from. A case may be solved from any open status, even `new` without
# a public reply (a duplicate, or the customer fixed it themselves): the first-response clock then
# stops at the solve. L2 may escalate to L3; coming back from L2/L3 is "resume".
ACTION_SOURCES: dict[str, frozenset[str]] = {
    "assign": frozenset(STATUSES) - {"closed"},
    "public_reply": frozenset(STATUSES) - {"closed"},
    "set_pending": frozenset({"open"}),
    "resume": frozenset({"pending_customer", *TRANSFER_STATUSES}),
    "transfer_l2": frozenset({"open"}),
    "transfer_l3": frozenset({"open", "transferred_l2"}),
    "solve": frozenset(OPEN_STATUSES),
    "reopen": frozenset({"solved"}),
    "close": frozenset({"solved"}),
}

TRANSITIONS: dict[str, frozenset[str]] = {
    status: frozenset(
        {
            target
            for action, target in ACTIONS.items()
            if target and status in ACTION_SOURCES[action]
        }
        | ({"open"} if status == "new" else set())
    )
    for status in STATUSES
}
"""Every status change the lifecycle allows, as from-status -> the statuses it may move to."""


class IllegalTransition(ValueError):
    """An action the case's current status does not allow; the message is one sentence why."""


def check_action(status: str, action: str) -> str | None:
    """The status a case in `status` moves to when `action` is taken, or None if it stays.

    Raises IllegalTransition with one sentence when the action is not allowed. Edge case: a
    public reply is a status change only on a new case (new -> open); everywhere else it leaves
    the status alone, including on a solved case, which stays solved until someone reopens it.
    """
    if action not in ACTIONS:
        raise IllegalTransition(f"There is no case action called {action!r}.")
    if status not in STATUSES:
        raise IllegalTransition(f"{status!r} is not a case status.")
    if status not in ACTION_SOURCES[action]:
        raise IllegalTransition(_refusal(status, action))
    if action == "public_reply":
        return "open" if status == "new" else None
    return ACTIONS[action]


def allowed_actions(status: str) -> tuple[str, ...]:
    """The actions a case in `status` allows, in the order of `ACTIONS`."""
    return tuple(action for action, sources in ACTION_SOURCES.items() if status in sources)


def _refusal(status: str, action: str) -> str:
    if status == "closed":
        if action == "reopen":
            return "A closed case cannot be reopened; open a new case instead."
        return "A closed case is final and cannot be changed; open a new case instead."
    if action == "reopen":
        return "Only a solved case can be reopened."
    if status == ACTIONS[action]:
        if status in TRANSFER_STATUSES:
            return f"The case is already transferred to {ESCALATION_LEVELS[status]}."
        return {
            "open": "The case is already open.",
            "pending_customer": "The case is already pending the customer.",
            "solved": "The case is already solved.",
        }[status]
    if status == "new" and action in ("set_pending", "transfer_l2", "transfer_l3"):
        return "A new case needs a public reply first."
    if action == "set_pending":
        return "Only an open case can be set to pending the customer."
    if action == "resume":
        return "Only a case pending the customer or transferred to L2/L3 can go back to open."
    if action in ("transfer_l2", "transfer_l3"):
        if status == "transferred_l3":
            return "The case is already with L3; move it back to open before sending it to L2."
        return "Only an open case can be transferred."
    return "Only a solved case can be closed."
