"""Bad configuration stops the app with one sentence, never a traceback, and writes nothing."""

from __future__ import annotations

import os
import stat

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.conftest import APP
from ui.secrets import MissingSecret, cookie_key


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    return at


def only_error(at: AppTest) -> str:
    assert not at.exception
    assert len(at.error) == 1
    assert not at.text_input and not at.dataframe
    return at.error[0].value


def test_malformed_database_url(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "definitely not a url")
    assert "not a valid database address" in only_error(run_app())


def test_unreachable_database(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert "Cannot reach the database" in only_error(run_app())


def test_corrupt_database_file(monkeypatch, tmp_path):
    broken = tmp_path / "broken.db"
    content = b"\x00garbage" * 512
    broken.write_bytes(content)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{broken}")
    message = only_error(run_app())
    assert "damaged" in message or "not a usable database file" in message
    assert broken.read_bytes() == content


def test_missing_cookie_key_on_a_shared_database(monkeypatch):
    monkeypatch.delenv("HYPERCARE_COOKIE_KEY", raising=False)
    with pytest.raises(MissingSecret, match="HYPERCARE_COOKIE_KEY"):
        cookie_key(embedded_default=False)


def test_short_cookie_key_is_refused(monkeypatch):
    monkeypatch.setenv("HYPERCARE_COOKIE_KEY", "short")
    with pytest.raises(MissingSecret, match="too short"):
        cookie_key(embedded_default=False)


def test_embedded_default_generates_a_private_random_key_once(monkeypatch, tmp_path):
    monkeypatch.delenv("HYPERCARE_COOKIE_KEY", raising=False)
    path = tmp_path / "cookie_key"
    first = cookie_key(embedded_default=True, key_file=path)
    assert len(first) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert cookie_key(embedded_default=True, key_file=path) == first
    other = cookie_key(embedded_default=True, key_file=tmp_path / "elsewhere")
    assert other != first
