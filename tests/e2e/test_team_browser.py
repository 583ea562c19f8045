"""End to end in headless Chromium: a shared app (issue 20). Users are made with the CLI (passwords on stdin); the app
runs with REVSEARCH_AUTH=required and allowed folders; each role signs in in its own browser context and is checked
for what it sees and may do; a labeller demoted while the page is open is refused by the server on the next click.
A second server on 0.0.0.0 with no users shows how to add one and nothing else.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_browser import (CHROMIUM, ROOT, copy_photos, go, keep_local, no_tracebacks, settle, shot,
                                    start_app, stop_app)

pytestmark = pytest.mark.e2e

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from revsearch import clusters, labels  # noqa: E402
from revsearch.collection import Collection  # noqa: E402
from revsearch.jobs import records  # noqa: E402

PASSWORDS = {"ana": "ana-e2e-password", "bob": "bob-e2e-password", "cy": "cy-e2e-password"}
ROLES = {"ana": "admin", "bob": "labeller", "cy": "viewer"}


def revsearch(env: dict, *args: str, stdin: str = "") -> None:
    done = subprocess.run([sys.executable, "-m", "revsearch", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def team_server(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("e2e-team")
    demo, photos = base / "demo", base / "allowed" / "photos"
    copy_photos(demo, {"hat": 2, "skirt": 2})
    copy_photos(photos, {"dress": 2, "shoes": 2}, start=4)
    (base / "outside").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REVSEARCH_DATA": str(base / "data"), "REVSEARCH_DEMO": str(demo),
           "REVSEARCH_AUTH": "required", "REVSEARCH_ROOTS": str(base / "allowed")}
    for name, role in ROLES.items():
        revsearch(env, "users", "add", name, "--role", role, stdin=PASSWORDS[name] + "\n")
    proc, url = start_app(env, "127.0.0.1", base / "streamlit.log")
    yield url, base, env
    stop_app(proc)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM),
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def new_page(browser: Browser) -> Page:
    """A fresh browser context: its own cookies and Streamlit session, like another person's computer."""
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    context.route("**/*", keep_local)
    page = context.new_page()
    page.set_default_timeout(60_000)
    return page


def sign_in(page: Page, url: str, name: str, password: str | None = None) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="Sign in to revsearch")).to_be_visible(timeout=60_000)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORDS[name] if password is None else password)
    page.get_by_role("button", name="Sign in").click()
    settle(page)


def nav_links(page: Page) -> set[str]:
    nav = page.locator("[data-testid='stSidebarNav']")
    return {link.inner_text().strip().splitlines()[-1] for link in nav.get_by_role("link").all()}  # after the icon


def quiet(page: Page, collection: Path) -> None:
    """Wait until no background job of the collection runs (its records say so) and the page has re-run for the
    ones that ended: a job's end re-runs the page, which would redraw it in the middle of what a test does next."""
    for _ in range(240):
        if not any(r.get("state") == "running" for r in records.load(collection)):
            break
        page.wait_for_timeout(500)
    page.wait_for_timeout(2500)  # the sidebar notices within 1.5 s and re-runs the page
    settle(page)


def test_each_role_signs_in_and_sees_and_may_only_its_own(team_server, browser: Browser):
    url, base, env = team_server

    # ---- before sign-in: the form and nothing else; a wrong password says so without saying which part
    anon = new_page(browser)
    anon.goto(url)
    expect(anon.get_by_role("heading", name="Sign in to revsearch")).to_be_visible(timeout=60_000)
    settle(anon)
    assert anon.locator("[data-testid='stSidebarNav']").count() == 0
    assert "Demo" not in anon.locator("body").inner_text()
    sign_in(anon, url, "ana", "not her password")
    expect(anon.get_by_text("Wrong user name or password.")).to_be_visible()
    shot(anon, "team-01-sign-in")
    anon.context.close()

    # ---- admin: every page; a folder outside the allowed folders is refused, one inside is indexed
    admin = new_page(browser)
    sign_in(admin, url, "ana")
    expect(admin.get_by_role("heading", name="Search by image")).to_be_visible(timeout=150_000)  # demo built
    settle(admin)
    no_tracebacks(admin)
    assert nav_links(admin) >= {"Search", "Label next", "Collections", "Team"}
    go(admin, "Collections")
    admin.get_by_role("tab", name="Folder on this machine").click()
    settle(admin)
    for outside in (str(base / "outside"), f"{base}/allowed/../outside", "/etc"):
        admin.get_by_label("Folder path").fill(outside)
        admin.get_by_role("button", name="Index this folder").click()
        settle(admin)
        expect(admin.get_by_text("is outside the allowed folders").first).to_be_visible()
    admin.get_by_label("Folder path").fill(str(base / "allowed" / "photos"))
    admin.get_by_role("button", name="Index this folder").click()
    expect(admin.get_by_text("new images indexed").first).to_be_visible(timeout=120_000)  # summary and toast
    settle(admin)
    no_tracebacks(admin)
    shot(admin, "team-02-admin-collections")
    go(admin, "Team")
    expect(admin.get_by_role("button", name="Add user")).to_be_visible()

    # ---- labeller: labels, no Team page, no collection management; demoted meanwhile, the server refuses
    bob = new_page(browser)
    sign_in(bob, url, "bob")
    expect(bob.get_by_role("heading", name="Search by image")).to_be_visible()
    links = nav_links(bob)
    assert "Label next" in links and "Team" not in links
    go(bob, "Collections")
    assert bob.get_by_role("button", name="Create").count() == 0
    assert bob.get_by_text("Add images to").count() == 0
    go(bob, "Clusters")
    bob.locator(".st-key-name_input_0_None input").fill("bob-tops")
    bob.get_by_role("button", name="Name & label").first.click()
    settle(bob)
    no_tracebacks(bob)
    undo = bob.get_by_role("button", name="Undo: named cluster")
    expect(undo).to_be_visible()
    quiet(bob, base / "data" / "collections" / "demo")  # the retrain the naming started ends, and the page with it
    expect(undo).to_be_visible()
    with Collection.open(base / "data" / "collections" / "demo") as coll:
        members = clusters.cluster(coll, 0).member_ids
        assert set(labels.labels(coll, members).values()) == {"bob-tops"}
    revsearch(env, "users", "role", "bob", "viewer")  # an admin demotes bob while his page shows Undo
    undo.click()
    settle(bob)
    expect(bob.get_by_text("labelling needs the labeller role, and bob is a viewer")).to_be_visible()
    with Collection.open(base / "data" / "collections" / "demo") as coll:
        assert set(labels.labels(coll, members).values()) == {"bob-tops"}  # refused: nothing undone
    assert "Label next" not in nav_links(bob)
    shot(bob, "team-03-refused")

    # ---- viewer: searches and browses; no labelling, export or management controls anywhere
    cy = new_page(browser)
    sign_in(cy, url, "cy")
    expect(cy.get_by_role("heading", name="Search by image")).to_be_visible()
    assert nav_links(cy) == {"Search", "Map", "Clusters", "Duplicates", "Collections"}
    go(cy, "Clusters")
    no_tracebacks(cy)
    for control in ("Name & label", "Re-cluster", "Merge clusters", "Labels (.csv)", "Improve with my labels"):
        assert cy.get_by_role("button", name=control).count() == 0, control
    expect(cy.get_by_text("bob-tops").first).to_be_visible()  # but sees the labels
    go(cy, "Collections")
    assert cy.get_by_role("button", name="Create").count() == 0
    cy.get_by_role("button", name="Sign out").click()
    settle(cy)
    expect(cy.get_by_role("heading", name="Sign in to revsearch")).to_be_visible()
    for page in (admin, bob, cy):
        page.context.close()


def test_a_server_on_every_interface_with_no_users_says_how_to_add_one(tmp_path: Path, browser: Browser):
    env = {**os.environ, "REVSEARCH_DATA": str(tmp_path / "data"), "REVSEARCH_DEMO": "off"}
    env.pop("REVSEARCH_AUTH", None)
    proc, url = start_app(env, "0.0.0.0", tmp_path / "streamlit.log")
    try:
        page = new_page(browser)
        page.goto(url)
        expect(page.get_by_text("revsearch users add NAME --role admin")).to_be_visible(timeout=60_000)
        assert page.locator("[data-testid='stSidebarNav']").count() == 0
        assert page.get_by_label("User name").count() == 0
        page.context.close()
    finally:
        stop_app(proc)
