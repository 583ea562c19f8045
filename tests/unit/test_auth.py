"""Sharing safely (issue 20): password hashes, the users file, allowed folders, the sign-in throttle, sessions, and the
role checks of the action layer — on real files, with the clock passed in where time matters."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from revsearch.auth import guarded, passwords, sessions, shared
from revsearch.auth.roles import ADMIN, LABELLER, VIEWER, Actor, Forbidden, Permission
from revsearch.auth.roots import OutsideRoots, Roots
from revsearch.auth.throttle import Throttle
from revsearch.auth.users import USERS_FILE, UserStore
from revsearch.errors import RevsearchError

PW = "correct horse battery"


# ---------------------------------------------------------------------------------------------------- hashing


def test_a_hash_is_salted_slow_and_verifies_only_its_password():
    first, second = passwords.hash_password(PW), passwords.hash_password(PW)
    assert first != second and PW not in first  # a fresh salt each time, never the password
    assert first.startswith("scrypt$ln=15,r=8,p=1$")
    assert passwords.verify_password(PW, first) and passwords.verify_password(PW, second)
    assert not passwords.verify_password(PW + "!", first)
    assert not passwords.verify_password("", first)
    started = time.perf_counter()
    passwords.verify_password(PW, first)
    assert time.perf_counter() - started > 0.01  # scrypt at 32 MiB is not a fast hash
    assert not passwords.needs_rehash(first)


def test_unicode_passwords_compare_in_one_normal_form():
    stored = passwords.hash_password("mot de passe é")  # NFC é
    assert passwords.verify_password("mot de passe e\u0301", stored)  # NFD: the same text as typed elsewhere


@pytest.mark.parametrize("stored", ["", "plain", "scrypt$ln=15,r=8,p=1$@@$@@", "md5$x$y$z",
                                    "scrypt$ln=40,r=8,p=1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5a2V5",  # 2**40: a trap
                                    None, 12])
def test_a_malformed_or_doctored_hash_never_matches_and_never_raises(stored):
    assert not passwords.verify_password(PW, stored)  # type: ignore[arg-type]
    assert passwords.needs_rehash(stored)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["short", "x" * 1025, "tab\there!", "new\nline!!"])
def test_weak_or_unusable_passwords_are_refused(bad):
    with pytest.raises(RevsearchError):
        passwords.hash_password(bad)


# ---------------------------------------------------------------------------------------------------- users file


def test_the_users_file_is_owner_only_versioned_and_never_holds_a_password(tmp_path):
    store = UserStore(tmp_path)
    store.add("ana", ADMIN, PW)
    store.add("Bo.b-2@lab", VIEWER, "another password")
    path = tmp_path / USERS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert PW not in text and "another password" not in text
    data = json.loads(text)
    assert data["version"] == 1 and [u["name"] for u in data["users"]] == ["ana", "Bo.b-2@lab"]
    assert [u.public() for u in store.users()][0].keys() == {"name", "role", "created_at", "updated_at"}
    assert not list(tmp_path.glob(".users.json.*.part"))  # written through a temporary file, nothing left behind


def test_users_are_one_per_name_whatever_the_case_and_names_are_checked(tmp_path):
    store = UserStore(tmp_path)
    store.add("Ana", LABELLER, PW)
    with pytest.raises(RevsearchError, match="already"):
        store.add("ana", VIEWER, PW)
    for bad in ("", "a b", "../x", "x" * 65, "-dash", "semi;colon"):
        with pytest.raises(RevsearchError):
            store.add(bad, VIEWER, PW)
    with pytest.raises(RevsearchError, match="unknown role"):
        store.add("carl", "root", PW)
    assert store.authenticate("ANA", PW).name == "Ana"
    assert store.authenticate("Ana", "wrong password") is None
    assert store.authenticate("nobody", PW) is None


def test_a_new_password_changes_the_stamp_and_the_last_admin_stays(tmp_path):
    store = UserStore(tmp_path)
    store.add("ana", ADMIN, PW)
    store.add("bob", LABELLER, PW)
    stamp = store.get("ana").stamp
    store.set_password("ana", "a brand new one")
    assert store.get("ana").stamp != stamp and store.authenticate("ana", "a brand new one")
    assert store.authenticate("ana", PW) is None
    with pytest.raises(RevsearchError, match="last admin"):
        store.set_role("ana", VIEWER)
    with pytest.raises(RevsearchError, match="last admin"):
        store.remove("ana")
    store.set_role("bob", ADMIN)
    store.set_role("ana", VIEWER)
    store.remove("ana")
    assert [u.name for u in store.users()] == ["bob"]
    with pytest.raises(RevsearchError, match="no user"):
        store.remove("ana")


def test_a_damaged_newer_or_loose_users_file(tmp_path):
    store = UserStore(tmp_path)
    store.add("ana", ADMIN, PW)
    path = tmp_path / USERS_FILE
    os.chmod(path, 0o644)  # copied carelessly: tightened on the next read
    assert store.users()[0].name == "ana"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "version": 2}))
    with pytest.raises(RevsearchError, match="newer"):
        store.users()
    path.write_text("{ not json")
    with pytest.raises(RevsearchError, match="cannot read"):
        store.users()  # never "no users": that would open a shared app to nobody, or hide who is there
    with pytest.raises(RevsearchError):
        store.add("bob", VIEWER, PW)  # and a damaged file is not overwritten
    assert path.read_text() == "{ not json"


def test_concurrent_writers_lose_no_user(tmp_path):
    def add(n: int) -> None:
        UserStore(tmp_path).add(f"user{n}", VIEWER, PW)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(u.name for u in UserStore(tmp_path).users()) == [f"user{n}" for n in range(6)]


# ---------------------------------------------------------------------------------------------------- roots


@pytest.fixture
def tree(tmp_path):
    """allowed/ (with photos/ and a link out), outside/ (secret), and a sibling whose name starts like the root."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "photos").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"x")
    (tmp_path / "allowed-not").mkdir()
    (allowed / "link-out").symlink_to(outside, target_is_directory=True)
    (allowed / "photos" / "file-out.jpg").symlink_to(outside / "secret.jpg")
    return tmp_path, Roots((allowed.resolve(),), shared=True)


def test_paths_inside_a_root_are_returned_resolved(tree):
    base, roots = tree
    assert roots.confine(str(base / "allowed")) == (base / "allowed").resolve()
    assert roots.confine(f"  {base}/allowed/photos/  ") == (base / "allowed" / "photos").resolve()
    assert roots.confine(str(base / "allowed" / "new" / "sub")) == (base / "allowed" / "new" / "sub").resolve()
    assert roots.confine(str(base / "allowed" / "photos" / ".." / "photos")) == (base / "allowed/photos").resolve()


@pytest.mark.parametrize("attempt", [
    "{base}/allowed/../outside",  # ..
    "{base}/allowed/photos/../../outside/secret.jpg",
    "{base}/allowed/new/../../outside",  # .. through a folder that does not exist yet
    "{base}/allowed/link-out",  # a symlinked folder leading out
    "{base}/allowed/link-out/deeper",
    "{base}/allowed-not",  # a sibling whose name merely starts like the root
    "/etc",  # an absolute path elsewhere
    "/",
    "~",
    "allowed/photos",  # relative: relative to what?
    "..",
    "C:\\Windows\\System32",  # Windows-style names on this POSIX server
    "{base}\\allowed\\..\\outside",
    "{base}/allowed/..\\..\\outside",
    "\\\\server\\share\\photos",
    "C:/Users",
])
def test_nothing_leaves_the_roots(tree, attempt):
    base, roots = tree
    with pytest.raises(OutsideRoots, match="is outside the allowed folders: .*allowed"):
        roots.confine(attempt.format(base=base))


def test_roots_from_the_environment_and_the_shared_default(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    roots = Roots.from_env(shared=True, environ={"REVSEARCH_ROOTS": f"{a}{os.pathsep}{os.pathsep} {b} "})
    assert roots.paths == (a.resolve(), b.resolve()) and roots.confined and roots.folders_allowed
    with pytest.raises(RevsearchError, match="absolute"):
        Roots.from_env(shared=False, environ={"REVSEARCH_ROOTS": "relative/photos"})
    nothing = Roots.from_env(shared=True, environ={})
    assert not nothing.folders_allowed
    with pytest.raises(OutsideRoots, match="outside the allowed folders: none are set"):
        nothing.confine(str(tmp_path))
    mine = Roots.from_env(shared=False, environ={})  # one's own machine: nothing is confined
    assert not mine.confined and mine.contains("/etc/passwd") and mine.confine("~/x") == Path("~/x").expanduser()


def test_contains_follows_links_of_files(tree):
    base, roots = tree
    assert roots.contains(base / "allowed" / "photos")
    assert not roots.contains(base / "allowed" / "photos" / "file-out.jpg")  # a file link pointing out


# ---------------------------------------------------------------------------------------------------- shared mode


@pytest.mark.parametrize("address, env, is_shared", [
    ("localhost", {}, False), ("127.0.0.1", {}, False), ("::1", {}, False), ("[::1]", {}, False),
    ("127.8.9.10", {"REVSEARCH_AUTH": "auto"}, False),
    ("0.0.0.0", {}, True), ("", {}, True), (None, {}, True), ("192.168.1.5", {}, True), ("myhost", {}, True),
    ("::", {}, True), ("localhost", {"REVSEARCH_AUTH": "required"}, True),
    ("0.0.0.0", {"REVSEARCH_AUTH": "Required"}, True),
])
def test_sign_in_is_required_off_loopback_or_when_asked(address, env, is_shared):
    assert shared.mode(address, env).shared is is_shared


def test_sign_in_cannot_be_switched_off():
    with pytest.raises(RevsearchError, match="REVSEARCH_AUTH"):
        shared.mode("0.0.0.0", {"REVSEARCH_AUTH": "off"})


# ---------------------------------------------------------------------------------------------------- throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_slow_down_per_key_up_to_a_cap_and_are_forgotten():
    clock = Clock()
    t = Throttle(free=3, base=1.0, cap=8.0, forget=600.0, clock=clock)
    for _ in range(3):
        assert t.wait("ana") == 0.0
        t.failed("ana")
    assert t.wait("ana") == 1.0 and t.wait("bob") == 0.0
    waits = []
    for _ in range(5):
        t.failed("ana")
        waits.append(t.wait("ana"))
    assert waits == [2.0, 4.0, 8.0, 8.0, 8.0]  # doubling, bounded
    clock.now += 8.0
    assert t.wait("ana") == 0.0
    clock.now += 601
    t.failed("ana")
    assert t.wait("ana") == 0.0  # an old streak is forgotten: this is failure 1 again


def test_the_throttle_remembers_a_bounded_number_of_keys():
    t = Throttle(max_keys=100, clock=Clock())
    for n in range(10_000):
        t.failed(("user", f"made-up-{n}"))
    assert len(t) == 100


# ---------------------------------------------------------------------------------------------------- sessions


def test_sign_in_throttles_by_user_and_by_client_and_says_nothing_about_which_part_was_wrong(tmp_path):
    store = UserStore(tmp_path)
    store.add("ana", LABELLER, PW)
    clock = Clock()
    throttle = Throttle(free=3, cap=60, clock=clock)
    for _ in range(3):
        with pytest.raises(sessions.SignInRefused, match="^Wrong user name or password.$"):
            sessions.sign_in(store, throttle, "ana", "guess", "10.0.0.9", clock())
    with pytest.raises(sessions.SignInRefused, match="try again in 1 s"):  # even the right password waits
        sessions.sign_in(store, throttle, "ana", PW, "10.0.0.1", clock())
    with pytest.raises(sessions.SignInRefused, match="Wrong"):  # an unknown name reads the same
        sessions.sign_in(store, throttle, "nobody", "guess", "10.0.0.2", clock())
    with pytest.raises(sessions.SignInRefused, match="try again"):  # the guessing client waits for any name
        sessions.sign_in(store, throttle, "other", "guess", "10.0.0.9", clock())
    clock.now += 1
    session = sessions.sign_in(store, throttle, "ANA", PW, "10.0.0.1", clock())
    assert session.user == "ana"


def test_sessions_end_when_idle_too_old_or_when_the_password_or_user_changes(tmp_path):
    store = UserStore(tmp_path)
    store.add("ana", ADMIN, PW)
    store.add("bob", LABELLER, PW)
    limits = sessions.Limits(idle=60, lifetime=600)
    s = sessions.sign_in(store, Throttle(), "bob", PW, "c", now=0.0)
    assert sessions.check(s, store, 50.0, limits).role == LABELLER
    store.set_role("bob", VIEWER)
    assert sessions.check(s, store, 100.0, limits).role == VIEWER  # a new role applies at once
    with pytest.raises(sessions.SignedOut, match="expired"):
        sessions.check(s, store, 161.0, limits)  # 61 s idle
    s = sessions.sign_in(store, Throttle(), "bob", PW, "c", now=0.0)
    for t in range(0, 600, 50):
        sessions.check(s, store, float(t), limits)
    with pytest.raises(sessions.SignedOut, match="too long ago"):
        sessions.check(s, store, 601.0, limits)
    s = sessions.sign_in(store, Throttle(), "bob", PW, "c", now=0.0)
    store.set_password("bob", "a new password")
    with pytest.raises(sessions.SignedOut, match="password was changed"):
        sessions.check(s, store, 1.0, limits)
    s = sessions.sign_in(store, Throttle(), "bob", "a new password", "c", now=0.0)
    store.remove("bob")
    with pytest.raises(sessions.SignedOut, match="no longer exists"):
        sessions.check(s, store, 1.0, limits)
    with pytest.raises(sessions.SignedOut):
        sessions.check(None, store, 1.0, limits)
    s = sessions.sign_in(store, Throttle(), "ana", PW, "10.0.0.1", now=0.0)
    assert sessions.check(s, store, 1.0, limits, "10.0.0.1").name == "ana"
    with pytest.raises(sessions.SignedOut, match="another address"):
        sessions.check(s, store, 2.0, limits, "10.6.6.6")  # a session id replayed from another machine
    assert sessions.Limits.from_env({"REVSEARCH_SESSION_IDLE_MINUTES": "0.5"}).idle == 30.0
    with pytest.raises(RevsearchError):
        sessions.Limits.from_env({"REVSEARCH_SESSION_HOURS": "-1"})


# ---------------------------------------------------------------------------------------------------- roles


def test_each_role_may_what_the_one_before_it_may_and_more():
    roots = Roots()
    viewer, labeller, admin = (Actor("v", VIEWER, roots), Actor("l", LABELLER, roots), Actor("a", ADMIN, roots))
    assert [p for p in Permission if viewer.may(p)] == [Permission.SEARCH]
    assert {p for p in Permission if labeller.may(p)} == {Permission.SEARCH, Permission.LABEL,
                                                          Permission.DUPLICATES, Permission.AUDIT}
    assert all(admin.may(p) for p in Permission)
    with pytest.raises(Forbidden, match="labelling needs the labeller role, and v is a viewer"):
        viewer.require(Permission.LABEL)
    assert labeller.require(Permission.LABEL) == "l"


def test_the_action_layer_refuses_what_a_role_may_not_do(tmp_path):
    """No collection needed: the check comes before anything is touched."""
    store = UserStore(tmp_path)
    store.add("ana", ADMIN, PW)
    viewer = Actor("v", VIEWER, Roots(shared=True))
    labeller = Actor("l", LABELLER, Roots(shared=True))
    for call in (lambda: guarded.label_images(viewer, None, [1], "x"),  # type: ignore[arg-type]
                 lambda: guarded.undo(viewer, None, 1),  # type: ignore[arg-type]
                 lambda: guarded.move_redundant(viewer, None, [], "/tmp"),  # type: ignore[arg-type]
                 lambda: guarded.delete_collection(labeller, None, "demo", lambda: None),  # type: ignore[arg-type]
                 lambda: guarded.export_zip(labeller, None, "skip"),  # type: ignore[arg-type]
                 lambda: guarded.add_local_folder(labeller, None, "demo", "/tmp", None),  # type: ignore[arg-type]
                 lambda: guarded.add_user(labeller, store, "eve", ADMIN, PW),
                 lambda: guarded.confirm_labels(viewer, None, [1]),  # type: ignore[arg-type]
                 lambda: guarded.exclude(viewer, None, [1], "audit: dark"),  # type: ignore[arg-type]
                 lambda: guarded.overlap(viewer, None, None, None, "/tmp", None)):  # type: ignore[arg-type]
        with pytest.raises(Forbidden):
            call()
    assert [u.name for u in store.users()] == ["ana"]
    admin_without_roots = Actor("a", ADMIN, Roots(shared=True))
    with pytest.raises(RevsearchError, match="no allowed folders are set"):
        guarded.add_local_folder(admin_without_roots, None, "demo", "/tmp", None)  # type: ignore[arg-type]
    with pytest.raises(RevsearchError, match="no allowed folders are set"):  # the overlap check reads folders too
        guarded.overlap(labeller, None, None, None, "/tmp", None)  # type: ignore[arg-type]
