"""A refusal quoting a customer's name shows the name literally, and plain sentences unchanged."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from ui.format import sentence_markdown

HOSTILE = "![x](https://evil.example/b.png) **bold** <img src=x> [link](javascript:alert(1))"
UNESCAPED = ("![x](", "](javascript:", "**bold**", "<img", "https://")


def unescaped(marker: str, text: str) -> bool:
    """`marker` occurs in `text` without a backslash before it."""
    return re.search(r"(?<!\\)" + re.escape(marker), text) is not None


def refusing_page(message: str) -> None:
    from data_access.audit import CommandRefused
    from ui.commands import run_command

    def refuse(_session) -> None:
        raise CommandRefused(message)

    run_command(refuse, "Saved.")


def test_a_refusal_naming_a_hostile_customer_is_shown_literally():
    message = f"{HOSTILE} is on Basic, which includes no adoption survey."
    at = AppTest.from_function(refusing_page, args=(message,), default_timeout=30).run()
    assert not at.exception, at.exception
    (error,) = at.error
    assert not [marker for marker in UNESCAPED if unescaped(marker, error.value)]
    assert error.value.replace("\\", "") == message


@pytest.mark.parametrize(
    "sentence",
    [
        "Nothing was changed, because case #12 was refused: A new case needs a public reply first.",
        "Active users (11) cannot exceed licensed users (10).",
        "You cannot switch off your own password sign-in.",
        "Missing: SUS item 2, NPS.",
    ],
)
def test_ordinary_sentences_are_left_as_they_are(sentence):
    assert sentence_markdown(sentence) == sentence


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("# Heading corp", "\\# Heading corp"),
        ("1. Listed corp", "1\\. Listed corp"),
        ("> quoted", "\\> quoted"),
        ("a_b $x$ ~~s~~ `c`", "a\\_b \\$x\\$ \\~\\~s\\~\\~ \\`c\\`"),
        ("see https://evil.example", "see https\\://evil.example"),
    ],
)
def test_markup_at_line_start_maths_code_and_bare_links_are_escaped(text, shown):
    assert sentence_markdown(text) == shown


def notice_page(message: str) -> None:
    import streamlit as st

    from ui.commands import NOTICE_KEY, show_notice

    st.session_state[NOTICE_KEY] = message
    show_notice()


def test_a_success_notice_naming_a_hostile_customer_is_shown_literally():
    message = f"Customer {HOSTILE} added."
    at = AppTest.from_function(notice_page, args=(message,), default_timeout=30).run()
    (success,) = at.success
    assert not [marker for marker in UNESCAPED if unescaped(marker, success.value)]
    assert success.value.replace("\\", "") == message
