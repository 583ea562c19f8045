"""Sharing revsearch with a team safely (issue 20): who may sign in, what each role may do, which folders the server
may touch, and who did what.

- `passwords.py`  slow salted hashes (scrypt from the standard library), compared in constant time;
- `users.py`      the users file of a data directory (owner-only, atomic, versioned);
- `roles.py`      roles, permissions and the `Actor` every checked action takes;
- `roots.py`      allowed folders ($REVSEARCH_ROOTS): server-side paths are resolved, then confined;
- `shared.py`     whether the app must ask for a sign-in (REVSEARCH_AUTH, a non-loopback server address);
- `throttle.py`   slowing down repeated failed sign-ins, per user and per client, in bounded memory;
- `sessions.py`   signing in and sessions that expire;
- `guarded.py`    the app's way to the engine's writing actions: a role check (and roots) before each.

Nothing here imports streamlit; the app's sign-in form and permission helper live in ui/access.py and ui/signin.py.
"""
