"""How a customer's people are reached, and how a case came in.

A contact is reached by e-mail, phone or chat (an alert's follow-up and a contact's preferred
channel); a case can also arrive through the portal, which is nobody's way of being called back.
"""

from __future__ import annotations

import re

CONTACT_CHANNELS: tuple[str, ...] = ("email", "phone", "chat")
CASE_CHANNELS: tuple[str, ...] = (*CONTACT_CHANNELS, "portal")
CHANNEL_LABELS: dict[str, str] = {
    "email": "E-mail",
    "phone": "Phone",
    "chat": "Chat",
    "portal": "Portal",
}

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
"""Something@somewhere.tld without blanks: catches a typo, not a proof the mailbox exists."""
