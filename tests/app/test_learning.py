"""Learning from labels in the app: Label next rounds, the Improve button, suggestion thumbnails, the one-time
class-subfolder question, and thumbs up / down refining a search."""

from __future__ import annotations

import shutil

import pytest

from revsearch import labels, learned
from revsearch.collection import Collection
from tests.app.conftest import DEMO, TINY_CLASSES, errors, new_app, problems, resized_jpeg, settled, texts
from ui.queries import Query


@pytest.fixture(scope="session")
def eight_per_class(tmp_path_factory: pytest.TempPathFactory):
    """Eight photos of each of the tiny demo's three classes: with six of each labelled, the calibrated suggester
    has held-out labels to fit how close "known" is, and suggests labels for the other two."""
    root = tmp_path_factory.mktemp("eight_per_class")
    for cls in TINY_CLASSES:
        (root / cls).mkdir()
        for src in sorted((DEMO / cls).glob("*.jpg"))[:8]:
            shutil.copy2(src, root / cls / src.name)
    return root


def demo(data_dir):
    return Collection.open(data_dir / "collections" / "demo")


def by_folder(data_dir) -> dict[int, str]:
    with demo(data_dir) as coll:
        return {r.id: r.path.split("/")[-2] for r in coll.rows("indexed")}


def buttons(at, prefix: str) -> list:
    return [b for b in at.button if b.label.startswith(prefix)]


def shown_review_ids(at) -> list[int]:
    return sorted(int(c.key.rsplit("_", 1)[1]) for c in at.selectbox if (c.key or "").startswith("fix_"))


def test_label_next_rounds_confirm_correct_and_page(app, data_dir):
    at = app.switch_page("app_pages/label_next.py").run()
    assert not problems(at) and not errors(at)
    assert "Type what each one shows" in texts(at) and "no suggestion yet" in texts(at)  # round one: no labels
    first = shown_review_ids(at)
    assert len(first) == 6  # every image of the tiny demo, none suggested
    truth = by_folder(data_dir)
    a, b = first[:2]
    at.text_input(key="new_label_demo_0").input(f"{truth[a]}, {truth[b]}").run()
    for image_id in (a, b):
        key = next(s.key for s in at.selectbox if s.key.endswith(f"_{image_id}"))
        at.selectbox(key=key).set_value(truth[image_id])
    at.run()
    at = buttons(at, "Confirm this page (2 labels)")[0].click().run()
    assert not problems(at) and not errors(at)
    with demo(data_dir) as coll:
        assert labels.labels(coll) == {a: truth[a], b: truth[b]}
        assert labels.last_action(coll).description.startswith("labelled 2 images")  # one undoable action
    second = shown_review_ids(at)
    assert second and not {a, b} & set(second)  # the next round asks about other images
    assert "answered **2** images" in texts(at)



def test_label_next_confirm_one_correct_one_confirm_page(data_dir, eight_per_class, monkeypatch):
    monkeypatch.setenv("REVSEARCH_DEMO", str(eight_per_class))
    at = new_app()
    at.run()
    truth = by_folder(data_dir)
    with demo(data_dir) as coll:  # six of each kind labelled: the other six get suggestions
        labels.label_each(coll, {i: c for n, (i, c) in enumerate(sorted(truth.items(), key=lambda t: t[1]))
                                 if n % 8 < 6})
    at = at.switch_page("app_pages/label_next.py").run()
    assert not problems(at) and not errors(at)
    left = shown_review_ids(at)
    oks = [b for b in at.button if (b.key or "").startswith("ok_demo_")]
    assert len(left) == 6 and len(oks) >= 2 and "suggested **" in texts(at)
    keep, fix = (int(b.key.rsplit("_", 1)[1]) for b in oks[:2])
    at = oks[0].click().run()
    assert at.button(key=f"ok_demo_{keep}").help == "confirmed"  # shown as confirmed
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.endswith(f"_{fix}"))).set_value("hat").run()
    suggested = {item.id: item.suggested for item in at.session_state["label_next_round_demo"]["items"]
                 if item.suggested}
    confirm = buttons(at, "Confirm this page (")[0]
    at = confirm.click().run()
    assert not problems(at) and not errors(at)
    with demo(data_dir) as coll:
        saved = labels.labels(coll)
    assert saved[fix] == "hat" and saved[keep] == suggested[keep]
    assert all(saved.get(i) == c for i, c in suggested.items() if i != fix)  # the page confirmed the rest
    assert not set(shown_review_ids(at)) & {keep, fix}


def test_improve_button_too_few_then_enough_labels(app, data_dir):
    at = app.switch_page("app_pages/clusters.py").run()
    at = settled(buttons(at, "Improve with my labels")[0].click().run())  # learning runs in the background
    assert not problems(at) and not errors(at)
    [note] = [i.value for i in at.info if "abel" in i.value]
    assert "Nothing changed" in note or "label" in note.lower()
    assert not [s for s in at.success if "better" in s.value]

    with demo(data_dir) as coll:
        labels.label_each(coll, by_folder(data_dir))
    at = settled(buttons(at, "Improve with my labels")[0].click().run())
    assert not problems(at) and not errors(at)
    with demo(data_dir) as coll:
        now = learned.status(coll)
    assert now["labels"] == 6  # a head only when it beats raw on held-out labels; either way the message says
    message = now["message"][:1].upper() + now["message"][1:]
    assert message in [m.value for m in [*at.success, *at.info]]
    assert message != note


def test_suggestion_table_has_thumbnails(data_dir, eight_per_class, monkeypatch):
    monkeypatch.setenv("REVSEARCH_DEMO", str(eight_per_class))
    at = new_app()
    at.run()
    truth = by_folder(data_dir)
    with demo(data_dir) as coll:  # six of each kind labelled: the other two of each get suggestions
        labels.label_each(coll, {i: c for n, (i, c) in enumerate(sorted(truth.items(), key=lambda t: t[1]))
                                 if n % 8 < 6})
        expected = len(labels.suggest(coll))
    at = at.switch_page("app_pages/clusters.py").run()
    assert not problems(at) and not errors(at)
    at = settled(at)  # the suggestions are worked out in the background, then shown
    table = next(d.value for d in at.dataframe if "suggested label" in d.value.columns)
    assert expected > 0 and len(table) == expected
    assert all(str(v).startswith("data:image/jpeg;base64,") for v in table["image"])


def test_folder_classes_question(app, data_dir):
    assert "**3 class subfolders** (dress, hat, shoes)" in texts(app)
    at = buttons(app, "No")[0].click().run()
    assert not problems(at) and "class subfolders" not in texts(at)
    again = new_app()
    again.run()
    assert "class subfolders" not in texts(again)  # asked once: a new session is not asked again
    with demo(data_dir) as coll:
        assert labels.labels(coll) == {}


def test_folder_classes_yes_imports_labels(app, data_dir):
    at = buttons(app, "Yes, use them")[0].click().run()
    assert not problems(at) and not errors(at)
    with demo(data_dir) as coll:
        assert labels.labels(coll) == by_folder(data_dir)
    assert "class subfolders" not in texts(at)


def _result_ids(at) -> list[int]:
    return [int(b.key.split("_")[2]) for b in at.button if (b.key or "").startswith("search_fb_")
            and b.key.endswith("_up")]


def _ranked(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**#")]


def test_thumbs_up_and_down_refine_the_results_and_keep_their_count(app):
    app.sidebar.slider(key="search_k").set_value(3)
    at = buttons(app.run(), "More like this")[0].click().run()
    before = _result_ids(at)
    assert len(before) == 3 and "Mark results with :material/thumb_up:" in texts(at)
    assert not [c.value for c in at.caption if c.value.startswith("adjusted")]
    at = at.button(key=f"search_fb_{before[-1]}_3_up").click().run()
    assert not problems(at) and not errors(at)
    after = _result_ids(at)
    assert before[-1] not in after and len(after) == 3  # the marked image joins the query; another takes its place
    assert ":green-badge[" in texts(at)
    said = [c.value for c in at.caption if c.value.startswith("adjusted · similarity ")]
    assert len(said) == 3 and "adjusted score " in texts(at)  # the score says what it is, beside the similarity
    at = at.button(key=f"search_fb_{after[0]}_1_down").click().run()
    assert after[0] not in _result_ids(at) and len(_result_ids(at)) == 3 and ":red-badge[" in texts(at)
    at = at.button(key="clear_feedback").click().run()
    assert _result_ids(at) == before and _ranked(at)


def test_thumbs_down_on_an_uploaded_query_pushes_down_and_keeps_the_count(app, data_dir):
    target = sorted((data_dir / "collections" / "demo" / "files" / "shoes").glob("*.jpg"))[0]
    app.sidebar.slider(key="search_k").set_value(4)
    app.session_state["query"] = Query("upload", "q.jpg", data=resized_jpeg(target))
    at = app.run()
    before = _result_ids(at)
    assert len(before) == 4
    at = at.button(key=f"search_fb_{before[0]}_1_down").click().run()
    assert not problems(at) and not errors(at)
    after = _result_ids(at)
    assert len(after) == 4 and before[0] not in after  # 4 results still: the next best moved up
    assert sum(c.value.startswith("adjusted · similarity ") for c in at.caption) == 4
