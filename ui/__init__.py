"""Streamlit-facing helpers shared by the pages: sign-in, navigation, tables, charts, downloads."""

import pandas as pd

from ui import cache_keys, session_events

cache_keys.install()
session_events.install()
# pandas 3 keeps text columns in Arrow arrays by default. A page's frames are small (tens to a few
# thousand rows) and go through many selections, maps and lookups, where each Arrow call costs
# more than the work: half the server's samples under load were in Arrow string code. The same
# "str" dtype kept in Python objects halves those operations (bench/README.md, "Load").
pd.set_option("mode.string_storage", "python")
