"""HyperCare Desk: sign in, then a navigation built from the signed-in role. A router only."""

import streamlit as st

from ui.auth import read_for_this_run, start_session
from ui.navigation import pages_for, streamlit_page
from ui.presentation import presenting

st.set_page_config(page_title="HyperCare Desk", page_icon=":material/support_agent:", layout="wide")

user = start_session()

groups: dict[str, list] = {}
for spec in pages_for(user.roles):
    groups.setdefault(spec.group, []).append(streamlit_page(spec))
# Presentation mode (the QBR on a meeting-room screen) shows no navigation.
chosen = st.navigation(groups, position="hidden" if presenting() else "sidebar")
with read_for_this_run(user):
    chosen.run()
