from datetime import UTC, datetime

from domain.security import (
    MAX_PASSWORD_BYTES,
    locked_message,
    password_problem,
)


def test_a_password_over_72_bytes_is_refused_with_a_sentence():
    assert password_problem("a1" * 36) is None  # exactly 72 bytes
    assert "at most 72 bytes" in password_problem("a1" * 36 + "x")
    # Bytes, not characters: 36 two-byte letters plus two more characters is 74 bytes.
    assert "at most 72 bytes" in password_problem("é" * 36 + "-1")
    assert MAX_PASSWORD_BYTES == 72


def test_locked_message_names_the_end_in_utc():
    until = datetime(2026, 11, 30, 7, 5, tzinfo=UTC)
    assert locked_message(until) == (
        "This account is locked after five wrong passwords; try again after 30 Nov 2026 07:05 "
        "UTC or ask an administrator to reset it."
    )
