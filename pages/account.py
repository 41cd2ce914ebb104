"""My account: the viewer's time zone (used for every time shown) and password."""

from ui.auth import require_access

user = require_access(__file__)

from zoneinfo import available_timezones  # noqa: E402

import streamlit as st  # noqa: E402

from data_access import users as user_commands  # noqa: E402
from data_access.audit import CommandRefused  # noqa: E402
from domain.roles import ROLE_LABELS  # noqa: E402
from ui.auth import write_session  # noqa: E402

st.title("My account")
st.write(f"**{user.name}** ({user.username}) · {', '.join(ROLE_LABELS[r] for r in user.roles)}")

zones = sorted(available_timezones())
with st.form("timezone"):
    zone = st.selectbox(
        "Show times in", zones, index=zones.index(user.timezone) if user.timezone in zones else 0
    )
    if st.form_submit_button("Save time zone"):
        with write_session() as session:
            user_commands.set_timezone(
                session=session, actor=user.username, user_id=user.id, timezone=zone
            )
        st.cache_data.clear()
        st.success(f"Times now show in {zone}.")

with st.form("password", clear_on_submit=True):
    st.subheader("Change password")
    current = st.text_input("Current password", type="password")
    new = st.text_input("New password", type="password")
    repeat = st.text_input("New password again", type="password")
    if st.form_submit_button("Change password"):
        if new != repeat:
            st.error("The two new passwords differ.")
        else:
            try:
                with write_session() as session:
                    user_commands.change_own_password(
                        session=session,
                        username=user.username,
                        current_password=current,
                        new_password=new,
                    )
            except CommandRefused as exc:
                st.error(str(exc))
            else:
                st.success("Password changed.")
