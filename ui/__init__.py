"""Streamlit-facing helpers shared by the pages: sign-in, navigation, tables, charts, downloads."""

import pandas as pd

from ui import cache_keys, session_events

cache_keys.install()
session_events.install()
pd.set_option("mode.string_storage", "python")
