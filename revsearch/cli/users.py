"""`revsearch users …`: who may sign in to a shared app, and in which role (revsearch/auth/users.py).

Passwords are read from stdin (asked twice on a terminal, the first line otherwise: `echo "$PW" | revsearch users add
ana --role admin`), never from the command line, where other users of the machine could read them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time

from revsearch.auth.roles import ROLES
from revsearch.auth.users import UserStore
from revsearch.cli.common import add_json_arg, print_json
from revsearch.errors import RevsearchError
from revsearch.workspace import DATA_ENV, data_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help="users of the shared app: add, list, remove, set a password or a role")
    p.add_argument("--data", metavar="DIR", help=f"the app's data directory (default ${DATA_ENV}, else "
                                                 "~/.local/share/revsearch)")
    what = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    q = what.add_parser("add", help="add a user; the password is read from stdin")
    q.add_argument("name")
    q.add_argument("--role", required=True, choices=ROLES,
                   help="viewer: search and browse; labeller: also label and act on duplicates; admin: everything")
    add_json_arg(q)
    q = what.add_parser("list", help="names and roles (never passwords or their hashes)")
    add_json_arg(q)
    q = what.add_parser("remove", help="remove a user (their sessions end)")
    q.add_argument("name")
    add_json_arg(q)
    q = what.add_parser("passwd", help="set a new password, read from stdin (the user's sessions end)")
    q.add_argument("name")
    add_json_arg(q)
    q = what.add_parser("role", help="give a user another role (applies at their next click)")
    q.add_argument("name")
    q.add_argument("role", choices=ROLES)
    add_json_arg(q)
    p.set_defaults(run=cmd_users)


def cmd_users(args: argparse.Namespace) -> int:
    store = UserStore(args.data or data_dir())
    action = args.users_command
    if action == "list":
        users = [u.public() for u in store.users()]
        if args.json:
            print_json(users)
        elif not users:
            print(f"no users in {store.path}: `revsearch users add NAME --role admin` adds the first")
        for u in users if not args.json else []:
            print(f"{u['name']:<24} {u['role']:<9} since {time.strftime('%Y-%m-%d', time.localtime(u['created_at']))}")
        return 0
    if action == "add":
        user = store.add(args.name, args.role, read_password(f"password for {args.name}"))
        done = f"added {user.name} ({user.role})"
    elif action == "passwd":
        user = store.set_password(args.name, read_password(f"new password for {args.name}"))
        done = f"new password for {user.name}; their sessions end"
    elif action == "role":
        user = store.set_role(args.name, args.role)
        done = f"{user.name} is now {user.role}"
    else:
        store.remove(args.name)
        user, done = None, f"removed {args.name}"
    if args.json:
        print_json({"done": done, "user": user.public() if user else None, "file": str(store.path)})
    else:
        print(f"{done} ({store.path})")
    return 0


def read_password(prompt: str) -> str:
    """A password from stdin: typed twice without echo on a terminal, else the first line of the input."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt}: ")
        if getpass.getpass("again: ") != first:
            raise RevsearchError("the two passwords differ; nothing was changed")
        return first
    line = sys.stdin.readline()
    if not line:
        raise RevsearchError("no password on stdin: pipe it in (echo \"$PASSWORD\" | revsearch users …)")
    return line.rstrip("\r\n")
