"""Case lifecycle rules: which action is legal from which status, and the refusal sentences."""

from __future__ import annotations

import re

import pytest

from domain.lifecycle import (
    ACTION_LABELS,
    ACTIONS,
    STATUSES,
    TRANSITIONS,
    IllegalTransition,
    allowed_actions,
    check_action,
)

# The whole table written out by hand: status -> action -> resulting status ("same" = unchanged).
LEGAL = {
    "new": {"assign": "same", "public_reply": "open", "solve": "solved"},
    "open": {
        "assign": "same",
        "public_reply": "same",
        "set_pending": "pending_customer",
        "transfer_l2": "transferred_l2",
        "transfer_l3": "transferred_l3",
        "solve": "solved",
    },
    "pending_customer": {
        "assign": "same",
        "public_reply": "same",
        "resume": "open",
        "solve": "solved",
    },
    "transferred_l2": {
        "assign": "same",
        "public_reply": "same",
        "resume": "open",
        "transfer_l3": "transferred_l3",
        "solve": "solved",
    },
    "transferred_l3": {
        "assign": "same",
        "public_reply": "same",
        "resume": "open",
        "solve": "solved",
    },
    "solved": {"assign": "same", "public_reply": "same", "reopen": "open", "close": "closed"},
    "closed": {},
}

LEGAL_PAIRS = [(s, a) for s, actions in LEGAL.items() for a in actions]
ILLEGAL_PAIRS = [(s, a) for s in STATUSES for a in ACTIONS if a not in LEGAL[s]]


@pytest.mark.parametrize(("status", "action"), LEGAL_PAIRS)
def test_legal_action_gives_the_expected_status(status, action):
    expected = LEGAL[status][action]
    assert check_action(status, action) == (None if expected == "same" else expected)


@pytest.mark.parametrize(("status", "action"), ILLEGAL_PAIRS)
def test_illegal_action_is_refused_with_one_sentence(status, action):
    with pytest.raises(IllegalTransition) as refused:
        check_action(status, action)
    message = str(refused.value)
    assert message.endswith(".") and message[0].isupper()
    assert message.count(". ") == 0, "one sentence"
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize(
    ("status", "action", "message"),
    [
        ("closed", "reopen", "A closed case cannot be reopened; open a new case instead."),
        ("open", "reopen", "Only a solved case can be reopened."),
        ("pending_customer", "reopen", "Only a solved case can be reopened."),
        ("pending_customer", "set_pending", "The case is already pending the customer."),
        ("solved", "solve", "The case is already solved."),
        ("open", "close", "Only a solved case can be closed."),
        ("transferred_l2", "transfer_l2", "The case is already transferred to L2."),
        ("new", "set_pending", "A new case needs a public reply first."),
        (
            "closed",
            "public_reply",
            "A closed case is final and cannot be changed; open a new case instead.",
        ),
        (
            "solved",
            "resume",
            "Only a case pending the customer or transferred to L2/L3 can go back to open.",
        ),
    ],
)
def test_refusal_sentences(status, action, message):
    with pytest.raises(IllegalTransition, match=f"^{re.escape(message)}$"):
        check_action(status, action)


def test_unknown_action_and_status_are_refused():
    with pytest.raises(IllegalTransition, match="no case action called 'escalate'"):
        check_action("open", "escalate")
    with pytest.raises(IllegalTransition, match="'archived' is not a case status"):
        check_action("archived", "solve")


def test_closed_is_final():
    assert TRANSITIONS["closed"] == frozenset()
    assert allowed_actions("closed") == ()


def test_transition_graph_matches_the_spec_path():
    # new → open → pending_customer ⇄ open → transferred_l2 / transferred_l3 → open → solved → closed
    spec_path = [
        ("new", "open"),
        ("open", "pending_customer"),
        ("pending_customer", "open"),
        ("open", "transferred_l2"),
        ("transferred_l2", "open"),
        ("open", "transferred_l3"),
        ("transferred_l3", "open"),
        ("open", "solved"),
        ("solved", "open"),
        ("solved", "closed"),
    ]
    for source, target in spec_path:
        assert target in TRANSITIONS[source], (source, target)
    changes = {(s, t) for s, targets in TRANSITIONS.items() for t in targets}
    expected = {(s, t) for s, actions in LEGAL.items() for t in actions.values() if t != "same"}
    assert changes == expected


def test_allowed_actions_agree_with_check_action():
    for status in STATUSES:
        assert set(allowed_actions(status)) == set(LEGAL[status])
    assert set(ACTION_LABELS) == set(ACTIONS)
