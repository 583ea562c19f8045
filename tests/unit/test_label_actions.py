"""Never lose a person's work (issue 9, point 3): cluster names and hand labels, and undo, on a real small catalog.

Vectors are synthetic (two tight groups), written with `Collection.add_rows`; the clustering is the real k-means.
The state compared after each undo is everything a label is made of: label, source, confidence, and what a cluster
label covers (`labels_beneath`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from revsearch import clusters, labels
from revsearch.collection import Collection, NewRow, catalog, label_store
from revsearch.errors import RevsearchError

DIM = 16


@pytest.fixture
def coll(tmp_path: Path):
    c = Collection.create(tmp_path / "c", "synthetic", "fp", DIM)
    yield c
    c.close()


def two_groups(coll: Collection, per: int = 6) -> tuple[list[int], list[int], int, int]:
    """Two clusters of `per` images each: (ids of group A, ids of group B, cluster of A, cluster of B)."""
    rng = np.random.default_rng(0)
    centres = np.eye(DIM, dtype=np.float32)[:2]
    vecs = np.concatenate([c + 0.1 * rng.standard_normal((per, DIM)) for c in centres]).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    rows = [NewRow(str(coll.directory / "photos" / f"img{n:02d}.jpg"), f"h{n}", 1, 1) for n in range(len(vecs))]
    ids = coll.add_rows(rows, vecs)
    clusters.recluster(coll, 2)
    of = clusters.assignments(coll)
    a, b = ids[:per], ids[per:]
    assert {of[i] for i in a} != {of[i] for i in b} and len({of[i] for i in a}) == 1
    return a, b, of[a[0]], of[b[0]]


def state(coll: Collection) -> tuple[dict, dict]:
    """(image id -> (label, source, confidence), image id -> what its cluster label covers)."""
    on_top = {r.id: (r.label, r.source, r.confidence) for r in labels.label_rows(coll)}
    beneath = {int(r[0]): (r[1], r[2], r[3]) for r in catalog.fetch(coll, "SELECT image_id, label, source, "
                                                                          "confidence FROM labels_beneath")}
    return on_top, beneath


def test_a_cluster_name_never_overwrites_hand_labels_and_leaves_exactly_what_was_there(coll, tmp_path):
    a, _, ca, _ = two_groups(coll)
    labels.label_images(coll, a[:1], "cat")  # manual
    sheet = tmp_path / "l.csv"
    sheet.write_text(f"path,label\n{coll.get(a[1]).path},dog\n", encoding="utf-8")
    labels.import_csv(coll, sheet)  # import
    label_store.set_labels(coll, {a[2]: ("cow", 0.8123456789)}, "suggestion")  # an accepted suggestion
    before, _ = state(coll)

    assert labels.name_cluster(coll, ca, "pets") == 4  # the suggestion and the three unlabelled members
    top, beneath = state(coll)
    assert top[a[0]] == ("cat", "manual", None) and top[a[1]] == ("dog", "import", None)
    assert {top[i] for i in a[2:]} == {("pets", "cluster", None)}
    assert beneath == {a[2]: ("cow", "suggestion", 0.8123456789)}

    assert labels.name_cluster(coll, ca, "animals") == 4  # renaming changes only what the cluster gave
    top, beneath = state(coll)
    assert top[a[0]] == ("cat", "manual", None) and top[a[1]] == ("dog", "import", None)
    assert {top[i] for i in a[2:]} == {("animals", "cluster", None)} and beneath == {a[2]: before[a[2]]}

    assert labels.name_cluster(coll, ca, None) == 4  # removing it restores what was there, confidence included
    assert state(coll) == (before, {})
    assert clusters.cluster_name(coll, ca) is None


def test_a_hand_label_over_a_cluster_label_is_kept_when_the_name_goes(coll):
    a, _, ca, _ = two_groups(coll)
    label_store.set_labels(coll, {a[0]: ("cow", 0.5)}, "suggestion")
    labels.name_cluster(coll, ca, "pets")
    labels.label_images(coll, a[:2], "pets")  # the person confirms two of them by hand
    labels.name_cluster(coll, ca, None)
    top, beneath = state(coll)
    assert top == {a[0]: ("pets", "manual", None), a[1]: ("pets", "manual", None)} and beneath == {}


def test_label_rename_reaches_covered_suggestions_and_cluster_names(coll):
    a, _, ca, _ = two_groups(coll)
    label_store.set_labels(coll, {a[0]: ("cow", 0.25)}, "suggestion")
    labels.name_cluster(coll, ca, "cow")
    assert labels.rename_label(coll, "cow", "cattle") == len(a)
    assert clusters.cluster_name(coll, ca) == "cattle"
    labels.name_cluster(coll, ca, None)
    assert state(coll) == ({a[0]: ("cattle", "suggestion", 0.25)}, {})


def test_undo_several_levels_of_mixed_actions_restores_each_earlier_state(coll, tmp_path):
    a, b, ca, cb = two_groups(coll)
    sheet = tmp_path / "l.csv"
    with open(sheet, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["path", "label"], [coll.get(a[3]).path, "imported"],
                                  [coll.get(b[0]).path, "imported"]])
    steps = [
        lambda: labels.label_images(coll, a[:2], "cat"),
        lambda: labels.accept_suggestions(coll, 0.0),  # every other image gets a suggestion, with a confidence
        lambda: labels.name_cluster(coll, cb, "birds"),  # covers the suggestions in B
        lambda: labels.name_cluster(coll, ca, "pets"),  # covers the suggestions in A, leaves the two cats alone
        lambda: labels.rename_label(coll, "cat", "kitten"),
        lambda: labels.merge_clusters(coll, [ca, cb], name="all"),
        lambda: labels.unlabel_images(coll, [a[0], b[1]]),
        lambda: labels.import_csv(coll, sheet),
        lambda: labels.name_cluster(coll, min(ca, cb), None),
    ]
    states = [state(coll)]
    for step in steps:
        step()
        states.append(state(coll))
    assert len({repr(s) for s in states}) == len(states)  # every step changed something
    descriptions = [x.description for x in label_store.actions(coll)]
    assert descriptions[0].startswith("removed the name 'all' of cluster") and len(descriptions) == len(steps)
    assert labels.last_action(coll).description == descriptions[0]

    for expected in reversed(states[:-1]):
        report = labels.undo(coll)
        assert report.skipped == []
        assert state(coll) == expected
    assert labels.last_action(coll) is None
    with pytest.raises(RevsearchError, match="nothing to undo"):
        labels.undo(coll)
    # the undone merge keeps one cluster (only its name came back), the rest of its clusters' names were restored
    assert clusters.cluster_name(coll, min(ca, cb)) is None


def test_undo_after_a_later_overlapping_change_skips_those_images_and_says_so(coll):
    a, _, ca, _ = two_groups(coll)
    labels.label_images(coll, a[:3], "cat")
    first = labels.last_action(coll)
    labels.label_images(coll, a[2:4], "dog")  # a[2] changes again
    report = labels.undo(coll, first.id)  # undo the older action while the newer one stands
    assert report.restored == 2 and report.skipped == [coll.get(a[2]).path]
    assert state(coll)[0] == {a[2]: ("dog", "manual", None), a[3]: ("dog", "manual", None)}
    assert labels.undo(coll).action.description == "labelled 2 images 'dog'"  # the newer one, next
    assert state(coll) == ({a[2]: ("cat", "manual", None)}, {})  # a[2] as it was before 'dog'
    with pytest.raises(RevsearchError, match="undone already"):
        labels.undo(coll, first.id)

    # a cluster renamed since: its name is left alone and reported
    labels.name_cluster(coll, ca, "pets")
    named = labels.last_action(coll)
    label_store.rename(coll, "pets", "animals")
    report = labels.undo(coll, named.id)
    assert report.clusters_skipped == [ca] and len(report.skipped) == len(a) - 1  # a[2] keeps its hand label
    assert clusters.cluster_name(coll, ca) == "animals"


def test_history_records_cluster_cover_restore_and_undo(coll):
    a, _, ca, _ = two_groups(coll)
    labels.label_images(coll, a[:1], "cat")
    label_store.set_labels(coll, {a[1]: ("cow", 0.9)}, "suggestion")
    labels.name_cluster(coll, ca, "pets")
    labels.name_cluster(coll, ca, None)
    labels.undo(coll)
    hist = [(h.kind, h.subject, h.event, h.old, h.new, h.source) for h in reversed(labels.history(coll))]
    p = {i: coll.get(i).path for i in a}
    assert hist[:3] == [("image", p[a[0]], "created", None, "cat", "manual"),
                        ("image", p[a[1]], "created", None, "cow", "suggestion"),
                        ("cluster", str(ca), "created", None, "pets", "manual")]
    named = hist[3:3 + len(a) - 1]
    assert {h[1] for h in named} == {p[i] for i in a[1:]}  # every member but the hand-labelled one
    assert ("image", p[a[1]], "changed", "cow", "pets", "cluster") in named
    removed = hist[3 + len(a) - 1:3 + 2 * len(a) - 1]
    assert removed[0] == ("cluster", str(ca), "removed", "pets", None, "manual")
    assert ("image", p[a[1]], "changed", "pets", "cow", "cluster") in removed  # the suggestion came back
    undo = hist[3 + 2 * len(a) - 1:]
    assert ("cluster", str(ca), "created", None, "pets", "undo") in undo
    assert ("image", p[a[1]], "changed", "cow", "pets", "undo") in undo
    assert undo[-1][:3] == ("action", str(labels.label_store.actions(coll)[1].id), "undone")
    assert undo[-1][3].startswith("removed the name 'pets'")
    kinds = [x.kind for x in label_store.actions(coll)]
    assert kinds == ["undo", "name_cluster", "name_cluster", "accept", "label"]
    assert label_store.actions(coll)[1].undone_at is not None


def test_actions_that_change_nothing_are_not_recorded(coll):
    a, _, ca, _ = two_groups(coll)
    labels.label_images(coll, a[:2], "cat")
    n = len(label_store.actions(coll))
    assert labels.label_images(coll, a[:2], "cat") == 0
    assert labels.unlabel_images(coll, a[4:]) == 0
    labels.name_cluster(coll, ca, None)
    assert len(label_store.actions(coll)) == n
