"""The SSO check reads Streamlit's secrets at most once per interval while no secrets file exists
(Streamlit parses again, under one process-wide lock, on every read when there is none)."""

from __future__ import annotations

import pytest
import streamlit as st

from ui import oidc


class CountingSecrets:
    def __init__(self, section=None):
        self.section = section
        self.reads = 0

    def get(self, key):
        self.reads += 1
        if self.section is None:
            raise st.errors.StreamlitSecretNotFoundError("No secrets found.")
        return self.section if key == "auth" else None


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(oidc.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(oidc, "_no_secrets_until", 0.0)
    return now


def test_a_missing_secrets_file_is_read_once_per_interval(monkeypatch, clock):
    secrets = CountingSecrets()
    monkeypatch.setattr(st, "secrets", secrets)
    assert oidc.providers() == []
    assert oidc.providers() == []
    assert secrets.reads == 1
    clock[0] += oidc.NO_SECRETS_RECHECK_S + 0.1
    assert oidc.providers() == []
    assert secrets.reads == 2


def test_a_secrets_file_added_later_counts_after_the_interval(monkeypatch, clock):
    secrets = CountingSecrets()
    monkeypatch.setattr(st, "secrets", secrets)
    assert oidc.providers() == []
    secrets.section = {"server_metadata_url": "https://idp.example/.well-known", "label": "Acme"}
    clock[0] += oidc.NO_SECRETS_RECHECK_S + 0.1
    assert [p.label for p in oidc.providers()] == ["Acme"]


def test_configured_secrets_are_read_every_time(monkeypatch, clock):
    secrets = CountingSecrets({"server_metadata_url": "https://idp.example/.well-known"})
    monkeypatch.setattr(st, "secrets", secrets)
    assert len(oidc.providers()) == 1
    assert len(oidc.providers()) == 1
    assert secrets.reads == 2
