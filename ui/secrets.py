"""The cookie-signing key: a master key for every session, so never a constant in the code.

Order: `HYPERCARE_COOKIE_KEY` in the environment, then `cookie_key` in `.streamlit/secrets.toml`,
then — only for the embedded SQLite default — a random key generated once into `data/`.
Several replicas on PostgreSQL must share one key, so there it has to be configured.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from data_access.db import REPO_ROOT

KEY_FILE = REPO_ROOT / "data" / "cookie_key"
MIN_KEY_LENGTH = 32


class MissingSecret(RuntimeError):
    """No usable cookie key; the message says how to provide one."""


def _from_streamlit_secrets() -> str | None:
    import streamlit as st

    try:
        value = st.secrets.get("cookie_key")
    except (FileNotFoundError, KeyError, st.errors.StreamlitSecretNotFoundError):
        return None
    return str(value) if value else None


def _generated(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
    return key


def cookie_key(*, embedded_default: bool, key_file: Path = KEY_FILE) -> str:
    key = os.environ.get("HYPERCARE_COOKIE_KEY") or _from_streamlit_secrets()
    if key is None and embedded_default:
        try:
            key = _generated(key_file)
        except FileExistsError:
            key = key_file.read_text().strip()
    if not key:
        raise MissingSecret(
            "No cookie key is configured: set HYPERCARE_COOKIE_KEY (the same random value on "
            "every replica, e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) "
            "or cookie_key in .streamlit/secrets.toml."
        )
    if len(key) < MIN_KEY_LENGTH:
        raise MissingSecret(
            f"The cookie key is too short ({len(key)} characters); use a random value of at "
            f"least {MIN_KEY_LENGTH} characters."
        )
    return key
