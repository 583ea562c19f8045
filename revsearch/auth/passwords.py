"""Password hashes: scrypt (hashlib, no extra dependency) with a random salt, compared in constant time.

A stored hash names its own parameters — `scrypt$ln=15,r=8,p=1$<salt>$<key>` (base64) — so they can be raised
later without invalidating old hashes (`needs_rehash` says when a hash is weaker than today's). 2^15 × 8 blocks
takes about 32 MiB and 0.1 s per check on this project's CPU: cheap for one sign-in, expensive for a guesser with
a stolen file. Parameters read from a file are bounded, so a doctored file cannot make one check take minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata

from revsearch.errors import RevsearchError

SCHEME = "scrypt"
LOG_N, R, P = 15, 8, 1  # today's parameters: N = 2**LOG_N
SALT_BYTES, KEY_BYTES = 16, 32
MAX_LOG_N, MAX_R, MAX_P = 20, 16, 4  # what a stored hash may ask for (2**20 × 16 blocks = 2 GiB is the ceiling)
MIN_LENGTH, MAX_LENGTH = 8, 1024
_DUMMY_SALT = b"revsearch-dummy!"


def check_strength(password: str) -> str:
    """The password as it will be hashed (NFC), refused when too short, too long or containing control characters."""
    if not isinstance(password, str):
        raise RevsearchError("a password must be text")
    text = unicodedata.normalize("NFC", password)
    if len(text) < MIN_LENGTH:
        raise RevsearchError(f"a password needs at least {MIN_LENGTH} characters")
    if len(text) > MAX_LENGTH:
        raise RevsearchError(f"a password can have at most {MAX_LENGTH} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise RevsearchError("a password cannot contain control characters (tabs, newlines…)")
    return text


def hash_password(password: str) -> str:
    """A new salted hash of `password` (checked with `check_strength` first)."""
    text = check_strength(password)
    salt = os.urandom(SALT_BYTES)
    key = _scrypt(text, salt, LOG_N, R, P)
    return f"{SCHEME}$ln={LOG_N},r={R},p={P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`, in constant time; a malformed hash never matches (and never raises)."""
    parsed = _parse(stored)
    if parsed is None or not isinstance(password, str):
        dummy_check(password if isinstance(password, str) else "")
        return False
    log_n, r, p, salt, key = parsed
    candidate = _scrypt(unicodedata.normalize("NFC", password), salt, log_n, r, p, len(key))
    return hmac.compare_digest(candidate, key)


def dummy_check(password: str) -> None:
    """Spend what a real check costs, for a user name that does not exist: the answer's timing does not tell which
    names are real."""
    _scrypt(unicodedata.normalize("NFC", password), _DUMMY_SALT, LOG_N, R, P)


def needs_rehash(stored: str) -> bool:
    """True when `stored` uses weaker parameters than today's (or cannot be read)."""
    parsed = _parse(stored)
    return parsed is None or parsed[:3] != (LOG_N, R, P)


def _scrypt(text: str, salt: bytes, log_n: int, r: int, p: int, length: int = KEY_BYTES) -> bytes:
    n = 1 << log_n
    memory = 128 * r * (n + p + 2)
    return hashlib.scrypt(text.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=memory + (1 << 20), dklen=length)


def _parse(stored: object) -> tuple[int, int, int, bytes, bytes] | None:
    """(log N, r, p, salt, key) of a stored hash within the allowed bounds, else None."""
    if not isinstance(stored, str):
        return None
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != SCHEME:
        return None
    try:
        params = dict(item.split("=", 1) for item in parts[1].split(","))
        log_n, r, p = int(params["ln"]), int(params["r"]), int(params["p"])
        salt, key = base64.b64decode(parts[2], validate=True), base64.b64decode(parts[3], validate=True)
    except (ValueError, KeyError):
        return None
    if not (10 <= log_n <= MAX_LOG_N and 1 <= r <= MAX_R and 1 <= p <= MAX_P) or len(salt) < 8 or len(key) < 16:
        return None
    return log_n, r, p, salt, key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


__all__ = ["check_strength", "dummy_check", "hash_password", "needs_rehash", "verify_password"]
