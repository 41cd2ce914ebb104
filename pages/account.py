"""My account: the viewer's time zone (used for every time shown), password and sessions."""

import streamlit as st

from data_access import authentication
from data_access import users as user_commands
from data_access.actor import Actor
from domain.roles import ROLE_LABELS
from ui.auth import engine, keep_session, require_access
from ui.commands import run_command, show_notice
from ui.format import plain_markdown, time_zone_names

user = require_access(__file__)

actor = Actor.of(user)

st.title("My account")
show_notice()
st.markdown(
    plain_markdown(
        f"{user.name} ({user.username}) · {', '.join(ROLE_LABELS[r] for r in user.roles)}"
    )
)

zones = time_zone_names()
with st.form("timezone"):
    zone = st.selectbox(
        "Show times in", zones, index=zones.index(user.timezone) if user.timezone in zones else 0
    )
    if st.form_submit_button("Save time zone"):
        run_command(
            lambda session: user_commands.set_timezone(session=session, actor=actor, timezone=zone),
            f"Times now show in {zone}.",
        )

with st.form("password", clear_on_submit=True):
    st.subheader("Change password")
    st.caption(
        "Your other sessions end when the password changes. Wrong current passwords count "
        "towards the lock after five wrong passwords, as at sign-in."
    )
    current = st.text_input("Current password", type="password")
    new = st.text_input("New password", type="password")
    repeat = st.text_input("New password again", type="password")
    if st.form_submit_button("Change password"):
        if new != repeat:
            st.error("The two new passwords differ.")
        else:
            # It checks the current password like a sign-in, in short transactions of its own
            # (a wrong one must count even though the change is refused), so it takes the engine.
            run_command(
                lambda _session: authentication.change_own_password(
                    engine=engine(), actor=actor, current_password=current, new_password=new
                ),
                "Password changed; your other sessions are signed out.",
                on_success=keep_session,
            )

st.subheader("Sessions")
st.caption(
    "Signed in on a shared or lost device? This ends every other session of yours at its next "
    "click; this one stays signed in."
)
if st.button("Sign out everywhere", icon=":material/devices_off:"):
    run_command(
        lambda session: user_commands.end_other_sessions(session=session, actor=actor),
        "Every other session of yours is signed out.",
        on_success=keep_session,
    )
