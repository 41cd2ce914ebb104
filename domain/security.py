"""Sign-in rules: password strength and account lockout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
# bcrypt reads at most 72 bytes of a password and the library refuses longer ones.
MAX_PASSWORD_BYTES = 72
# The bcrypt cost for new hashes: 2**12 rounds take about 0.25 s on one core of a current server,
# so a sign-in (one check) stays under half a second while guessing stays expensive. Existing
# hashes keep the cost they were made with until the password changes.
BCRYPT_ROUNDS = 12


@dataclass(frozen=True)
class LoginOutcome:
    failed_logins: int
    locked_until: datetime | None


def after_failed_login(failed_logins: int, now: datetime) -> LoginOutcome:
    """The fifth wrong password in a row locks the account for 15 minutes and resets the count.

    The count is per account, not per session, so five tries spread over five browsers lock too.
    """
    failed = failed_logins + 1
    if failed >= MAX_FAILED_LOGINS:
        return LoginOutcome(failed_logins=0, locked_until=now + LOCKOUT)
    return LoginOutcome(failed_logins=failed, locked_until=None)


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and locked_until > now


def locked_message(until: datetime) -> str:
    """The sentence for a sign-in (or password check) refused because the account is locked."""
    moment = until.astimezone(UTC).strftime("%d %b %Y %H:%M").lstrip("0")
    return (
        "This account is locked after five wrong passwords; try again after "
        f"{moment} UTC or ask an administrator to reset it."
    )


def password_problem(password: str) -> str | None:
    """One sentence saying why a new password is refused, or None when it is acceptable."""
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return (
            f"The password may be at most {MAX_PASSWORD_BYTES} bytes long (about "
            f"{MAX_PASSWORD_BYTES} letters, fewer with accents or symbols)."
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must be at least {MIN_PASSWORD_LENGTH} characters long."
    if password.strip() != password:
        return "The password may not start or end with spaces."
    if password.isalpha() or password.isdigit():
        return "The password must mix letters with digits or symbols."
    return None
