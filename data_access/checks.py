"""The input checks every command shares: an aware instant in UTC, and a required short text.

Each refuses with one sentence a person can act on (`CommandRefused`), before anything is
written. A moment with a time zone is converted to UTC whatever its offset, so what is stored
and compared is the same instant however it was given; a moment without one is refused rather
than guessed, since the same wall time means different instants in different regions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from data_access.audit import CommandRefused


def utc_moment(moment: datetime | None, *, refusal: str) -> datetime:
    """`moment` as a UTC instant, or now when it is None; `refusal` when it has no time zone.

    Edge case: a `tzinfo` whose `utcoffset` is None (a bare zone object that cannot place this
    wall time) is as unusable as no `tzinfo` at all, and is refused the same way.
    """
    if moment is None:
        return datetime.now(UTC)
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise CommandRefused(refusal)
    return moment.astimezone(UTC)


def required_text(value: object, *, what: str, limit: int, required: bool = True) -> str:
    """`value` stripped of surrounding blanks, refused when missing (if `required`), not text,
    or longer than `limit` characters; an optional missing text is the empty string."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise CommandRefused(f"The {what} must be text.")
    text = value.strip()
    if required and not text:
        raise CommandRefused(f"The {what} is required.")
    if len(text) > limit:
        raise CommandRefused(
            f"The {what} is too long: {len(text)} characters where the limit is {limit}."
        )
    return text
