from datetime import date

import pytest

from domain.events import (
    ACCEPTED_STATUSES,
    INVITATION_MOVES,
    Eligibility,
    EnrolmentStatus,
    InvitationStatus,
    acceptance_rate,
    check_offers,
    enrolment_move_refusal,
    event_to_open,
    invitation_move_refusal,
    offers_text,
    parse_offers,
)

TODAY = date(2026, 11, 2)
LATER = date(2026, 12, 10)
EARLIER = date(2026, 10, 10)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("offered", "accepted"),
        ("offered", "declined"),
        ("accepted", "declined"),
        ("declined", "accepted"),
    ],
)
def test_answers_may_be_recorded_and_changed_before_the_event(current, target):
    assert invitation_move_refusal(current, target, starts_on=LATER, today=TODAY) is None


def test_attendance_follows_acceptance_once_the_event_has_started():
    assert invitation_move_refusal("accepted", "attended", starts_on=EARLIER, today=TODAY) is None
    assert invitation_move_refusal("accepted", "attended", starts_on=TODAY, today=TODAY) is None
    refusal = invitation_move_refusal("accepted", "attended", starts_on=LATER, today=TODAY)
    assert refusal == "The event starts on 2026-12-10; attendance is recorded from that day."


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (
            "offered",
            "attended",
            "An invitation that is offered cannot become attended; "
            "it can become accepted or declined.",
        ),
        ("attended", "declined", "An invitation that is attended cannot become declined."),
        ("declined", "declined", "The invitation is already declined."),
        ("offered", "maybe", "'maybe' is not an invitation status."),
    ],
)
def test_illegal_invitation_moves_say_why(current, target, message):
    assert invitation_move_refusal(current, target, starts_on=EARLIER, today=TODAY) == message


def test_every_status_has_a_move_table_entry_and_attended_is_final():
    assert set(INVITATION_MOVES) == set(InvitationStatus)
    assert INVITATION_MOVES[InvitationStatus.ATTENDED] == frozenset()
    assert {"accepted", "attended"} == ACCEPTED_STATUSES


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (None, "nominated", None),
        (None, "enrolled", None),
        (
            None,
            "withdrawn",
            "The customer is not in the programme, so there is nothing to withdraw.",
        ),
        ("nominated", "enrolled", None),
        ("enrolled", "withdrawn", None),
        ("withdrawn", "nominated", None),
        ("enrolled", "nominated", "A customer who is enrolled cannot become nominated."),
        ("enrolled", "enrolled", "The customer is already enrolled."),
        ("nominated", "graduated", "'graduated' is not an enrolment status."),
    ],
)
def test_enrolment_moves(current, target, message):
    assert enrolment_move_refusal(current, target) == message


def test_enrolment_statuses_are_the_stored_vocabulary():
    assert {s.value for s in EnrolmentStatus} == {"nominated", "enrolled", "withdrawn"}


def test_offers_are_read_in_vocabulary_order_and_unknown_names_dropped():
    assert parse_offers("vip_keynote_seating, ticket_discount,free_lunch") == (
        "ticket_discount",
        "vip_keynote_seating",
    )
    assert offers_text("other_vip_access,ticket_discount") == "Ticket discount, Other VIP access"
    assert offers_text("") == ""


def test_offer_lists_are_checked():
    assert check_offers(["ticket_discount"]) is None
    assert check_offers([]) == "Choose at least one offer for the event."
    assert check_offers(["ticket_discount", "yacht"]) == "'yacht' is not an event offer."


def test_eligibility_reason_names_the_tier_and_what_it_lacks():
    neither = Eligibility("Basic", vip_events=False, product_programmes=False)
    assert neither.reason == "VIP events and product programmes are not part of Basic."
    assert neither.events_reason == "VIP event offers are not part of Basic."
    assert neither.programmes_reason == "Product programmes are not part of Basic."
    both = Eligibility("HyperCare Professional", vip_events=True, product_programmes=True)
    assert both.reason is None and both.events_reason is None and both.programmes_reason is None
    events_only = Eligibility("Silver", vip_events=True, product_programmes=False)
    assert events_only.reason == "Product programmes are not part of Silver."
    assert events_only.events_reason is None


def test_acceptance_rate_is_none_without_offers():
    assert acceptance_rate(0, 0) is None
    assert acceptance_rate(4, 3) == pytest.approx(0.75)


def test_invitations_open_on_the_soonest_upcoming_event_else_the_newest():
    newest_first = [date(2027, 3, 1), date(2027, 1, 10), date(2026, 12, 5), date(2026, 6, 1)]
    assert event_to_open(newest_first, date(2026, 12, 1)) == 2
    assert event_to_open(newest_first, date(2027, 1, 10)) == 1
    assert event_to_open(newest_first, date(2027, 6, 1)) == 0
    assert event_to_open([], date(2027, 6, 1)) == 0
