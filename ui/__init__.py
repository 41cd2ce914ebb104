"""Streamlit-facing helpers shared by the pages: sign-in, navigation, tables, charts, downloads."""

from ui import cache_keys

cache_keys.install()
