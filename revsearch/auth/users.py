"""The users of a data directory: `<data>/users.json`, readable and writable by its owner only (0600), written
atomically (temp file + rename) under a lock, versioned.

    {"version": 1, "users": [{"name": "ana", "role": "admin", "hash": "scrypt$…", "stamp": "…",
                              "created_at": 1733.0, "updated_at": 1733.0}]}

Only a slow salted hash of each password is kept (passwords.py); listings never include it. `stamp` is new with
every password change, so sessions signed in with the old password end. Names are matched case-insensitively
("Ana" and "ana" are one user). A damaged or newer file is an error, never "no users".
"""

from __future__ import annotations

import fcntl
import getpass
import json
import logging
import os
import re
import secrets
import stat
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

from revsearch.auth import passwords
from revsearch.auth.roles import ADMIN, ROLES, check_role
from revsearch.errors import RevsearchError
from revsearch.safe_write import atomic_output

log = logging.getLogger("revsearch.auth")
USERS_FILE = "users.json"
VERSION = 1
MODE = 0o600
NAME_CHARS = re.compile(r"^\w[\w.@-]*$")
MAX_NAME = 64


@dataclass(frozen=True)
class User:
    name: str
    role: str
    hash: str
    stamp: str  # changes with the password: sessions signed in before end
    created_at: float
    updated_at: float

    def public(self) -> dict:
        """What listings show: never the hash or the stamp."""
        return {"name": self.name, "role": self.role, "created_at": self.created_at, "updated_at": self.updated_at}


def clean_name(name: str) -> str:
    """A user name as stored: NFC, letters, digits and . _ @ - (starting with a letter or digit), at most 64."""
    text = unicodedata.normalize("NFC", str(name)).strip()
    if not text:
        raise RevsearchError("a user name cannot be empty")
    if len(text) > MAX_NAME or not NAME_CHARS.match(text):
        raise RevsearchError(f"{text!r} is not a usable user name: use letters, digits and . _ @ - (at most "
                             f"{MAX_NAME} characters, no spaces)")
    return text


def os_user() -> str:
    """The operating-system user running this process: who a CLI action is by unless `--as` says otherwise."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container) and no $USER
        name = f"uid{os.getuid()}" if hasattr(os, "getuid") else "local"
    return name or "local"


class UserStore:
    """The users file of one data directory."""

    _cache: dict[Path, tuple[tuple[int, int, int], list[User]]] = {}

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser()
        self.path = self.root / USERS_FILE

    # ------------------------------------------------------------------ reading

    def users(self) -> list[User]:
        """Every user, by name; read again only when the file changed."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return []
        if stat.S_IMODE(info.st_mode) & 0o077:
            log.warning("%s was readable by others (mode %o): set to owner-only", self.path, stat.S_IMODE(info.st_mode))
            os.chmod(self.path, MODE)
        key = (info.st_mtime_ns, info.st_size, info.st_ino)
        cached = self._cache.get(self.path)
        if cached is not None and cached[0] == key:
            return cached[1]
        users = self._read()
        self._cache[self.path] = (key, users)
        return users

    def get(self, name: str) -> User | None:
        wanted = unicodedata.normalize("NFC", str(name)).strip().casefold()
        return next((u for u in self.users() if u.name.casefold() == wanted), None)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when `password` is theirs; None otherwise. An unknown name costs what a wrong password costs."""
        user = self.get(name)
        if user is None:
            passwords.dummy_check(password if isinstance(password, str) else "")
            return None
        if not passwords.verify_password(password, user.hash):
            return None
        if passwords.needs_rehash(user.hash):  # stronger parameters since: upgrade quietly, sessions stay
            self._change(user.name, lambda u: {**u, "hash": passwords.hash_password(password)})
        return user

    # ------------------------------------------------------------------ writing

    def add(self, name: str, role: str, password: str) -> User:
        name, role = clean_name(name), check_role(role)
        digest = passwords.hash_password(password)
        with self._editing() as users:
            if any(u["name"].casefold() == name.casefold() for u in users):
                raise RevsearchError(f"there is a user {name!r} already: give them a new password or role instead")
            now = time.time()
            users.append({"name": name, "role": role, "hash": digest, "stamp": secrets.token_hex(8),
                          "created_at": now, "updated_at": now})
        return self._found(name)

    def set_password(self, name: str, password: str) -> User:
        digest = passwords.hash_password(password)
        return self._change(name, lambda u: {**u, "hash": digest, "stamp": secrets.token_hex(8)})

    def set_role(self, name: str, role: str) -> User:
        role = check_role(role)
        return self._change(name, lambda u: {**u, "role": role}, demotes=role != ADMIN)

    def remove(self, name: str) -> None:
        with self._editing() as users:
            user = self._entry(users, name)
            self._keep_an_admin(users, user)
            users.remove(user)

    # ------------------------------------------------------------------ internals

    def _found(self, name: str) -> User:
        user = self.get(name)
        if user is None:  # pragma: no cover - written a moment ago
            raise RevsearchError(f"user {name!r} vanished from {self.path}")
        return user

    def _change(self, name: str, edit: Callable[[dict], dict], demotes: bool = False) -> User:
        with self._editing() as users:
            user = self._entry(users, name)
            if demotes:
                self._keep_an_admin(users, user)
            users[users.index(user)] = {**edit(user), "updated_at": time.time()}
            found = user["name"]
        return self._found(found)

    @staticmethod
    def _entry(users: list[dict], name: str) -> dict:
        wanted = str(name).strip().casefold()
        for user in users:
            if user["name"].casefold() == wanted:
                return user
        raise RevsearchError(f"there is no user {name!r}")

    @staticmethod
    def _keep_an_admin(users: list[dict], leaving: dict) -> None:
        """The last admin stays while other users remain: someone must be able to manage them in the app."""
        admins = [u for u in users if u["role"] == ADMIN]
        if leaving["role"] == ADMIN and admins == [leaving] and len(users) > 1:
            raise RevsearchError(f"{leaving['name']} is the last admin: make another user admin first")

    @contextmanager
    def _editing(self) -> Iterator[list[dict]]:
        """The users as dicts, written back atomically (owner-only) when the block ends; one writer at a time."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / f".{USERS_FILE}.lock", os.O_RDWR | os.O_CREAT, MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            users = [asdict(u) for u in self._read()]
            yield users
            with atomic_output(self.path, force=True, encoding="utf-8") as fh:
                os.fchmod(fh.fileno(), MODE)
                json.dump({"version": VERSION, "users": users}, fh, indent=1)
                fh.write("\n")
        finally:
            os.close(fd)

    def _read(self) -> list[User]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise RevsearchError(f"cannot read the users file {self.path} ({exc}); restore it from a backup, or "
                                 "remove it and add the users again") from exc
        if not isinstance(data, dict) or not isinstance(data.get("users"), list):
            raise RevsearchError(f"{self.path} is not a revsearch users file")
        if int(data.get("version", 0)) > VERSION:
            raise RevsearchError(f"{self.path} was written by a newer revsearch (version {data.get('version')}); "
                                 "upgrade revsearch")
        try:
            users = [User(clean_name(u["name"]), check_role(u["role"]), str(u["hash"]), str(u["stamp"]),
                          float(u["created_at"]), float(u["updated_at"])) for u in data["users"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise RevsearchError(f"{self.path} has a damaged entry ({exc})") from exc
        return sorted(users, key=lambda u: u.name.casefold())


__all__ = ["MODE", "ROLES", "USERS_FILE", "User", "UserStore", "clean_name", "os_user"]
