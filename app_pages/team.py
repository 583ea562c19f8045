"""Team (admins only): who may sign in and in which role, the upload limit, and what is shared."""

from __future__ import annotations

import time

import streamlit as st

from revsearch.auth import guarded
from revsearch.auth.roles import ROLES
from ui import access, display, state
from ui.access import Permission

st.title("Team")
who = access.actor()
who.require(Permission.MANAGE_USERS)  # the page is listed for admins only; a stale link is refused too
current, store, ws = access.mode(), access.store(), state.workspace()

st.caption(f"Sign-in is **{'required' if current.shared else 'not required'}**: {current.why}. Users live in "
           f"`{store.path}` (only slow salted hashes of their passwords, readable by the server's user only). "
           f"Allowed folders of the server: {who.roots.describe() if who.roots.confined else 'any (not shared)'}.")
if not current.shared:
    st.info("revsearch is not shared right now. Users added here can sign in once it is: start it with "
            "`REVSEARCH_AUTH=required`, or on a network address (README, “Share with your team”).",
            icon=":material/info:")

users = store.users()
st.dataframe([{"user": u.name, "role": u.role, "since": time.strftime("%Y-%m-%d", time.localtime(u.created_at))}
              for u in users], hide_index=True, width="stretch")
st.caption("viewer: searches and browses · labeller: also labels, answers Label next, acts on duplicates and "
           "audits · admin: also adds images, creates and deletes collections, exports, manages users.")

left, right = st.columns(2, gap="large")
with left, st.form("add_user", clear_on_submit=True):
    st.markdown("**Add a user**")
    name = st.text_input("User name", max_chars=64, key="team_new_name")
    role = st.selectbox("Role", ROLES, key="team_new_role")
    password = st.text_input("Password", type="password", key="team_new_password", autocomplete="new-password")
    again = st.text_input("Password again", type="password", key="team_new_again", autocomplete="new-password")
    if st.form_submit_button("Add user", type="primary", icon=":material/person_add:"):
        with state.guard("Adding the user"):
            if password != again:
                st.warning("The two passwords differ.")
            else:
                added = guarded.add_user(access.actor(), store, name, role, password)
                state.flash(f"Added {added.name} ({added.role})")
                st.rerun()

if users:
    with right, st.form("change_user", clear_on_submit=True):
        st.markdown("**Change a user**")
        chosen = st.selectbox("User", [u.name for u in users], key="team_user")
        new_role = st.selectbox("New role", ["(keep)", *ROLES], key="team_role")
        new_password = st.text_input("New password (optional; their sessions end)", type="password",
                                     key="team_password", autocomplete="new-password")
        save, remove = st.columns(2)
        if save.form_submit_button("Save changes", type="primary", icon=":material/save:"):
            with state.guard("Changing the user"):
                if new_role != "(keep)":
                    guarded.set_role(access.actor(), store, chosen, new_role)
                if new_password:
                    guarded.set_password(access.actor(), store, chosen, new_password)
                state.flash(f"Saved the changes to {chosen}")
                st.rerun()
        if remove.form_submit_button("Remove user", icon=":material/person_remove:"):
            with state.guard("Removing the user"):
                guarded.remove_user(access.actor(), store, chosen)
                state.flash(f"Removed {chosen}")
                st.rerun()

st.divider()
with st.form("upload_limit"):
    st.markdown("**Upload limit**")
    limit = st.number_input("Largest file a person may upload (MB)", min_value=1, max_value=1024 * 1024,
                            value=int(ws.upload_limit_mb()), key="team_upload_limit",
                            help="a .zip counts as one file; its unpacked photos are also capped at 2 GiB, and "
                                 "Streamlit's server.maxUploadSize caps every upload on top")
    if st.form_submit_button("Save the limit"):
        with state.guard("Saving the upload limit"):
            guarded.set_upload_limit(access.actor(), ws, float(limit))
            state.flash(f"Uploads are now limited to {display.md_escape(f'{limit:,}')} MB per file")
            st.rerun()
