"""HyperCare Desk: sign in, then a navigation built from the signed-in role. A router only."""

import streamlit as st

from ui.auth import start_session
from ui.navigation import PAGES_DIR, pages_for
from ui.presentation import presenting

st.set_page_config(page_title="HyperCare Desk", page_icon=":material/support_agent:", layout="wide")

user = start_session()

groups: dict[str, list] = {}
for spec in pages_for(user.roles):
    groups.setdefault(spec.group, []).append(
        st.Page(
            PAGES_DIR / spec.file,
            title=spec.title,
            icon=spec.icon,
            url_path=spec.url_path,
            default=spec.default,
        )
    )
# Presentation mode (the QBR on a meeting-room screen) shows no navigation.
st.navigation(groups, position="hidden" if presenting() else "sidebar").run()
