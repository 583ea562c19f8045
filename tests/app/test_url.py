"""The collection in use lives in the URL: a reload / new tab / shared link keeps it; an unknown one is a message."""

from __future__ import annotations

from tests.app.conftest import errors, new_app, problems, texts


def make_second(at):
    at = at.switch_page("app_pages/collections.py").run()
    at.text_input[0].input("Second one")
    next(b for b in at.button if b.label == "Create").click().run()
    assert not problems(at) and not errors(at)
    return at


def test_choice_is_in_the_url_and_survives_a_reload(app):
    assert app.query_params["collection"] == "demo"
    at = make_second(app)
    assert at.query_params["collection"] == "second-one"
    at = at.switch_page("app_pages/clusters.py").run()  # page switches keep it
    assert at.query_params["collection"] == "second-one"
    reload = new_app()  # a reload or a new tab: a new session with the same URL
    reload.query_params["collection"] = "second-one"
    reload.run()
    assert not problems(reload) and not errors(reload)
    assert reload.selectbox(key="sidebar_collection").value == "second-one"
    assert "“Second one” has no images yet" in texts(reload)


def test_unknown_collection_in_the_url_is_said_not_switched(app):
    at = new_app()
    at.query_params["collection"] = "gone-away"
    at.run()
    assert not problems(at)
    assert [t.value for t in at.title] == ["Collection not found"]
    assert "gone\\-away" in texts(at) or "gone-away" in texts(at)
    assert at.query_params["collection"] == "gone-away"  # nothing switched silently
    [use] = [b for b in at.button if b.key == "url_use_demo"]
    use.click().run()
    assert not problems(at) and not errors(at)
    assert at.query_params["collection"] == "demo"
    assert [t.value for t in at.title] == ["Search by image"]
