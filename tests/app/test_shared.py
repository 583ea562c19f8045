"""A shared app (issue 20) in AppTest: nothing before sign-in, the refusal with no users, the sign-in form, what each
role sees, the server refusing an action the page still showed, and sessions that expire."""

from __future__ import annotations

import time

import pytest

from revsearch import clusters, labels
from revsearch.auth.users import UserStore
from revsearch.collection import Collection
from tests.app.conftest import errors, new_app, problems, texts

PW = {"ana": "ana-password", "bob": "bob-password", "cy": "cy-password"}


@pytest.fixture
def shared(data_dir, monkeypatch):
    monkeypatch.setenv("REVSEARCH_AUTH", "required")
    return data_dir


@pytest.fixture
def team(shared):
    store = UserStore(shared)
    store.add("ana", "admin", PW["ana"])
    store.add("bob", "labeller", PW["bob"])
    store.add("cy", "viewer", PW["cy"])
    return store


def sign_in(at, name: str, password: str | None = None):
    next(t for t in at.text_input if t.label == "User name").input(name)
    next(t for t in at.text_input if t.label == "Password").input(PW[name] if password is None else password)
    at = next(b for b in at.button if b.label == "Sign in").click().run()
    assert not problems(at)
    return at


def labels_of(at) -> set[str]:
    return {b.label for b in at.button}


def test_with_no_users_it_refuses_to_start_and_says_how_to_add_one(shared):
    at = new_app()
    at.run()
    assert not problems(at)
    assert "revsearch users add NAME --role admin" in texts(at)
    assert not (shared / "collections" / "demo").exists()  # not even the demo was built
    assert not at.sidebar.selectbox and not at.text_input


def test_nothing_shows_before_sign_in_and_each_role_sees_its_own_controls(team, shared):
    at = new_app()
    at.run()
    assert [t.value for t in at.title] == ["Sign in to revsearch"]
    assert "Demo" not in texts(at) and not at.sidebar.selectbox and not (shared / "collections" / "demo").exists()
    at = sign_in(at, "bob", "wrong password")
    assert errors(at) == ["Wrong user name or password."] and not at.sidebar.selectbox

    at = sign_in(at, "cy")  # a viewer: the demo is built on this first start, then Search
    assert not errors(at) and at.sidebar.selectbox and "cy" in " ".join(c.value for c in at.sidebar.caption)
    at = at.switch_page("app_pages/clusters.py").run()
    assert not problems(at) and not errors(at)
    assert not {"Name & label", "Merge", "Re-cluster with this k", "Labels (.csv)"} & labels_of(at)
    at = at.switch_page("app_pages/collections.py").run()
    assert not problems(at) and "Create" not in labels_of(at) and "Yes, delete it" not in labels_of(at)
    assert not [t for t in at.tabs if "Folder on this machine" in t.label]

    at = new_app()
    at.run()
    at = sign_in(at, "bob")  # a labeller: names clusters, no export, no collection management
    at = at.switch_page("app_pages/clusters.py").run()
    assert "Name & label" in labels_of(at) and "Labels (.csv)" not in labels_of(at)
    at = at.switch_page("app_pages/collections.py").run()
    assert "Create" not in labels_of(at)

    at = new_app()
    at.run()
    at = sign_in(at, "ana")  # an admin: everything, but no server folder without allowed folders
    at = at.switch_page("app_pages/collections.py").run()
    assert "Create" in labels_of(at) and not [t for t in at.tabs if "Folder on this machine" in t.label]
    at = at.switch_page("app_pages/team.py").run()
    assert not problems(at) and not errors(at) and "Add user" in labels_of(at)


def test_the_server_refuses_an_action_the_page_still_shows_and_records_who_acted(team, shared):
    at = new_app()
    at.run()
    at = sign_in(at, "bob")
    at = at.switch_page("app_pages/clusters.py").run()
    at.text_input(key="name_input_0_None").input("tops")
    at = next(b for b in at.button if b.label == "Name & label").click().run()
    assert not problems(at) and not errors(at)
    with Collection.open(shared / "collections" / "demo") as coll:
        named = {i: labels.labels(coll)[i] for i in clusters.cluster(coll, 0).member_ids}
        assert set(named.values()) == {"tops"} and labels.last_action(coll, user="bob").user == "bob"
    [undo] = [b for b in at.button if b.label.startswith("Undo: ")]

    team.set_role("bob", "viewer")  # demoted while the page with the Undo button is open
    at = undo.click().run()
    assert not problems(at)
    assert any("labelling needs the labeller role, and bob is a viewer" in e for e in errors(at))
    with Collection.open(shared / "collections" / "demo") as coll:
        assert {i: labels.labels(coll)[i] for i in named} == named  # nothing was undone
    assert not [b for b in at.button if b.label.startswith("Undo: ")]  # and the page no longer offers it


def test_an_expired_session_signs_out_and_acts_no_more(team, shared, monkeypatch):
    at = new_app()
    at.run()
    at = sign_in(at, "ana")  # the first start builds the demo: slow on a busy machine, so the short limit comes after
    at = at.switch_page("app_pages/clusters.py").run()
    at.text_input(key="name_input_0_None").input("late")
    monkeypatch.setenv("REVSEARCH_SESSION_IDLE_MINUTES", "0.02")  # 1.2 s without use, read on every click
    time.sleep(1.5)
    at = next(b for b in at.button if b.label == "Name & label").click().run()
    assert not problems(at)
    assert [t.value for t in at.title] == ["Sign in to revsearch"]
    assert any("expired" in i.value for i in at.info)
    with Collection.open(shared / "collections" / "demo") as coll:
        assert labels.labels(coll) == {}
