"""A customer contact as one line: the case and customer pages show contacts the same way."""

from __future__ import annotations

from ui.format import MISSING, plain_markdown, value_text

CHANNEL_ICONS = {"email": ":material/mail:", "phone": ":material/call:", "chat": ":material/chat:"}


def preferred_reach(contact, missing: str = MISSING) -> str:
    """The contact's address on the channel they prefer; `missing` when none is recorded.

    `contact` is a row of `data_access.customers.contacts_of` (an itertuples row)."""
    reach = {"email": contact.email, "phone": contact.phone, "chat": contact.chat_handle}
    return value_text(reach.get(contact.preferred_channel), missing)


def contact_line(contact, name: str) -> str:
    """':material/mail: **Dana Brook** (primary) — prefers email', the name shown literally."""
    channel = contact.preferred_channel
    return (
        f"{CHANNEL_ICONS.get(channel, '')} **{plain_markdown(name)}**"
        f"{' (primary)' if contact.is_primary else ''} — prefers {channel}"
    )
